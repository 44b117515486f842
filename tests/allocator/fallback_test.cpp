// Fallbacks between migratetypes (6.15+ __rmqueue_claim / __rmqueue_steal), ALLOC_NOFRAGMENT,
// the watermark boost and the highatomic reserve (docs/kernel-rules.md §6.5, §8.2-§8.5).
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

// 4096 pages = 8 pageblocks of 512. Watermarks that never decide, but a high mark of 1 so that
// boost_watermark() works: max(512, mult_frac(1, 15000, 10000)) = 512.
ModelConfig small_zone() {
  ModelConfig c = one_zone(4096, Watermarks{0, 0, 1, 1});
  c.tunables.boost_reset = BoostReset::Manual;
  return c;
}

TEST(Fallback, MovableRequestStealsWithoutClaiming) {
  Model m(small_zone());
  Snapshot s = runs({FreeRun{Pfn{0}, 4}});  // one order-2 block, in an Unmovable pageblock
  s.pageblock_types.push_back(PageblockType{Pfn{0}, MigrateType::Unmovable});
  m.seed(s);
  const AllocResult r = m.allocate(kGfpMovable, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{0});
  EXPECT_EQ(r.source, BlockSource::Steal);
  EXPECT_EQ(r.path, AllocPath::Fast);  // fast path, after the retry without NOFRAGMENT
  EXPECT_EQ(m.counters().nofragment_retries, 1u);
  EXPECT_EQ(m.counters().steals, 1u);
  // Order 2 < pageblock_order / 2 and the request is movable: no claim, the type stays, the
  // rest of the stolen block stays on the Unmovable lists.
  EXPECT_EQ(m.pageblock_type(Pfn{0}), MigrateType::Unmovable);
  EXPECT_EQ(m.block_containing(Pfn{2})->migratetype, MigrateType::Unmovable);
  EXPECT_EQ(m.metrics(0).mixed_pageblocks, 1u);
  expect_consistent(m);
}

TEST(Fallback, UnmovableRequestClaimsAWholeFreePageblock) {
  Model m(small_zone());
  m.seed(runs({FreeRun{Pfn{512}, 512}}));  // pageblock 1 free, Movable
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.source, BlockSource::Claim);
  EXPECT_EQ(r.path, AllocPath::Fast);  // NOFRAGMENT still allows claims of whole pageblocks
  EXPECT_EQ(r.pfn, Pfn{512});
  EXPECT_EQ(m.pageblock_type(Pfn{512}), MigrateType::Unmovable);
  EXPECT_EQ(m.counters().claims, 1u);
  EXPECT_EQ(m.watermark_boost(0), 0u);  // no boost for claims of pageblock_order or more
  EXPECT_EQ(m.metrics(0).nr_free_by_type[index_of(MigrateType::Unmovable)][9 - 1], 1u);
  expect_consistent(m);
}

// A block below pageblock_order claims its pageblock when free + alike pages reach half of it
// (256); seed pages in a Movable pageblock count as movable, so alike = 0 here.
TEST(Fallback, ClaimBelowPageblockOrderNeedsHalfTheBlockAndBoosts) {
  Model m(small_zone());
  m.seed(runs({FreeRun{Pfn{1024}, 256}, FreeRun{Pfn{2048}, 255}}));  // pageblocks 2 and 4
  // The claim loop starts at the largest order: pageblock 2's order-8 block comes before the
  // order-7 block of pageblock 4.
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.source, BlockSource::Claim);
  EXPECT_EQ(m.counters().nofragment_retries, 1u);
  EXPECT_EQ(m.pageblock_type(Pfn{1024}), MigrateType::Unmovable);
  EXPECT_EQ(r.pfn, Pfn{1024});
  // boost_watermark(): min(0 + 512, max(512, 1 * 15000 / 10000)) = 512.
  EXPECT_EQ(m.watermark_boost(0), 512u);
  EXPECT_EQ(m.counters().boosts, 1u);
  expect_consistent(m);
}

TEST(Fallback, TooFewFreePagesMeansStealNotClaim) {
  Model m(small_zone());
  m.seed(runs({FreeRun{Pfn{2048}, 255}}));  // 255 free: order 7 + 6 + ... + 0
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.source, BlockSource::Steal);
  EXPECT_EQ(m.pageblock_type(Pfn{2048}), MigrateType::Movable);
  EXPECT_EQ(m.counters().claims, 0u);
  // The failed claim attempts still boosted the watermark (once per try_to_claim_block call).
  EXPECT_GT(m.counters().boosts, 0u);
  expect_consistent(m);
}

TEST(Fallback, BoostIsClearedWhenKswapdIsWoken) {
  ModelConfig c = small_zone();
  c.tunables.boost_reset = BoostReset::OnKswapdWake;
  Model m(c);
  m.seed(runs({FreeRun{Pfn{1024}, 256}}));
  ASSERT_TRUE(m.allocate(kGfpKernel, 0, 0, 1).ok());
  EXPECT_EQ(m.counters().boosts, 1u);
  EXPECT_EQ(m.watermark_boost(0), 0u);
  // Without __GFP_KSWAPD_RECLAIM kswapd is not woken and the boost stays.
  Model n(c);
  n.seed(runs({FreeRun{Pfn{1024}, 256}}));
  ASSERT_TRUE(n.allocate(kGfp.io | kGfp.fs | kGfp.direct_reclaim, 0, 0, 1).ok());
  EXPECT_EQ(n.watermark_boost(0), 512u);
}

TEST(Fallback, ReclaimableFallsBackToUnmovableFirst) {
  Model m(small_zone());
  Snapshot s = runs({FreeRun{Pfn{0}, 512}, FreeRun{Pfn{512}, 512}});
  s.pageblock_types.push_back(PageblockType{Pfn{0}, MigrateType::Movable});
  s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::Unmovable});
  m.seed(s);
  const AllocResult r = m.allocate(kGfpReclaimable, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{512});  // fallbacks[RECLAIMABLE] = {UNMOVABLE, MOVABLE}
  EXPECT_EQ(m.pageblock_type(Pfn{512}), MigrateType::Reclaimable);
  expect_consistent(m);
}

TEST(Fallback, ExtfragOwnershipChangeMovesFreeBlocks) {
  Model m(small_zone());
  m.seed(runs({FreeRun{Pfn{0}, 300}}));
  const PageblockResult p = m.change_pageblock_type(Pfn{100}, MigrateType::Unmovable);
  EXPECT_EQ(p.status, PageblockStatus::Changed);
  EXPECT_EQ(p.pages_moved, 300u);
  EXPECT_EQ(m.metrics(0).nr_free_by_type[index_of(MigrateType::Unmovable)][8], 1u);
  EXPECT_EQ(m.change_pageblock_type(Pfn{100}, MigrateType::Unmovable).status, PageblockStatus::Unchanged);
  // A claim of a free order-10 block changes both of its pageblocks.
  EXPECT_EQ(m.change_pageblock_type(Pfn{5000}, MigrateType::Unmovable).status, PageblockStatus::OutsideZone);
  Model n(small_zone());
  const PageblockResult q = n.change_pageblock_type(Pfn{1536}, MigrateType::Reclaimable);
  EXPECT_EQ(q.pages_moved, 1024u);
  EXPECT_EQ(n.pageblock_type(Pfn{1024}), MigrateType::Reclaimable);
  EXPECT_EQ(n.pageblock_type(Pfn{1536}), MigrateType::Reclaimable);
  expect_consistent(m);
  expect_consistent(n);
}

// ---- the high-order atomic reserve ------------------------------------------------------

// 65536 pages: managed / 100 = 655 -> the reserve may grow to ALIGN(655, 512) = 1024 pages.
ModelConfig reserve_zone() {
  ModelConfig c = one_zone(65536, Watermarks{1000, 2000, 3000, 4000});
  c.tunables.boost_reset = BoostReset::Manual;
  c.tunables.reclaim = ReclaimPolicy::Fail;
  return c;
}

TEST(HighAtomic, SlowPathHighOrderAtomicReservesAPageblock) {
  Model m(reserve_zone());
  m.seed(runs({FreeRun{Pfn{0}, 1500}}));  // below low: the fast path fails
  const AllocResult r = m.allocate(kGfpAtomic, 1, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Slow);
  const ZoneMetrics z = m.metrics(0);
  EXPECT_EQ(z.nr_reserved_highatomic, 512u);
  EXPECT_EQ(m.pageblock_type(r.pfn), MigrateType::HighAtomic);
  EXPECT_EQ(z.nr_free_highatomic, 510u);  // the rest of that pageblock
  EXPECT_EQ(m.counters().highatomic_reservations, 1u);
  expect_consistent(m);

  // The next one is served from the reserve.
  const AllocResult again = m.allocate(kGfpAtomic, 1, 0, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.source, BlockSource::HighAtomic);
  // Reservations stop at 1024 pages.
  ASSERT_TRUE(m.allocate(kGfpAtomic, 3, 0, 3).ok());
  EXPECT_LE(m.metrics(0).nr_reserved_highatomic, 1024u);
  expect_consistent(m);
}

TEST(HighAtomic, FastPathDoesNotReserve) {
  Model m(reserve_zone());
  m.seed(runs({FreeRun{Pfn{0}, 4096}}));
  ASSERT_TRUE(m.allocate(kGfpAtomic, 1, 0, 1).ok());  // fast path: no ALLOC_HIGHATOMIC
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 0u);
  ASSERT_TRUE(m.allocate(kGfpNowait, 2, 0, 1).ok());
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 0u);
}

TEST(HighAtomic, ReserveIsTheLastResortOfNonBlockingRequests) {
  ModelConfig c = reserve_zone();
  c.zones[0].watermarks = Watermarks{100, 200, 300, 400};
  Model m(c);
  Snapshot s = runs({FreeRun{Pfn{512}, 512}, FreeRun{Pfn{4096}, 1000}});
  s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
  m.seed(s);
  // Use up everything but the reserve with movable pages (they may not touch HighAtomic).
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(m.allocate(kGfpMovable | kGfp.high, 0, 0, 9).ok()) << i;
  }
  EXPECT_EQ(m.metrics(0).nr_free_pages, 512u);
  // GFP_KERNEL cannot use it: the free pages are all highatomic.
  EXPECT_EQ(m.allocate(kGfpKernel, 0, 0, 1).failure, AllocFailure::ReserveOnly);
  // Order-0 GFP_ATOMIC takes it as a last resort (rmqueue_buddy with ALLOC_NON_BLOCK).
  const AllocResult a = m.allocate(kGfpAtomic, 0, 0, 2);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.source, BlockSource::HighAtomic);
  EXPECT_EQ(a.pfn.value / 512, 1u);
  // A freed page of a HighAtomic pageblock goes back to the HighAtomic lists.
  ASSERT_EQ(m.free(a.pfn, 0, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.metrics(0).nr_free_highatomic, 512u);
  expect_consistent(m);
}

TEST(HighAtomic, UnreserveConvertsTheBlockBack) {
  Model m(reserve_zone());
  Snapshot s = runs({FreeRun{Pfn{0}, 2048}});
  s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
  s.pageblock_types.push_back(PageblockType{Pfn{1024}, MigrateType::HighAtomic});
  m.seed(s);
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 1024u);
  EXPECT_TRUE(m.unreserve_highatomic_pageblock(0, MigrateType::Movable, false));
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 512u);
  EXPECT_FALSE(m.unreserve_highatomic_pageblock(0, MigrateType::Movable, false));  // keeps one
  EXPECT_TRUE(m.unreserve_highatomic_pageblock(0, MigrateType::Movable, true));
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 0u);
  EXPECT_EQ(m.metrics(0).nr_free_highatomic, 0u);
  expect_consistent(m);
}

// K7 (7.3) sets ALLOC_HIGHATOMIC on the fast path and skips the pcp refill for it, so a
// high-order GFP_ATOMIC request is served from the reserve right away; 6.12-7.2 go through the
// pcp list of the request's type.
TEST(HighAtomic, KernelRulesDecideTheFastPath) {
  for (const bool k7 : {false, true}) {
    ModelConfig c = reserve_zone();
    c.rules = k7 ? KernelRules::linux_7_3() : KernelRules::linux_6_12();
    c.tunables.pcp = PcpMode::Auto;
    Model m(c);
    Snapshot s = runs({FreeRun{Pfn{0}, 8192}});
    s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
    m.seed(s);
    const AllocResult r = m.allocate(kGfpAtomic, 1, 0, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, AllocPath::Fast);
    EXPECT_EQ(r.source, k7 ? BlockSource::HighAtomic : BlockSource::Pcp) << "k7 " << k7;
    EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 512u);  // the fast path never reserves
    expect_consistent(m);
  }
}

// 6.10/6.11 count the whole reserve as unusable, 6.12+ only its free pages (§5.1).
TEST(HighAtomic, UnusableReserveAccountingByVersion) {
  for (const bool counts_free : {true, false}) {
    ModelConfig c = reserve_zone();
    c.rules.unusable_counts_free_highatomic = counts_free;
    Model m(c);
    Snapshot s = runs({FreeRun{Pfn{4096}, 1400}});
    s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});  // reserved, all allocated
    m.seed(s);
    ASSERT_EQ(m.metrics(0).nr_reserved_highatomic, 512u);
    ASSERT_EQ(m.metrics(0).nr_free_highatomic, 0u);
    // GFP_KERNEL at min 1000: 1400 free, minus 0 (6.12+) or minus 512 (6.10) unusable.
    const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
    EXPECT_EQ(r.ok(), counts_free) << "counts_free " << counts_free;
  }
}

TEST(HighAtomic, SwitchedOff) {
  ModelConfig c = reserve_zone();
  c.tunables.highatomic = false;
  Model m(c);
  m.seed(runs({FreeRun{Pfn{0}, 1500}}));
  ASSERT_TRUE(m.allocate(kGfpAtomic, 1, 0, 1).ok());
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 0u);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
