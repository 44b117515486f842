// Pageblock types: set_pageblock_migratetype, change_pageblock_range, move_freepages_block
// (mm/page_alloc.c), and the mixed-pageblock count.
#include "zone.hpp"

namespace labyrinth::allocator::detail {

void Zone::set_pageblock_type(std::uint32_t pbi, MigrateType mt) {
  --pb_type_counts_[index_of(pb_[pbi].type)];
  ++pb_type_counts_[index_of(mt)];
  pb_[pbi].type = mt;
  refresh_mixed(pbi);
}

void Zone::change_pageblock_range(std::uint32_t idx, unsigned order, MigrateType mt) {
  const unsigned pbo = params_->pageblock_order;
  std::uint32_t pbi = pb_of(idx);
  const unsigned n = order <= pbo ? 1u : 1u << (order - pbo);
  for (unsigned k = 0; k < n; ++k, ++pbi) {
    set_pageblock_type(pbi, mt);
  }
}

// move_freepages_block(): every free block inside the pageblock goes to `to`'s lists, then the
// pageblock takes the type. The walk steps block by block (every page frame belongs to exactly
// one block), so it costs at most pageblock_nr_pages / 2 steps, like the kernel's scan.
std::int64_t Zone::move_freepages_block(std::uint32_t pbi, MigrateType to) {
  if (pb_[pbi].straddles) {
    return -1;
  }
  const unsigned pbo = params_->pageblock_order;
  const std::uint64_t first = (pb_first_ + pbi) << pbo;
  const std::uint32_t begin = idx(first);
  const std::uint32_t end = begin + (1u << pbo);
  std::int64_t moved = 0;
  std::uint32_t p = begin;
  const std::uint32_t head = find_head(begin);
  if (head != kNil && head < begin) {
    // The pageblock lies inside a larger block: a free one is moved whole by the caller
    // (change_pageblock_type); an allocated or pcp one has no free pages here.
    p = end;
  }
  while (p < end) {
    const PageState m = state(p);
    if (m.kind() == PageKind::Tail) {
      ++p;  // unreachable while invariants hold
      continue;
    }
    const unsigned order = m.order;
    if (m.kind() == PageKind::Free) {
      moved += std::int64_t{1} << order;
      move_to_free_list(p, to);
    }
    p += 1u << order;
  }
  set_pageblock_type(pbi, to);
  return moved;
}

}  // namespace labyrinth::allocator::detail
