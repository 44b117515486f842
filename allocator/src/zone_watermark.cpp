// The watermark check (docs/kernel-rules.md §5; mm/page_alloc.c: __zone_watermark_unusable_free,
// __zone_watermark_ok, zone_watermark_fast).
#include <algorithm>

#include "zone.hpp"

namespace labyrinth::allocator::detail {

// __zone_watermark_ok(): ALLOC_MIN_RESERVE takes min down by half, ALLOC_NON_BLOCK on top of
// that by another quarter (GFP_ATOMIC: 3/8 of the mark is left), ALLOC_OOM by half. Order > 0
// also needs a free block of the order on a list the request may use.
WatermarkCheck Zone::watermark_ok(unsigned order, std::int64_t mark, ZoneType highest, AllocFlags flags) const {
  WatermarkCheck c;
  c.zone = id_;
  c.free_pages = checked_free_pages();
  c.unusable = unusable_free(order, flags);
  c.mark = mark;
  c.reserves_usable = (flags & alloc::kReserves) != 0;
  std::int64_t min = mark;
  if ((flags & alloc::kReserves) != 0) {
    if ((flags & alloc::kMinReserve) != 0) {
      min -= min / 2;
      if ((flags & alloc::kNonBlock) != 0) {
        min -= min / 4;
      }
    }
    if ((flags & alloc::kOom) != 0) {
      min -= min / 2;
    }
  }
  c.effective_min = min + static_cast<std::int64_t>(lowmem_[index_of(highest)]);
  if (order > 0) {  // the lists it may take from, set even where the count fails (forensics read them)
    c.block_lists = (1u << kPcpTypes) - 1u;
    if ((flags & alloc::kCma) != 0) {
      c.block_lists = static_cast<std::uint8_t>(c.block_lists | 1u << index_of(MigrateType::Cma));
    }
    if ((flags & (alloc::kHighAtomic | alloc::kOom)) != 0) {
      c.block_lists = static_cast<std::uint8_t>(c.block_lists | 1u << index_of(MigrateType::HighAtomic));
    }
  }
  const std::int64_t free = c.free_pages - c.unusable;
  if (free <= c.effective_min) {
    c.ok = false;
    return c;
  }
  if (order == 0) {
    c.ok = true;
    return c;
  }
  const std::uint32_t from = ~((1u << order) - 1u);
  std::uint32_t usable = 0;
  for (unsigned t = 0; t < kMigrateTypes; ++t) {
    if ((static_cast<unsigned>(c.block_lists) >> t & 1u) != 0) usable |= area_.mask[t];
  }
  c.block_available = (usable & from) != 0;
  c.ok = c.block_available;
  return c;
}

// The rest of zone_watermark_fast() (the order-0 short-cut is inline in zone.hpp): the full
// check, and for order-0 ALLOC_MIN_RESERVE requests at the min mark a retry without the boost.
bool Zone::watermark_slow(unsigned order, std::int64_t mark, ZoneType highest, AllocFlags flags) const {
  if (watermark_ok(order, mark, highest, flags).ok) {
    return true;
  }
  if (order == 0 && (flags & alloc::kMinReserve) != 0 && boost_ != 0 &&
      (flags & alloc::kWmarkMask) == alloc::kWmarkMin) {
    return watermark_ok(order, static_cast<std::int64_t>(wm_.min), highest, flags).ok;
  }
  return false;
}

}  // namespace labyrinth::allocator::detail
