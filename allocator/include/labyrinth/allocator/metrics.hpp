// Fragmentation metrics with the formulas and integer scaling of mm/vmstat.c
// (docs/kernel-rules.md §11.1), and the per-zone metrics snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// mm/vmstat.c:struct contig_page_info.
struct ContigPageInfo {
  std::uint64_t free_pages = 0;
  std::uint64_t free_blocks_total = 0;
  std::uint64_t free_blocks_suitable = 0;
};

/// fill_contig_page_info(): nr_free[o] is the number of free blocks of order o (all types).
[[nodiscard]] ContigPageInfo fill_contig_page_info(std::span<const std::uint64_t> nr_free, unsigned order);

/// unusable_free_index(): 0..1000; 1000 when nothing is free.
[[nodiscard]] int unusable_free_index(unsigned order, const ContigPageInfo& info);

/// __fragmentation_index(): -1000 when a block of the order is free, 0 when nothing is free
/// or order > max_order, else 1000 - (1000 + free_pages * 1000 / 2^order) / free_blocks_total.
[[nodiscard]] int fragmentation_index(unsigned order, const ContigPageInfo& info, unsigned max_order);

/// extfrag_for_order(): percent of free memory in blocks smaller than the order.
[[nodiscard]] unsigned extfrag_for_order(unsigned order, const ContigPageInfo& info);

/// Everything the replay reports about one zone at one instant. Per-order arrays have
/// max_order + 1 meaningful entries; the rest are 0.
struct ZoneMetrics {
  std::uint16_t zone = 0;
  unsigned orders = 0;  ///< max_order + 1
  /// /proc/buddyinfo: free blocks per order, all migratetypes.
  std::array<std::uint64_t, kOrderSlots> nr_free{};
  /// /proc/pagetypeinfo: free blocks per migratetype and order.
  std::array<std::array<std::uint64_t, kOrderSlots>, kMigrateTypes> nr_free_by_type{};
  /// Pageblocks per migratetype ("Number of blocks type").
  std::array<std::uint64_t, kMigrateTypes> pageblocks_by_type{};
  std::uint64_t nr_free_pages = 0;  ///< NR_FREE_PAGES: buddy pages, Isolate excluded
  std::uint64_t nr_free_cma = 0;
  std::uint64_t nr_free_highatomic = 0;
  std::uint64_t nr_reserved_highatomic = 0;
  std::uint64_t pcp_pages = 0;  ///< pages on all CPUs' per-cpu lists of this zone
  std::array<int, kOrderSlots> unusable_index{};        ///< x1000
  std::array<int, kOrderSlots> fragmentation_index{};   ///< x1000
  int largest_free_order = -1;  ///< -1 when the buddy lists are empty
  /// Pageblocks of a mergeable type holding allocated pages of another mergeable type.
  std::uint64_t mixed_pageblocks = 0;
  std::uint64_t pageblocks = 0;
  Watermarks watermarks;
  std::uint64_t watermark_boost = 0;
};

/// One pageblock of a zone as the model holds it (a physical memory map is drawn from these).
struct PageblockState {
  std::uint64_t start_pfn = 0;  ///< first pfn of the pageblock (may lie before the zone when it straddles)
  std::uint32_t free_pages = 0;  ///< pages of buddy blocks inside it (in the zone)
  std::uint32_t allocated_pages = 0;  ///< pages allocated (pcp pages count as allocated)
  MigrateType type = MigrateType::Movable;
  bool mixed = false;  ///< holds allocations of another mergeable type
};

}  // namespace labyrinth::allocator
