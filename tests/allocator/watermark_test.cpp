// Watermark arithmetic, hand-computed from docs/kernel-rules.md §4-§6 (mm/page_alloc.c:
// __zone_watermark_ok, zone_watermark_fast, gfp_to_alloc_flags, __setup_per_zone_wmarks,
// setup_per_zone_lowmem_reserve, zone_batchsize, zone_highsize, boost_watermark).
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

// A Normal zone of 4096 pages with min 1000, low 1250, high 1500 and exactly `free` free pages
// (a run at the end of the zone, so every block is Movable and large).
Model zone_with_free(std::uint64_t free, ReclaimPolicy reclaim = ReclaimPolicy::Kernel) {
  ModelConfig c = one_zone(4096, Watermarks{1000, 1250, 1500, 1750});
  c.tunables.reclaim = reclaim;
  Model m(c);
  m.seed(runs({FreeRun{Pfn{4096 - free}, free}}));
  EXPECT_EQ(m.nr_free_pages(0), free);
  return m;
}

TEST(GfpFlags, LayoutMatchesLinux610Table) {
  EXPECT_EQ(kGfpAtomic, 0x820u);
  EXPECT_EQ(kGfpKernel, 0xcc0u);
  EXPECT_EQ(kGfpNowait, 0x2800u);
  EXPECT_EQ(kGfp.highuser_movable(), 0x100ccau);
}

TEST(GfpFlags, ZoneAndMigratetype) {
  EXPECT_EQ(gfp_zone(kGfpKernel, kGfp, false), ZoneType::Normal);
  EXPECT_EQ(gfp_zone(kGfpKernel | kGfp.dma, kGfp, false), ZoneType::Dma);
  EXPECT_EQ(gfp_zone(kGfpKernel | kGfp.dma32, kGfp, false), ZoneType::Dma32);
  EXPECT_EQ(gfp_zone(kGfp.movable, kGfp, false), ZoneType::Normal);
  EXPECT_EQ(gfp_zone(kGfp.highmem | kGfp.movable, kGfp, false), ZoneType::Movable);
  EXPECT_EQ(gfp_zone(kGfp.highmem, kGfp, false), ZoneType::Normal);
  EXPECT_EQ(gfp_zone(kGfp.highmem, kGfp, true), ZoneType::HighMem);
  EXPECT_EQ(gfp_migratetype(kGfpKernel, kGfp), MigrateType::Unmovable);
  EXPECT_EQ(gfp_migratetype(kGfpMovable, kGfp), MigrateType::Movable);
  EXPECT_EQ(gfp_migratetype(kGfpReclaimable, kGfp), MigrateType::Reclaimable);
  EXPECT_EQ(gfp_migratetype(kGfpMovable, kGfp, true), MigrateType::Unmovable);
}

TEST(GfpFlags, SlowPathFlagsPerClass) {
  using namespace alloc;
  // GFP_ATOMIC order 0: MIN_RESERVE | NON_BLOCK | KSWAPD, no CPUSET.
  EXPECT_EQ(slow_path_alloc_flags(kGfpAtomic, 0, kGfp), kWmarkMin | kMinReserve | kNonBlock | kKswapd);
  // GFP_ATOMIC order 3 adds HIGHATOMIC.
  EXPECT_EQ(slow_path_alloc_flags(kGfpAtomic, 3, kGfp),
            kWmarkMin | kMinReserve | kNonBlock | kHighAtomic | kKswapd);
  // GFP_NOWAIT: NON_BLOCK without MIN_RESERVE, keeps CPUSET; no HIGHATOMIC even at order 3.
  EXPECT_EQ(slow_path_alloc_flags(kGfpNowait, 3, kGfp), kWmarkMin | kNonBlock | kKswapd | kCpuset);
  // GFP_KERNEL: CPUSET | KSWAPD.
  EXPECT_EQ(slow_path_alloc_flags(kGfpKernel, 0, kGfp), kWmarkMin | kCpuset | kKswapd);
  // __GFP_NOMEMALLOC drops NON_BLOCK.
  EXPECT_EQ(slow_path_alloc_flags(kGfpAtomic | kGfp.nomemalloc, 2, kGfp), kWmarkMin | kMinReserve | kKswapd);
  // Movable requests may use CMA.
  EXPECT_NE(slow_path_alloc_flags(kGfpMovable, 0, kGfp) & kCma, 0u);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel | kGfp.memalloc, kGfp), kNoWatermarks);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel | kGfp.memalloc | kGfp.nomemalloc, kGfp), 0u);
}

// The kernel comment's example: min 13081 -> 6541 after MIN_RESERVE -> 4906 after NON_BLOCK.
TEST(WatermarkCheck, AtomicReductionIsThreeEighths) {
  ModelConfig c = one_zone(32768, Watermarks{13081, 16351, 19621, 22891});
  Model m(c);
  const AllocFlags atomic = slow_path_alloc_flags(kGfpAtomic, 0, kGfp);
  EXPECT_EQ(m.watermark_check(0, 0, atomic, ZoneType::Normal).effective_min, 4906);
  const AllocFlags high_only = alloc::kWmarkMin | alloc::kMinReserve;
  EXPECT_EQ(m.watermark_check(0, 0, high_only, ZoneType::Normal).effective_min, 6541);
  const AllocFlags nowait = slow_path_alloc_flags(kGfpNowait, 0, kGfp);
  EXPECT_EQ(m.watermark_check(0, 0, nowait, ZoneType::Normal).effective_min, 13081);
  EXPECT_EQ(m.watermark_check(0, 0, alloc::kWmarkMin | alloc::kOom, ZoneType::Normal).effective_min, 6541);
}

// min 1000 -> 500 -> 375: an order-0 GFP_ATOMIC request succeeds with 376 free pages (below min,
// above 3/8 of it) and fails with 375.
TEST(WatermarkBoundary, AtomicOrder0DipsToThreeEighthsOfMin) {
  {
    Model m = zone_with_free(376);
    const AllocResult r = m.allocate(kGfpAtomic, 0, 0, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, AllocPath::Slow);
    EXPECT_FALSE(r.watermark_missed);
    expect_consistent(m);
  }
  {
    Model m = zone_with_free(375);
    const AllocResult r = m.allocate(kGfpAtomic, 0, 0, 1);
    EXPECT_EQ(r.failure, AllocFailure::Watermark);
    EXPECT_EQ(m.nr_free_pages(0), 375u);
    expect_consistent(m);
  }
}

TEST(WatermarkBoundary, AtomicFastPathNeedsLowWithoutReduction) {
  Model above = zone_with_free(1251);
  EXPECT_EQ(above.allocate(kGfpAtomic, 0, 0, 1).path, AllocPath::Fast);
  Model at = zone_with_free(1250);
  EXPECT_EQ(at.allocate(kGfpAtomic, 0, 0, 1).path, AllocPath::Slow);
}

TEST(WatermarkBoundary, KernelOrder0AtLowAndMin) {
  EXPECT_EQ(zone_with_free(1251).allocate(kGfpKernel, 0, 0, 1).path, AllocPath::Fast);
  EXPECT_EQ(zone_with_free(1250).allocate(kGfpKernel, 0, 0, 1).path, AllocPath::Slow);
  EXPECT_EQ(zone_with_free(1001).allocate(kGfpKernel, 0, 0, 1).path, AllocPath::Slow);
  // At min, GFP_KERNEL direct-reclaims (nothing reclaimable here: the OOM killer's case,
  // slowpath_test.cpp)...
  Model m = zone_with_free(1000);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::OomKill);
  EXPECT_TRUE(r.watermark_missed);
  EXPECT_EQ(m.counters().direct_reclaims, 1u);
  // ...or, with ReclaimPolicy::Fail, fails it on the watermark.
  Model strict = zone_with_free(1000, ReclaimPolicy::Fail);
  EXPECT_EQ(strict.allocate(kGfpKernel, 0, 0, 1).failure, AllocFailure::Watermark);
}

TEST(WatermarkBoundary, NowaitGetsNoReduction) {
  EXPECT_EQ(zone_with_free(1001).allocate(kGfpNowait, 0, 0, 1).path, AllocPath::Slow);
  Model m = zone_with_free(1000);
  EXPECT_EQ(m.allocate(kGfpNowait, 0, 0, 1).failure, AllocFailure::Watermark);
  // GFP_NOWAIT cannot reclaim: no direct reclaim, a failure.
  EXPECT_EQ(m.counters().direct_reclaims, 0u);
}

// GFP_NOWAIT at 1000 free fails at min (1000 is not above it); counted one page higher, as a
// check the kernel made before its free lists changed, it passes (1001 > 1000), and the count
// the model keeps is the exact one. A bias below the count floors at 0, as zone_page_state does.
TEST(WatermarkBoundary, AChecksBiasMovesTheCountItReads) {
  Model m = zone_with_free(1001);
  m.set_checked_free_bias(0, -1);
  EXPECT_EQ(m.allocate(kGfpNowait, 0, 0, 1).failure, AllocFailure::Watermark);
  m.set_checked_free_bias(0, 1);
  EXPECT_EQ(m.check_request(kGfpNowait, 0, 0).slow.free_pages, 1002);
  const AllocResult r = m.allocate(kGfpNowait, 0, 0, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Slow);
  EXPECT_EQ(m.nr_free_pages(0), 1000u);
  m.set_checked_free_bias(0, -5000);
  EXPECT_EQ(m.check_request(kGfpNowait, 0, 0).slow.free_pages, 0);
  m.set_checked_free_bias(0, 0);
  EXPECT_EQ(m.check_request(kGfpNowait, 0, 0).slow.free_pages, 1000);
}

// A check that fails on the count still names the lists an order > 0 request may take from
// (forensics sets the kernel's free lists against them): GFP_NOWAIT order 3 the three pcp
// types, GFP_ATOMIC order 3 (ALLOC_HIGHATOMIC) the highatomic reserve too; and its gfp_zone.
TEST(WatermarkBoundary, AFailedCheckStillNamesTheListsItMayUse) {
  Model m = zone_with_free(900);
  const RequestCheck nowait = m.check_request(kGfpNowait, 3, 0);
  EXPECT_FALSE(nowait.slow.ok);
  EXPECT_EQ(nowait.slow.block_lists, 0x7);
  EXPECT_EQ(nowait.highest, ZoneType::Normal);
  Model low = zone_with_free(300);
  const RequestCheck atomic = low.check_request(kGfpAtomic, 3, 0);
  EXPECT_FALSE(atomic.slow.ok);
  EXPECT_EQ(atomic.slow.block_lists, 0x7 | 1u << index_of(MigrateType::HighAtomic));
  const RequestCheck dma32 = low.check_request(kGfpKernel | kGfp.dma32, 0, 0);
  EXPECT_FALSE(dma32.zone_available);  // this model has no zone at or below DMA32
  EXPECT_EQ(dma32.highest, ZoneType::Dma32);
}

// Order n subtracts 2^n - 1 unusable pages: GFP_ATOMIC order 2 needs free - 3 > 375.
TEST(WatermarkBoundary, HighOrderSubtractsTheBlock) {
  EXPECT_TRUE(zone_with_free(379).allocate(kGfpAtomic, 2, 0, 1).ok());
  EXPECT_EQ(zone_with_free(378).allocate(kGfpAtomic, 2, 0, 1).failure, AllocFailure::Watermark);
}

TEST(WatermarkBoundary, RequestCheckReportsEffectiveMin) {
  Model m = zone_with_free(900);
  const RequestCheck atomic = m.check_request(kGfpAtomic, 0, 0);
  EXPECT_FALSE(atomic.fast_ok);
  EXPECT_TRUE(atomic.slow_ok);
  EXPECT_EQ(atomic.slow.effective_min, 375);
  EXPECT_EQ(atomic.slow.free_pages, 900);
  const RequestCheck kernel = m.check_request(kGfpKernel, 0, 0);
  EXPECT_FALSE(kernel.slow_ok);
  EXPECT_EQ(kernel.slow.effective_min, 1000);
}

// Free highatomic pages are unusable for requests without ALLOC_RESERVES (GFP_KERNEL) but not
// for GFP_NOWAIT, whose ALLOC_NON_BLOCK is one of the reserve flags (§5.1, §5.2).
TEST(WatermarkBoundary, FreeHighatomicPagesCountOnlyForReserveUsers) {
  ModelConfig c = one_zone(4096, Watermarks{1000, 1250, 1500, 1750});
  c.tunables.reclaim = ReclaimPolicy::Fail;
  Model m(c);
  Snapshot s = runs({FreeRun{Pfn{512}, 512}, FreeRun{Pfn{2048}, 888}});
  s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
  m.seed(s);
  ASSERT_EQ(m.nr_free_pages(0), 1400u);
  EXPECT_EQ(m.metrics(0).nr_free_highatomic, 512u);
  // 1400 - 512 = 888 <= 1000: GFP_KERNEL misses the min watermark...
  EXPECT_EQ(m.allocate(kGfpKernel, 0, 0, 1).failure, AllocFailure::ReserveOnly);
  // ...GFP_NOWAIT sees all 1400 > 1000.
  EXPECT_TRUE(m.allocate(kGfpNowait, 0, 0, 2).ok());
  expect_consistent(m);
}

TEST(WatermarkBoundary, LowmemReserveProtectsLowerZones) {
  ModelConfig c;
  ZoneConfig dma32;
  dma32.type = ZoneType::Dma32;
  dma32.start_pfn = Pfn{0};
  dma32.spanned_pages = dma32.managed_pages = 4096;
  dma32.watermarks = Watermarks{100, 125, 150, 175};
  LowmemReserve lr{};
  lr[index_of(ZoneType::Normal)] = 2000;
  dma32.lowmem_reserve = lr;
  ZoneConfig normal;
  normal.type = ZoneType::Normal;
  normal.start_pfn = Pfn{4096};
  normal.spanned_pages = normal.managed_pages = 4096;
  normal.watermarks = Watermarks{100, 125, 150, 175};
  normal.lowmem_reserve = LowmemReserve{};
  c.zones = {dma32, normal};
  c.tunables.pcp = PcpMode::Off;
  c.tunables.reclaim = ReclaimPolicy::Fail;
  Model m(c);
  m.seed(runs({FreeRun{Pfn{0}, 2100}}));  // DMA32 has 2100 free, Normal none
  // A Normal request may fall back to DMA32 only above min + lowmem_reserve[Normal]:
  // GFP_KERNEL needs 2100 > 100 + 2000, which fails at equality...
  EXPECT_EQ(m.allocate(kGfpKernel, 0, 0, 1).failure, AllocFailure::Watermark);
  // ...GFP_ATOMIC needs 2100 > 38 + 2000 (min 100 -> 50 -> 38).
  const AllocResult a = m.allocate(kGfpAtomic, 0, 0, 2);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.zone, 0);
  // A DMA32 request has no reserve against itself.
  EXPECT_TRUE(m.allocate(kGfpKernel | kGfp.dma32, 0, 0, 3).ok());
  // GFP_DMA has no zone here.
  EXPECT_EQ(m.allocate(kGfpKernel | kGfp.dma, 0, 0, 4).failure, AllocFailure::ZoneUnavailable);
}

// zone_watermark_fast(): order-0 ALLOC_MIN_RESERVE requests retry the min check without the
// boost; high-order ones do not.
TEST(WatermarkBoundary, AtomicOrder0IgnoresBoostAtMin) {
  Model m = zone_with_free(500);
  m.set_watermark_boost(0, 800);  // min mark 1800 -> 900 -> 675 with the boost; 375 without
  EXPECT_TRUE(m.allocate(kGfpAtomic, 0, 0, 1).ok());
  // That allocation claimed a Movable pageblock, which boosted and then woke kswapd: with the
  // default BoostReset::OnKswapdWake the boost is gone again.
  EXPECT_EQ(m.watermark_boost(0), 0u);
  m.set_watermark_boost(0, 800);
  EXPECT_EQ(m.allocate(kGfpAtomic, 1, 0, 2).failure, AllocFailure::Watermark);
  m.set_watermark_boost(0, 0);
  EXPECT_TRUE(m.allocate(kGfpAtomic, 1, 0, 2).ok());
}

TEST(WatermarkBoundary, HighOrderNeedsABlockOfTheOrder) {
  // 1200 free pages, all as order-0 blocks (every other page): enough pages, no order-1 block.
  ModelConfig c = one_zone(4096, Watermarks{100, 125, 150, 175});
  c.tunables.reclaim = ReclaimPolicy::Fail;
  Model m(c);
  std::vector<FreeRun> r;
  for (std::uint64_t p = 0; p < 2400; p += 2) {
    r.push_back(FreeRun{Pfn{p}, 1});
  }
  m.seed(runs(r));
  EXPECT_EQ(m.allocate(kGfpAtomic, 1, 0, 1).failure, AllocFailure::Fragmentation);
  EXPECT_TRUE(m.allocate(kGfpAtomic, 0, 0, 1).ok());
}

// §6.3 example: 16 GiB, min_free_kbytes 67584, Normal managed 3145728 of 4063000 lowmem.
TEST(WatermarkSetup, KernelExample) {
  const std::vector<ZoneSize> zones{{ZoneType::Dma, 3840}, {ZoneType::Dma32, 913432}, {ZoneType::Normal, 3145728}};
  const auto wm = setup_per_zone_wmarks(zones, 67584, 10, 4096);
  ASSERT_EQ(wm.size(), 3u);
  // pages_min 16896; Normal tmp = 16896 * 3145728 / 4063000 = 13081; d = max(3270, 3145).
  EXPECT_EQ(wm[2].min, 13081u);
  EXPECT_EQ(wm[2].low, 13081u + 3270u);
  EXPECT_EQ(wm[2].high, 13081u + 2 * 3270u);
  EXPECT_EQ(wm[2].promo, 13081u + 3 * 3270u);
  // DMA: 16896 * 3840 / 4063000 = 15, d = max(3, 3).
  EXPECT_EQ(wm[0].min, 15u);
  EXPECT_EQ(wm[0].low, 18u);
}

TEST(WatermarkSetup, MovableAndHighmemMinIsClamped) {
  const std::vector<ZoneSize> zones{{ZoneType::Normal, 1000000}, {ZoneType::Movable, 0}, {ZoneType::Movable, 500000}};
  const auto wm = setup_per_zone_wmarks(zones, 4096, 10, 4096);
  EXPECT_EQ(wm[1].min, 32u);  // SWAP_CLUSTER_MAX
  EXPECT_EQ(wm[1].low, 32u);
  EXPECT_EQ(wm[2].min, 128u);  // 500000 / 1024 = 488 -> 128
  // d still uses the proportional share tmp = 1024 * 500000 / 1000000 = 512: max(512 / 4, 500).
  EXPECT_EQ(wm[2].low, 128u + 500u);
}

TEST(WatermarkSetup, LowmemReserveRatios) {
  // This machine's layout: DMA 3840, DMA32 772808, Normal 360448, Movable 0.
  const std::vector<ZoneSize> node{{ZoneType::Dma, 3840}, {ZoneType::Dma32, 772808}, {ZoneType::Normal, 360448},
                                   {ZoneType::Movable, 0}};
  const auto lr = setup_per_zone_lowmem_reserve(node, {256, 256, 32, 0, 0, 0});
  EXPECT_EQ(lr[0][index_of(ZoneType::Dma32)], 772808u / 256);
  EXPECT_EQ(lr[0][index_of(ZoneType::Normal)], (772808u + 360448u) / 256);
  EXPECT_EQ(lr[0][index_of(ZoneType::Movable)], (772808u + 360448u) / 256);
  EXPECT_EQ(lr[1][index_of(ZoneType::Normal)], 360448u / 256);
  EXPECT_EQ(lr[1][index_of(ZoneType::Dma)], 0u);
  EXPECT_EQ(lr[2][index_of(ZoneType::Movable)], 0u);  // Movable has no pages
}

TEST(WatermarkSetup, MinFreeKbytes) {
  // Kernel comment: 1 GiB of lowmem -> 4096 KiB, 16 GiB -> 16384 KiB.
  EXPECT_EQ(calculate_min_free_kbytes(262144, 4096), 4096u);
  EXPECT_EQ(calculate_min_free_kbytes(4194304, 4096), 16384u);
  EXPECT_EQ(calculate_min_free_kbytes(10, 4096), 128u);
  EXPECT_EQ(int_sqrt(99), 9u);
  EXPECT_EQ(int_sqrt(100), 10u);
  EXPECT_EQ(int_sqrt(~std::uint64_t{0}), 0xffffffffu);
  // THP with DMA, DMA32 and Normal: 11 * 512 * 3 pages = 67584 KiB (§6.2).
  EXPECT_EQ(thp_recommended_min_free_kbytes(3, 9, 4000000, 4096), 67584u);
  EXPECT_EQ(thp_recommended_min_free_kbytes(3, 9, 100000, 4096), 100000u / 20 * 4);
}

TEST(WatermarkSetup, PcpBatchAndHigh) {
  EXPECT_EQ(zone_batchsize(772808, 4096), 63);  // min(754, 256) / 4 = 64 -> 96 -> 64 - 1
  EXPECT_EQ(zone_batchsize(3840, 4096), 1);     // 3 / 4 = 0 -> 1 -> 0 -> max(1, 0)
  EXPECT_EQ(zone_batchsize(20000, 4096), 3);    // 19 / 4 = 4 -> 6 -> 4 - 1
  const PcpLimits l = pcp_limits(772808, 14353, 4096, 2, 0);
  EXPECT_EQ(l.batch, 63);
  EXPECT_EQ(l.high_min, 7176);   // low / 2 CPUs
  EXPECT_EQ(l.high_max, 48300);  // managed / 8 / 2
  const PcpLimits dma = pcp_limits(3840, 71, 4096, 2, 0);
  EXPECT_EQ(dma.high_min, 35);
  EXPECT_EQ(dma.high_max, 240);
  EXPECT_EQ(zone_highsize(10, 63, 2), 252);  // at least 4 * batch
  const PcpLimits frac = pcp_limits(800000, 1000, 4096, 4, 100);
  EXPECT_EQ(frac.high_min, 2000);
  EXPECT_EQ(frac.high_max, 2000);
}

TEST(WatermarkSetup, Boost) {
  // mult_frac(high 1000, 15000, 10000) = 1500 >= 512: boost grows by a pageblock up to 1500.
  EXPECT_EQ(boosted_watermark(0, 1000, 100000, 15000, 9), 512u);
  EXPECT_EQ(boosted_watermark(1024, 1000, 100000, 15000, 9), 1500u);
  // Small zone (4 pageblocks > managed), no boost factor, or no high watermark: none.
  EXPECT_FALSE(boosted_watermark(0, 1000, 2047, 15000, 9).has_value());
  EXPECT_FALSE(boosted_watermark(0, 1000, 100000, 0, 9).has_value());
  EXPECT_FALSE(boosted_watermark(0, 0, 100000, 15000, 9).has_value());
  // A small max_boost is raised to one pageblock.
  EXPECT_EQ(boosted_watermark(0, 10, 100000, 15000, 9), 512u);
  EXPECT_EQ(mult_frac(7, 3, 2), 10u);
}

TEST(WatermarkSetup, ModelComputesWhatIsNotGiven) {
  ModelConfig c;
  ZoneConfig z;
  z.type = ZoneType::Normal;
  z.spanned_pages = z.managed_pages = 262144;  // 1 GiB
  c.zones.push_back(z);
  c.nr_cpus = 2;
  Model m(c);
  // min_free_kbytes = 4096 -> 1024 pages, all in this zone; d = max(256, 262).
  EXPECT_EQ(m.watermarks(0).min, 1024u);
  EXPECT_EQ(m.watermarks(0).low, 1024u + 262u);
  EXPECT_EQ(m.pcp_limits(0).batch, 63);
  EXPECT_EQ(m.pcp_limits(0).high_min, (1024 + 262) / 2);
  // A what-if: double min_free_kbytes.
  Tunables t = m.tunables();
  t.min_free_kbytes = 8192;
  m.set_tunables(t);
  m.recompute_reserves();
  EXPECT_EQ(m.watermarks(0).min, 2048u);
}

}  // namespace
}  // namespace labyrinth::allocator::testing

namespace labyrinth::allocator::testing {
namespace {

// What __alloc_pages reads from the task (mm/page_alloc.c:gfp_to_alloc_flags,
// __gfp_pfmemalloc_flags), on the zone above (min 1000), reclaim left out so that only the
// flags decide.
TaskContext task_with(bool memalloc, bool realtime, bool oom_victim, bool in_task = true, bool softirq = false) {
  TaskContext t;
  t.in_task = in_task;
  t.in_serving_softirq = softirq;
  t.memalloc = memalloc;
  t.realtime = realtime;
  t.oom_victim = oom_victim;
  return t;
}

TEST(GfpFlags, TheTaskAddsItsReserves) {
  using namespace alloc;
  const TaskContext rt = task_with(false, true, false);
  EXPECT_EQ(slow_path_alloc_flags(kGfpKernel, 0, kGfp, false, rt), kWmarkMin | kCpuset | kKswapd | kMinReserve);
  // Only a task that may reclaim, in task context, gets it.
  EXPECT_EQ(slow_path_alloc_flags(kGfpNowait, 0, kGfp, false, rt), kWmarkMin | kNonBlock | kKswapd | kCpuset);
  EXPECT_EQ(slow_path_alloc_flags(kGfpKernel, 0, kGfp, false, task_with(false, true, false, false, true)),
            kWmarkMin | kCpuset | kKswapd);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel, kGfp, task_with(true, false, false)), kNoWatermarks);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpAtomic, kGfp, task_with(true, false, false, false, true)), kNoWatermarks);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpAtomic, kGfp, task_with(true, false, false, false, false)), 0u);  // hard irq
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel | kGfp.nomemalloc, kGfp, task_with(true, false, false)), 0u);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel, kGfp, task_with(false, false, true)), kOom);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpAtomic, kGfp, task_with(false, false, true, false, true)), 0u);
  EXPECT_EQ(pfmemalloc_alloc_flags(kGfpKernel, kGfp, task_with(true, false, true)), kNoWatermarks);
}

// ALLOC_MIN_RESERVE: min - min / 2 = 500, so GFP_KERNEL of a real-time task needs free > 500.
TEST(WatermarkBoundary, ARealTimeTaskGoesDownToHalfOfMin) {
  const TaskContext rt = task_with(false, true, false);
  EXPECT_TRUE(zone_with_free(501, ReclaimPolicy::Fail).allocate(kGfpKernel, 0, 0, 1, rt).ok());
  EXPECT_EQ(zone_with_free(500, ReclaimPolicy::Fail).allocate(kGfpKernel, 0, 0, 1, rt).failure,
            AllocFailure::Watermark);
  EXPECT_EQ(zone_with_free(501, ReclaimPolicy::Fail).allocate(kGfpKernel, 0, 0, 1).failure, AllocFailure::Watermark);
  Model m = zone_with_free(700, ReclaimPolicy::Fail);
  EXPECT_EQ(m.check_request(kGfpKernel, 0, 0, rt).slow.effective_min, 500);
}

// ALLOC_OOM: min - min / 2 as well, on the retry after the plain slow-path attempt.
TEST(WatermarkBoundary, AnOomVictimGoesDownToHalfOfMin) {
  const TaskContext victim = task_with(false, false, true);
  const AllocResult r = zone_with_free(501, ReclaimPolicy::Fail).allocate(kGfpKernel, 0, 0, 1, victim);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.watermark_missed);
  EXPECT_EQ(zone_with_free(500, ReclaimPolicy::Fail).allocate(kGfpKernel, 0, 0, 1, victim).failure,
            AllocFailure::Watermark);
}

// PF_MEMALLOC ignores the watermarks (reclaim's own allocations), in a task or in a softirq
// serving one, not in a hard irq; and it never reclaims (no recursion into reclaim).
TEST(WatermarkBoundary, PfMemallocIgnoresTheWatermarks) {
  Model m = zone_with_free(10);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1, task_with(true, false, false));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::NoWatermarks);
  EXPECT_EQ(m.counters().direct_reclaims, 0u);
  EXPECT_TRUE(zone_with_free(10).allocate(kGfpAtomic, 0, 0, 1, task_with(true, false, false, false, true)).ok());
  EXPECT_EQ(zone_with_free(10).allocate(kGfpAtomic, 0, 0, 1, task_with(true, false, false, false, false)).failure,
            AllocFailure::Watermark);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
