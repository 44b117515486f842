// Helpers shared by the allocator tests: small hand-built models.
#pragma once

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "labyrinth/allocator/allocator.hpp"

namespace labyrinth::allocator::testing {

inline constexpr GfpLayout kGfp = GfpLayout::linux_6_10();
inline const Gfp kGfpAtomic = kGfp.atomic();                      // 0x820
inline const Gfp kGfpKernel = kGfp.kernel();                      // 0xcc0
inline const Gfp kGfpNowait = kGfp.nowait();                      // 0x2800
inline const Gfp kGfpMovable = kGfp.highuser_movable();           // 0x100cca
inline const Gfp kGfpReclaimable = kGfp.kernel() | kGfp.reclaimable;

/// One zone of `pages` pages at `start`, every page managed, pcp off, explicit watermarks and no
/// lowmem reserve unless changed.
inline ModelConfig one_zone(std::uint64_t pages, Watermarks wm = {}, std::uint64_t start = 0,
                            ZoneType type = ZoneType::Normal) {
  ModelConfig c;
  ZoneConfig z;
  z.type = type;
  z.start_pfn = Pfn{start};
  z.spanned_pages = pages;
  z.managed_pages = pages;
  z.watermarks = wm;
  z.lowmem_reserve = LowmemReserve{};
  c.zones.push_back(z);
  c.tunables.pcp = PcpMode::Off;
  return c;
}

/// Snapshot with the given free runs.
inline Snapshot runs(std::vector<FreeRun> free_runs) {
  Snapshot s;
  s.free_runs = std::move(free_runs);
  return s;
}

inline void expect_consistent(const Model& m) {
  const auto err = m.check_invariants();
  EXPECT_FALSE(err.has_value()) << *err;
}

inline std::vector<std::uint64_t> buddyinfo(const Model& m, std::uint16_t zone) {
  const ZoneMetrics z = m.metrics(zone);
  return {z.nr_free.begin(), z.nr_free.begin() + z.orders};
}

}  // namespace labyrinth::allocator::testing
