// __zone_watermark_ok as three kernel generations wrote it, on numbers rather than on a model
// zone: labyrinth explain replays the check on the free state a kernel log printed. The current
// rules are also in zone_watermark.cpp (on the live model); this file keeps the old ones.
#pragma once

#include <array>
#include <cstdint>

#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

enum class WatermarkGeneration : std::uint8_t {
  PerOrderLoop,   // 2.6 .. 4.3: min halves per order, the pages of lower orders do not count
  HarderFlag,     // 4.4 .. 6.2: ALLOC_HIGH / ALLOC_HARDER, highatomic reserve, per-type block search
  ReserveFlags,   // 6.3 and later: ALLOC_MIN_RESERVE / ALLOC_NON_BLOCK / ALLOC_HIGHATOMIC
};

/// What the check reads of one zone, in pages.
struct ZoneFreeState {
  std::int64_t free_pages = 0;        ///< NR_FREE_PAGES
  std::int64_t mark = 0;              ///< the watermark tested (boost included when it applies)
  std::int64_t lowmem_reserve = 0;    ///< lowmem_reserve[highest zone of the request]
  std::int64_t highatomic_pages = 0;  ///< subtracted for callers without reserve rights
  std::int64_t free_cma_pages = 0;    ///< subtracted for callers without ALLOC_CMA
  unsigned orders = 11;               ///< free_area entries (MAX_ORDER, or MAX_PAGE_ORDER + 1)
  std::array<std::uint64_t, kOrderSlots> nr_free{};  ///< free blocks per order, all types
  /// Bit (1 << MigrateType) per type whose free list of that order is non-empty.
  std::array<std::uint8_t, kOrderSlots> type_mask{};
  bool types_known = false;  ///< the log printed the (UMEHCI) letters
};

/// The request's rights, already mapped from its gfp mask for the generation.
struct WatermarkRights {
  bool high = false;        ///< ALLOC_HIGH (<= 6.2) or ALLOC_MIN_RESERVE (6.3+): min - min/2
  bool harder = false;      ///< ALLOC_HARDER (<= 6.2) or ALLOC_NON_BLOCK (6.3+): min - min/4
  bool highatomic = false;  ///< may take MIGRATE_HIGHATOMIC blocks
  bool cma = false;         ///< ALLOC_CMA: may take MIGRATE_CMA blocks and count free CMA pages
};

enum class WatermarkFailure : std::uint8_t {
  None,
  Watermark,          ///< free pages not above min + lowmem_reserve
  HigherOrderPages,   ///< <= 4.3: too few pages in blocks of the order and above
  NoBlock,            ///< no free block of the order or above at all
  OnlyReserveTypes,   ///< blocks exist, but only on highatomic/CMA lists the request may not use
  OnlyIsolated,       ///< blocks exist, but only isolated ones (being migrated or offlined)
  TypesUnknown,       ///< blocks exist, but the log did not say of which types
};

struct WatermarkOutcome {
  bool ok = false;
  WatermarkFailure failure = WatermarkFailure::None;
  std::int64_t unusable = 0;       ///< (2^order - 1) + highatomic + CMA pages not counted
  std::int64_t free_counted = 0;   ///< free_pages - unusable
  std::int64_t min = 0;            ///< the mark after the reductions
  std::int64_t threshold = 0;      ///< min + lowmem_reserve: free_counted must be above it
  unsigned failed_order = 0;       ///< HigherOrderPages: the order whose test failed
  std::int64_t order_free = 0;     ///< HigherOrderPages: pages counted at failed_order
  std::int64_t order_min = 0;      ///< HigherOrderPages: min at failed_order
  int largest_free_order = -1;     ///< largest order with a free block of any type
};

/// mm/page_alloc.c:__zone_watermark_ok of the generation, for a request of `order`.
[[nodiscard]] WatermarkOutcome zone_watermark_ok_history(WatermarkGeneration generation, const ZoneFreeState& zone,
                                                         unsigned order, const WatermarkRights& rights);

}  // namespace labyrinth::allocator
