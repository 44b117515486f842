// The kernel's reserve arithmetic as pure functions (docs/kernel-rules.md §6, §7.1): watermarks,
// lowmem_reserve, min_free_kbytes, the boost and the pcp batch/high sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// What the reserve arithmetic needs to know of a zone.
struct ZoneSize {
  ZoneType type = ZoneType::Normal;
  std::uint64_t managed_pages = 0;
};

/// mult_frac(x, n, d) of include/linux/math.h: x * n / d without overflowing x * n.
[[nodiscard]] constexpr std::uint64_t mult_frac(std::uint64_t x, std::uint64_t n, std::uint64_t d) {
  return (x / d) * n + ((x % d) * n) / d;
}

/// __setup_per_zone_wmarks (mm/page_alloc.c): every zone of every node, in any order. The
/// lowmem total spans all zones that are neither HighMem nor Movable.
[[nodiscard]] std::vector<Watermarks> setup_per_zone_wmarks(std::span<const ZoneSize> zones,
                                                           std::uint64_t min_free_kbytes,
                                                           std::uint64_t watermark_scale_factor,
                                                           std::uint64_t page_size);

/// setup_per_zone_lowmem_reserve for the zones of one node. Result i belongs to zones[i].
[[nodiscard]] std::vector<LowmemReserve> setup_per_zone_lowmem_reserve(
    std::span<const ZoneSize> node_zones, const std::array<std::uint64_t, kZoneTypes>& ratio);

/// nr_free_buffer_pages(): sum over zones up to Normal of max(0, managed - high).
[[nodiscard]] std::uint64_t nr_free_buffer_pages(std::span<const ZoneSize> zones,
                                                 std::span<const Watermarks> watermarks);

/// calculate_min_free_kbytes(): clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144).
[[nodiscard]] std::uint64_t calculate_min_free_kbytes(std::uint64_t nr_free_buffer_pages,
                                                      std::uint64_t page_size);

/// mm/khugepaged.c:set_recommended_min_free_kbytes: what THP raises min_free_kbytes to
/// (before the max with the current value). nr_zones: populated zones up to Normal.
[[nodiscard]] std::uint64_t thp_recommended_min_free_kbytes(unsigned nr_zones, unsigned pageblock_order,
                                                            std::uint64_t nr_free_buffer_pages,
                                                            std::uint64_t page_size);

/// int_sqrt(): floor of the square root.
[[nodiscard]] std::uint64_t int_sqrt(std::uint64_t x);

/// zone_batchsize() as the pageset uses it (max(1, ...)).
[[nodiscard]] std::int64_t zone_batchsize(std::uint64_t managed_pages, std::uint64_t page_size);

/// zone_highsize(): total_pages (low watermark, or managed / fraction) split over the node's
/// CPUs, at least 4 * batch.
[[nodiscard]] std::int64_t zone_highsize(std::uint64_t total_pages, std::int64_t batch, unsigned node_cpus);

/// zone_set_pageset_high_and_batch(): batch, high_min and high_max of a zone.
[[nodiscard]] PcpLimits pcp_limits(std::uint64_t managed_pages, std::uint64_t low_wmark, std::uint64_t page_size,
                                   unsigned node_cpus, std::uint64_t percpu_pagelist_high_fraction);

/// boost_watermark(): the new boost, or nullopt when the kernel would not boost.
[[nodiscard]] std::optional<std::uint64_t> boosted_watermark(std::uint64_t current_boost, std::uint64_t high_wmark,
                                                             std::uint64_t managed_pages,
                                                             std::uint64_t watermark_boost_factor,
                                                             unsigned pageblock_order);

}  // namespace labyrinth::allocator
