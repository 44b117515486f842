// Returning blocks to the buddy lists: free_one_page / split_large_buddy (docs/kernel-rules.md
// §9.1; mm/page_alloc.c). __free_one_page's merge, which a per-CPU drain runs for every page,
// is inline in free_list_steps.hpp.
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

}  // namespace labyrinth::allocator::detail
