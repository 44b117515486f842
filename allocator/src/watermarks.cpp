// Reserve arithmetic (docs/kernel-rules.md §6, §7.1). Every division truncates like the
// kernel's unsigned long arithmetic.
#include "labyrinth/allocator/watermarks.hpp"

#include <algorithm>
#include <bit>

namespace labyrinth::allocator {

namespace {
bool is_highmem_or_movable(ZoneType t) { return t == ZoneType::HighMem || t == ZoneType::Movable; }
constexpr std::uint64_t kSwapClusterMax = 32;
}  // namespace

std::uint64_t int_sqrt(std::uint64_t x) {
  if (x < 2) {
    return x;
  }
  // Bitwise square root (lib/math/int_sqrt.c computes the same floor).
  std::uint64_t m = std::uint64_t{1} << ((63 - static_cast<unsigned>(std::countl_zero(x))) & ~1u);
  std::uint64_t y = 0;
  while (m != 0) {
    const std::uint64_t b = y + m;
    y >>= 1;
    if (x >= b) {
      x -= b;
      y += m;
    }
    m >>= 2;
  }
  return y;
}

// __setup_per_zone_wmarks(): min is the zone's share of min_free_kbytes over lowmem; the
// low/high steps are the larger of min/4 and managed * watermark_scale_factor / 10000.
std::vector<Watermarks> setup_per_zone_wmarks(std::span<const ZoneSize> zones, std::uint64_t min_free_kbytes,
                                              std::uint64_t watermark_scale_factor, std::uint64_t page_size) {
  const unsigned page_shift = static_cast<unsigned>(std::countr_zero(page_size));
  const std::uint64_t pages_min = min_free_kbytes >> (page_shift - 10);
  std::uint64_t lowmem_pages = 0;
  for (const ZoneSize& z : zones) {
    if (!is_highmem_or_movable(z.type)) {
      lowmem_pages += z.managed_pages;
    }
  }
  std::vector<Watermarks> out;
  out.reserve(zones.size());
  for (const ZoneSize& z : zones) {
    std::uint64_t tmp = lowmem_pages != 0 ? pages_min * z.managed_pages / lowmem_pages : 0;
    Watermarks wm;
    if (is_highmem_or_movable(z.type)) {
      wm.min = std::clamp(z.managed_pages / 1024, kSwapClusterMax, std::uint64_t{128});
    } else {
      wm.min = tmp;
    }
    tmp = std::max(tmp >> 2, mult_frac(z.managed_pages, watermark_scale_factor, 10000));
    wm.low = wm.min + tmp;
    wm.high = wm.low + tmp;
    wm.promo = wm.high + tmp;
    out.push_back(wm);
  }
  return out;
}

// setup_per_zone_lowmem_reserve(): zone i keeps (managed pages of zones i+1..j) / ratio[i]
// back from requests whose highest zone is j.
std::vector<LowmemReserve> setup_per_zone_lowmem_reserve(std::span<const ZoneSize> node_zones,
                                                         const std::array<std::uint64_t, kZoneTypes>& ratio) {
  std::array<std::uint64_t, kZoneTypes> managed{};
  for (const ZoneSize& z : node_zones) {
    managed[index_of(z.type)] += z.managed_pages;
  }
  std::array<LowmemReserve, kZoneTypes> by_type{};
  for (unsigned i = 0; i + 1 < kZoneTypes; ++i) {
    const bool clear = ratio[i] == 0 || managed[i] == 0;
    std::uint64_t upper = 0;
    for (unsigned j = i + 1; j < kZoneTypes; ++j) {
      upper += managed[j];
      by_type[i][j] = clear ? 0 : upper / ratio[i];
    }
  }
  std::vector<LowmemReserve> out;
  out.reserve(node_zones.size());
  for (const ZoneSize& z : node_zones) {
    out.push_back(by_type[index_of(z.type)]);
  }
  return out;
}

std::uint64_t nr_free_buffer_pages(std::span<const ZoneSize> zones, std::span<const Watermarks> watermarks) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < zones.size() && i < watermarks.size(); ++i) {
    if (index_of(zones[i].type) <= index_of(ZoneType::Normal) && zones[i].managed_pages > watermarks[i].high) {
      sum += zones[i].managed_pages - watermarks[i].high;
    }
  }
  return sum;
}

std::uint64_t calculate_min_free_kbytes(std::uint64_t nr_free_buffer_pages, std::uint64_t page_size) {
  const std::uint64_t lowmem_kbytes = nr_free_buffer_pages * (page_size / 1024);
  return std::clamp(int_sqrt(lowmem_kbytes * 16), std::uint64_t{128}, std::uint64_t{262144});
}

std::uint64_t thp_recommended_min_free_kbytes(unsigned nr_zones, unsigned pageblock_order,
                                              std::uint64_t nr_free_buffer_pages, std::uint64_t page_size) {
  const std::uint64_t nr = std::uint64_t{1} << pageblock_order;
  std::uint64_t rec = nr * nr_zones * 2;
  rec += nr * nr_zones * kPcpTypes * kPcpTypes;
  rec = std::min(rec, nr_free_buffer_pages / 20);
  const unsigned page_shift = static_cast<unsigned>(std::countr_zero(page_size));
  return rec << (page_shift - 10);
}

// zone_batchsize(): about 0.1% of the zone or 1 MiB, whichever is smaller, divided by 4 and
// clamped to 2^n - 1; the pageset uses max(1, batch).
std::int64_t zone_batchsize(std::uint64_t managed_pages, std::uint64_t page_size) {
  std::uint64_t batch = std::min(managed_pages >> 10, (std::uint64_t{1} << 20) / page_size);
  batch /= 4;
  if (batch < 1) {
    batch = 1;
  }
  batch = std::bit_floor(batch + batch / 2) - 1;
  return std::max(std::int64_t{1}, static_cast<std::int64_t>(batch));
}

std::int64_t zone_highsize(std::uint64_t total_pages, std::int64_t batch, unsigned node_cpus) {
  const std::uint64_t cpus = node_cpus != 0 ? node_cpus : 1;
  const auto high = static_cast<std::int64_t>(total_pages / cpus);
  return std::max(high, batch << 2);
}

PcpLimits pcp_limits(std::uint64_t managed_pages, std::uint64_t low_wmark, std::uint64_t page_size,
                     unsigned node_cpus, std::uint64_t percpu_pagelist_high_fraction) {
  constexpr std::uint64_t kMinHighFraction = 8;  // MIN_PERCPU_PAGELIST_HIGH_FRACTION
  PcpLimits l;
  l.batch = zone_batchsize(managed_pages, page_size);
  if (percpu_pagelist_high_fraction != 0) {
    l.high_min = zone_highsize(managed_pages / percpu_pagelist_high_fraction, l.batch, node_cpus);
    l.high_max = l.high_min;
  } else {
    l.high_min = zone_highsize(low_wmark, l.batch, node_cpus);
    l.high_max = zone_highsize(managed_pages / kMinHighFraction, l.batch, node_cpus);
  }
  return l;
}

std::optional<std::uint64_t> boosted_watermark(std::uint64_t current_boost, std::uint64_t high_wmark,
                                               std::uint64_t managed_pages, std::uint64_t watermark_boost_factor,
                                               unsigned pageblock_order) {
  const std::uint64_t nr = std::uint64_t{1} << pageblock_order;
  if (watermark_boost_factor == 0 || nr * 4 > managed_pages) {
    return std::nullopt;
  }
  std::uint64_t max_boost = mult_frac(high_wmark, watermark_boost_factor, 10000);
  if (max_boost == 0) {
    return std::nullopt;
  }
  max_boost = std::max(nr, max_boost);
  return std::min(current_boost + nr, max_boost);
}

}  // namespace labyrinth::allocator
