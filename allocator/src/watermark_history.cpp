// __zone_watermark_ok of three generations (mm/page_alloc.c):
//  <= 4.3: free -= 2^order - 1; ALLOC_HIGH min/2, ALLOC_HARDER min/4; free CMA out unless
//          ALLOC_CMA; then for each order below the request, its pages leave the count and min
//          halves ("require fewer higher order pages to be free").
//  4.4 .. 6.2: same reductions; a caller without ALLOC_HARDER also loses the highatomic
//          reserve; order > 0 needs one block of the order or above on a list it may use.
//  6.3+:   ALLOC_MIN_RESERVE min/2, then with ALLOC_NON_BLOCK min/4; callers outside
//          ALLOC_RESERVES lose the highatomic pages (docs/kernel-rules.md §5.1, §5.2).
#include "labyrinth/allocator/watermark_history.hpp"

namespace labyrinth::allocator {
namespace {

constexpr std::uint8_t bit(MigrateType mt) { return static_cast<std::uint8_t>(1u << index_of(mt)); }
constexpr std::uint8_t kMergeable = bit(MigrateType::Unmovable) | bit(MigrateType::Movable) | bit(MigrateType::Reclaimable);

// The order > 0 block search of 4.4 and later.
void find_block(const ZoneFreeState& z, unsigned order, const WatermarkRights& r, WatermarkOutcome& out) {
  std::uint8_t usable = kMergeable;
  if (r.cma) usable |= bit(MigrateType::Cma);
  if (r.highatomic) usable |= bit(MigrateType::HighAtomic);
  bool any = false, unknown = false, reserve = false;
  for (unsigned o = order; o < z.orders && o < kOrderSlots; ++o) {
    if (z.nr_free[o] == 0) continue;
    any = true;
    if (!z.types_known) {
      unknown = true;
      continue;
    }
    if ((z.type_mask[o] & usable) != 0) {
      out.ok = true;
      out.failure = WatermarkFailure::None;
      return;
    }
    if ((z.type_mask[o] & (bit(MigrateType::HighAtomic) | bit(MigrateType::Cma))) != 0) reserve = true;
  }
  out.ok = false;
  if (!any) out.failure = WatermarkFailure::NoBlock;
  else if (unknown) out.failure = WatermarkFailure::TypesUnknown;
  else if (reserve) out.failure = WatermarkFailure::OnlyReserveTypes;
  else out.failure = WatermarkFailure::OnlyIsolated;
}

}  // namespace

WatermarkOutcome zone_watermark_ok_history(WatermarkGeneration generation, const ZoneFreeState& z, unsigned order,
                                           const WatermarkRights& r) {
  WatermarkOutcome out;
  for (unsigned o = 0; o < z.orders && o < kOrderSlots; ++o) {
    if (z.nr_free[o] != 0) out.largest_free_order = static_cast<int>(o);
  }
  const std::int64_t order_pages = order < 63 ? (std::int64_t{1} << order) : 0;
  std::int64_t min = z.mark;
  out.unusable = order_pages - 1;
  switch (generation) {
    case WatermarkGeneration::PerOrderLoop:
    case WatermarkGeneration::HarderFlag:
      if (r.high) min -= min / 2;
      if (r.harder) min -= min / 4;
      if (generation == WatermarkGeneration::HarderFlag && !r.harder) out.unusable += z.highatomic_pages;
      break;
    case WatermarkGeneration::ReserveFlags:
      if (r.high) {
        min -= min / 2;
        if (r.harder) min -= min / 4;
      }
      if (!r.high && !r.harder && !r.highatomic) out.unusable += z.highatomic_pages;
      break;
  }
  if (!r.cma) out.unusable += z.free_cma_pages;
  out.min = min;
  out.threshold = min + z.lowmem_reserve;
  out.free_counted = z.free_pages - out.unusable;
  if (out.free_counted <= out.threshold) {
    out.failure = WatermarkFailure::Watermark;
    return out;
  }
  if (order == 0) {
    out.ok = true;
    return out;
  }
  if (generation == WatermarkGeneration::PerOrderLoop) {
    // The loop starts again from free minus only 2^order - 1 (CMA left out of the first test).
    std::int64_t free = z.free_pages - (order_pages - 1);
    std::int64_t m = min;
    for (unsigned o = 0; o < order && o < kOrderSlots; ++o) {
      free -= static_cast<std::int64_t>(z.nr_free[o] << o);
      m >>= 1;
      if (free <= m) {
        out.failure = WatermarkFailure::HigherOrderPages;
        out.failed_order = o + 1;
        out.order_free = free;
        out.order_min = m;
        if (out.largest_free_order < static_cast<int>(order)) out.failure = WatermarkFailure::NoBlock;
        return out;
      }
    }
    out.ok = true;
    return out;
  }
  find_block(z, order, r, out);
  return out;
}

}  // namespace labyrinth::allocator
