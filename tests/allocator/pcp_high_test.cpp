// How pcp->high moves and what it drains (docs/kernel-rules.md §7.2, §7.3), with numbers
// worked by hand from Linux 6.18 mm/page_alloc.c: free_frozen_page_commit, nr_pcp_high,
// nr_pcp_free and decay_pcp_high, and 6.15's free_high threshold.
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

ModelConfig zone_with_pcp(PcpLimits limits, KernelRules rules = {}) {
  ModelConfig c = one_zone(4096);
  c.zones[0].pcp = limits;
  c.tunables.pcp = PcpMode::Auto;
  c.rules = rules;
  return c;
}

// Frees `n` order-`order` blocks carved at pfn 256 and up, on CPU 0.
void carve_and_free(Model& m, unsigned n, unsigned order = 0) {
  for (unsigned k = 0; k < n; ++k) {
    const Pfn p{256 + (std::uint64_t{k} << order)};
    ASSERT_TRUE(m.carve(p, order, MigrateType::Movable, p.value).ok());
  }
  for (unsigned k = 0; k < n; ++k) {
    ASSERT_EQ(m.free(Pfn{256 + (std::uint64_t{k} << order)}, order, 0).status, FreeStatus::Freed);
  }
}

// batch 4, high_min 16, high_max 64. Order-0 free k makes count k (until a drain) and
// free_count k (k < batch << 5 = 128). nr_pcp_high raises pcp->high to free_count + batch when
// count reaches the high it returns, and that free drains clamp(free_count, 4, high - 4):
//   k = 16: count 16 >= 16 -> high 20, drain clamp(16, 4, 12) = 12 -> count 4
//   k = 32: count 20 >= 20 -> high 36, drain clamp(32, 4, 16) = 16 -> count 4
//   k = 64: count 36 >= 36 -> high min(68, 64) = 64, drain clamp(64, 4, 32) = 32 -> count 4
//   k = 123: count 4 + 59 = 63 < 64: no drain.
// Then each decay_pcp_high: high = max(count - (4 << 5), high - high / 8, 16), drain to high:
//   64 -> 56 (drain 7), 49 (7), 43 (6), 38 (5), 34 (4), 30 (4), 27 (3), 24 (3), 21 (3),
//   19 (2), 17 (2), 16 (1): twelve calls with work, 47 pages; the thirteenth has none.
TEST(PcpHigh, DecayLowersHighByAnEighthAndDrainsDownToIt) {
  Model m(zone_with_pcp(PcpLimits{4, 16, 64, false}));
  carve_and_free(m, 123);
  ASSERT_EQ(m.counters().pcp_drained_pages, 60u);
  ASSERT_EQ(m.pcp_count(0, 0), 63u);
  ASSERT_EQ(m.pcp_high(0, 0), 64);
  const std::int64_t expected_high[] = {56, 49, 43, 38, 34, 30, 27, 24, 21, 19, 17, 16};
  for (const std::int64_t high : expected_high) {
    EXPECT_TRUE(m.decay_pcp_high(0));
    EXPECT_EQ(m.pcp_high(0, 0), high);
    EXPECT_EQ(m.pcp_count(0, 0), static_cast<std::uint64_t>(high));
  }
  EXPECT_FALSE(m.decay_pcp_high(0));  // at high_min with nothing over it: vmstat stops
  EXPECT_EQ(m.counters().pcp_decay_drained_pages, 47u);
  EXPECT_EQ(m.counters().pcp_drained_pages, 107u);
  expect_consistent(m);
}

// ZONE_RECLAIM_ACTIVE: batch 4, high_min 32 (above 4 * batch = 16), high_max 64. Every free
// returns min(4 << 2, max(32 - max(free_count, 4), 32)) = 16, so free 16 drains
// clamp(16, 4, 12) = 12 and free 28 (count 16 again) drains clamp(28, 4, 12) = 12: after 30
// frees 6 pages are left. Without the flag high is 32 and the 30 pages all stay.
TEST(PcpHigh, ReclaimActiveCapsTheListAtFourBatches) {
  {
    Model m(zone_with_pcp(PcpLimits{4, 32, 64, false}));
    m.set_reclaim_active(0, true);
    carve_and_free(m, 30);
    EXPECT_EQ(m.counters().pcp_drained_pages, 24u);
    EXPECT_EQ(m.pcp_count(0, 0), 6u);
    EXPECT_EQ(m.pcp_high(0, 0), 32);
    expect_consistent(m);
  }
  {
    Model m(zone_with_pcp(PcpLimits{4, 32, 64, false}));
    carve_and_free(m, 30);
    EXPECT_EQ(m.counters().pcp_drained_pages, 0u);
    EXPECT_EQ(m.pcp_count(0, 0), 30u);
  }
}

// Under reclaim, high also shrinks by the pages freed in a row: after the 64 frees of the
// decay test high is 64 with free_count 64; one more free under ZONE_RECLAIM_ACTIVE gives
// max(64 - max(65, 4), 16) = 16, and the list (count 5) is below min(16, 16).
TEST(PcpHigh, ReclaimActiveShrinksHigh) {
  Model m(zone_with_pcp(PcpLimits{4, 16, 64, false}));
  carve_and_free(m, 64);
  ASSERT_EQ(m.pcp_high(0, 0), 64);
  ASSERT_EQ(m.pcp_count(0, 0), 4u);
  m.set_reclaim_active(0, true);
  EXPECT_TRUE(m.reclaim_active(0));
  const Pfn p{1000};
  ASSERT_TRUE(m.carve(p, 0, MigrateType::Movable, p.value).ok());
  ASSERT_EQ(m.free(p, 0, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.pcp_high(0, 0), 16);
  EXPECT_EQ(m.pcp_count(0, 0), 5u);
  m.set_reclaim_active(0, false);
  EXPECT_FALSE(m.reclaim_active(0));
  expect_consistent(m);
}

// free_high for consecutive order-1 frees (batch 4, high fixed at 16). free_count before
// free j is 2 (j - 1); free_high needs the previous free to be high-order too (j >= 2) and
// free_count >= the threshold, and then drains the whole list (min(count, 4 << 5)):
// - 6.8 to 6.15, threshold batch = 4: free 3 (free_count 4) drains all 6 pages;
// - 6.16 and later, batch + high_min / 2 = 12: free 7 (free_count 12) drains all 14.
TEST(PcpHigh, FreeHighThresholdFollowsTheKernelGeneration) {
  KernelRules old_rules;
  old_rules.pcp_free_high_half_high_min = false;
  {
    Model m(zone_with_pcp(PcpLimits{4, 16, 16, false}, old_rules));
    carve_and_free(m, 3, 1);
    EXPECT_EQ(m.counters().pcp_drained_pages, 6u);
    EXPECT_EQ(m.pcp_count(0, 0), 0u);
  }
  {
    Model m(zone_with_pcp(PcpLimits{4, 16, 16, false}));
    carve_and_free(m, 3, 1);
    EXPECT_EQ(m.counters().pcp_drained_pages, 0u);
    EXPECT_EQ(m.pcp_count(0, 0), 6u);
  }
  {
    Model m(zone_with_pcp(PcpLimits{4, 16, 16, false}));
    carve_and_free(m, 6, 1);
    EXPECT_EQ(m.pcp_count(0, 0), 12u);
    const Pfn p{1024};
    ASSERT_TRUE(m.carve(p, 1, MigrateType::Movable, p.value).ok());
    ASSERT_EQ(m.free(p, 1, 0).status, FreeStatus::Freed);
    EXPECT_EQ(m.counters().pcp_drained_pages, 14u);
    EXPECT_EQ(m.pcp_count(0, 0), 0u);
    expect_consistent(m);
  }
}

}  // namespace
}  // namespace labyrinth::allocator::testing
