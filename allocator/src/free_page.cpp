// Returning blocks to the buddy lists: free_one_page / split_large_buddy / __free_one_page
// (docs/kernel-rules.md §9.1, §9.2; mm/page_alloc.c).
#include "zone.hpp"

namespace labyrinth::allocator::detail {

// split_large_buddy(): a block above pageblock_order is freed one pageblock at a time, each
// with its own pageblock type; the pieces merge again where the types allow.
void Zone::free_one_page(std::uint32_t idx, unsigned order) {
  const unsigned pbo = params_->pageblock_order;
  if (order <= pbo) {
    free_one_page_piece(idx, order, pb_type(idx));
    return;
  }
  const std::uint32_t end = idx + (1u << order);
  for (std::uint32_t p = idx; p < end; p += 1u << pbo) {
    free_one_page_piece(p, pbo, pb_type(p));
  }
}

// buddy_merge_likely(): if the merged block's own buddy one order up is free, the block will
// probably merge soon, so it goes to the tail of its list to stay free longer.
bool Zone::buddy_merge_likely(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const {
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
void Zone::free_one_page_piece(std::uint32_t idx, unsigned order, MigrateType mt) {
  const unsigned pbo = params_->pageblock_order;
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
