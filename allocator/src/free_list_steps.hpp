// Internal: the free lists' steps that a split, a merge and a per-CPU drain repeat, inline
// (they are most of simulate's work on a recording's placement): linking and unlinking a free
// block, the pageblocks' free pages, and __free_one_page's merge (docs/kernel-rules.md §9.2;
// mm/page_alloc.c). Included at the end of zone.hpp.
#pragma once

#include "zone.hpp"

namespace labyrinth::allocator::detail {

inline void Zone::pb_free_add(std::uint32_t idx, unsigned order, bool add) {
  const unsigned pbo = pageblock_order_;
  std::uint32_t pbi = pb_of(idx);
  if (order <= pbo) {
    const std::uint32_t n = 1u << order;
    pb_[pbi].free_pages = add ? pb_[pbi].free_pages + n : pb_[pbi].free_pages - n;
    return;
  }
  const std::uint32_t per = 1u << pbo;
  for (std::uint32_t k = 0; k < (1u << (order - pbo)); ++k, ++pbi) {
    pb_[pbi].free_pages = add ? pb_[pbi].free_pages + per : pb_[pbi].free_pages - per;
  }
}

// __add_to_free_list / __del_page_from_free_list, without the pageblocks' free pages
// (pb_free_add): a split or a merge counts those once for the whole block.
inline void Zone::link_free_block(std::uint32_t idx, unsigned order, MigrateType mt, bool tail) {
  const unsigned t = index_of(mt);
  ListHead& l = area_.lists[order][t];
  with_block(idx, order, [&](PageState& s, auto m) {
    if (tail) {
      list_push_back(m, l, idx);
    } else {
      list_push_front(m, l, idx);
    }
    s.set(PageKind::Free, order, mt);
  });
  ++area_.blocks[order][t];
  ++area_.nr_free[order];
  area_.mask[t] |= 1u << order;
  area_.pages[t] += std::uint64_t{1} << order;
  if (mt != MigrateType::Isolate) {
    area_.nr_free_pages += std::uint64_t{1} << order;
  }
}

inline void Zone::unlink_free_block(std::uint32_t idx, unsigned order) {
  unsigned t = 0;
  with_block(idx, order, [&](PageState& s, auto m) {
    t = index_of(s.mt());
    list_unlink(m, area_.lists[order][t], idx);
    s = PageState{};
  });
  --area_.blocks[order][t];
  --area_.nr_free[order];
  if (area_.lists[order][t].head == kNil) {
    area_.mask[t] &= ~(1u << order);
  }
  area_.pages[t] -= std::uint64_t{1} << order;
  if (t != index_of(MigrateType::Isolate)) {
    area_.nr_free_pages -= std::uint64_t{1} << order;
  }
}

// buddy_merge_likely(): if the merged block's own buddy one order up is free, the block will
// probably merge soon, so it goes to the tail of its list to stay free longer.
inline bool Zone::buddy_merge_likely(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const {
  if (order + 1 >= params_->max_order) {
    return false;
  }
  const std::uint64_t higher = buddy_pfn & pfn;
  const std::uint64_t higher_buddy = higher ^ (std::uint64_t{1} << (order + 1));
  return page_is_buddy(higher_buddy, order + 1);
}

// __free_one_page()
//
// The buddy of the block at pfn of order o is pfn ^ 2^o; the merged block starts at
// pfn & buddy. Merging continues while the buddy is the head of a free block of exactly that
// order in this zone. From pageblock_order up the two halves may lie in pageblocks of different
// types: mergeable types merge (the buddy's pageblock takes our type), but a HighAtomic, CMA or
// Isolate block never merges with a block of another type. Below pageblock_order both halves
// share one pageblock, hence one type, so types are not looked at.
//
// The pageblocks' free pages grow by the piece alone (each buddy merged was counted free
// already), so they are counted once, not at every merge.
inline void Zone::free_one_page_piece(std::uint32_t idx, unsigned order, MigrateType mt) {
  const unsigned pbo = pageblock_order_;
  const unsigned max_order = params_->max_order;
  const std::uint32_t piece = idx;
  const unsigned piece_order = order;
  std::uint64_t p = pfn(idx);
  std::uint64_t buddy_pfn = 0;
  while (order < max_order) {
    buddy_pfn = p ^ (std::uint64_t{1} << order);
    if (!page_is_buddy(buddy_pfn, order)) {
      break;
    }
    const std::uint32_t bidx = this->idx(buddy_pfn);
    MigrateType buddy_mt = mt;
    if (order >= pbo) {
      buddy_mt = pb_type(bidx);
      if (mt != buddy_mt && (!is_mergeable(mt) || !is_mergeable(buddy_mt))) {
        break;
      }
    }
    unlink_free_block(bidx, order);
    if (buddy_mt != mt) {
      change_pageblock_range(bidx, order, mt);
    }
    p &= buddy_pfn;
    ++order;
  }
  const bool to_tail = order < max_order && buddy_merge_likely(p, buddy_pfn, order);
  link_free_block(this->idx(p), order, mt, to_tail);
  pb_free_add(piece, piece_order, true);
}

}  // namespace labyrinth::allocator::detail
