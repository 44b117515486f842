// The outcome of mm/page_alloc.c:__alloc_pages_slowpath for requests that may direct-reclaim
// (docs/kernel-rules.md §4.4), hand-computed from __alloc_pages_direct_reclaim,
// should_reclaim_retry, __alloc_pages_may_oom and the __GFP_NOFAIL fallback. The zone has min
// 1000 (low 1250, high 1500); the pages outside its one free run are allocated before the
// model started, and a test reclaimer frees them one by one from pfn 0.
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

class SeedReclaimer final : public Reclaimer {
 public:
  SeedReclaimer(Model& m, std::uint64_t budget, std::uint64_t reported) : m_(m), budget_(budget), reported_(reported) {}
  std::uint64_t reclaim(std::uint16_t, std::uint64_t pages, unsigned cpu) override {
    ++calls;
    std::uint64_t n = 0;
    for (; n < pages && budget_ != 0; ++n, --budget_) {
      EXPECT_TRUE(m_.free(Pfn{next_++}, 0, cpu).ok());
    }
    reported_ -= std::min(reported_, n);
    return n;
  }
  [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t) const override { return reported_; }
  unsigned calls = 0;

 private:
  Model& m_;
  std::uint64_t budget_;    // pages it can really free
  std::uint64_t reported_;  // what zone_reclaimable_pages says
  std::uint64_t next_ = 0;
};

Model zone_with_free(std::uint64_t free, PcpMode pcp = PcpMode::Off) {
  ModelConfig c = one_zone(4096, Watermarks{1000, 1250, 1500, 1750});
  c.tunables.pcp = pcp;
  Model m(c);
  m.seed(runs({FreeRun{Pfn{4096 - free}, free}}));
  return m;
}

// At min (1000 free, the check needs free > min) GFP_KERNEL reclaims SWAP_CLUSTER_MAX (32)
// pages once and is served: 1032 > 1000.
TEST(SlowPathReclaim, ReclaimsOneClusterThenServes) {
  Model m = zone_with_free(1000);
  SeedReclaimer rec(m, 1000, 1000);
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Reclaimed);
  EXPECT_FALSE(r.watermark_missed);
  EXPECT_EQ(rec.calls, 1u);
  EXPECT_EQ(m.counters().direct_reclaimed_pages, 32u);
  EXPECT_EQ(m.nr_free_pages(0), 1031u);
  expect_consistent(m);
}

// Reclaimed pages land on the per-CPU lists (pcp on), so the retry after reclaim still sees
// 1000 free; the slow path then drains every pcp list once and is served from the buddy lists.
TEST(SlowPathReclaim, DrainsThePcpListsAfterReclaim) {
  Model m = zone_with_free(1000, PcpMode::Manual);
  SeedReclaimer rec(m, 1000, 1000);
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Reclaimed);
  EXPECT_EQ(m.counters().reclaim_drains, 1u);
  EXPECT_EQ(m.pcp_pages(0), 0u);
  EXPECT_EQ(m.nr_free_pages(0), 1031u);
  expect_consistent(m);
}

// Nothing reclaimable: GFP_KERNEL order 0 is what the OOM killer serves (the kernel does not
// fail it); __GFP_NORETRY and __GFP_RETRY_MAYFAIL fail on the watermark.
TEST(SlowPathReclaim, NothingReclaimable) {
  {
    Model m = zone_with_free(1000);
    const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, AllocPath::OomKill);
    EXPECT_TRUE(r.watermark_missed);
    EXPECT_EQ(m.counters().oom_kills, 1u);
  }
  for (const Gfp extra : {kGfp.noretry, kGfp.retry_mayfail}) {
    Model m = zone_with_free(1000);
    const AllocResult r = m.allocate(kGfpKernel | extra, 0, 0, 1);
    EXPECT_EQ(r.failure, AllocFailure::Watermark);
    EXPECT_EQ(m.counters().reclaim_failures, 1u);
    EXPECT_EQ(m.nr_free_pages(0), 1000u);
  }
  // The OOM killer is not used for the DMA zone alone (ac->highest_zoneidx < ZONE_NORMAL).
  ModelConfig c = one_zone(4096, Watermarks{1000, 1250, 1500, 1750}, 0, ZoneType::Dma);
  Model dma(c);
  dma.seed(runs({FreeRun{Pfn{3096}, 1000}}));
  EXPECT_EQ(dma.allocate(kGfpKernel | kGfp.dma, 0, 0, 1).failure, AllocFailure::Watermark);
}

// Nothing reclaimable, and one highatomic pageblock holding 512 of the 1400 free pages:
// GFP_KERNEL may not use them (888 <= 1000). should_reclaim_retry finds no zone that could pass
// (1400 - 512 + 0 reclaimable), and before OOM gives the pageblock back with force (the last
// one of the zone, which the unforced unreserve keeps): the retry is served, 1400 > 1000, and
// no OOM kill. __GFP_NORETRY never gets there: it fails on the reserve, the block kept.
TEST(SlowPathReclaim, BeforeOomTheLastHighatomicPageblockIsGivenBack) {
  const auto with_reserve = [] {
    Model m(one_zone(4096, Watermarks{1000, 1250, 1500, 1750}));
    Snapshot s = runs({FreeRun{Pfn{512}, 512}, FreeRun{Pfn{2048}, 888}});
    s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
    m.seed(s);
    EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 512u);
    return m;
  };
  Model m = with_reserve();
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Reclaimed);
  EXPECT_FALSE(r.watermark_missed);
  EXPECT_EQ(m.counters().reclaim_unreserves, 1u);
  EXPECT_EQ(m.counters().oom_kills, 0u);
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 0u);
  EXPECT_EQ(m.pageblock_type(Pfn{512}), MigrateType::Unmovable);
  expect_consistent(m);

  Model noretry = with_reserve();
  EXPECT_EQ(noretry.allocate(kGfpKernel | kGfp.noretry, 0, 0, 1).failure, AllocFailure::ReserveOnly);
  EXPECT_EQ(noretry.counters().reclaim_unreserves, 0u);
  EXPECT_EQ(noretry.pageblock_type(Pfn{512}), MigrateType::HighAtomic);
}

// A reclaimer that reports 500 reclaimable pages but frees none: should_reclaim_retry retries
// while free + reclaimable passes min, until no_progress_loops > MAX_RECLAIM_RETRIES (16): 17
// reclaim attempts, then (no highatomic to give back) the OOM killer.
TEST(SlowPathReclaim, NoProgressRetriesSixteenTimesThenOom) {
  Model m = zone_with_free(1000);
  SeedReclaimer rec(m, 0, 500);
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::OomKill);
  EXPECT_EQ(rec.calls, 17u);
}

// Progress made outside the model (Reclaimer::progressed: a replay whose recording holds the
// kernel's reclaim) leads to the drain and the highatomic unreserve, but it changes nothing in
// the model, so it does not reset no_progress_loops: 17 attempts, then the OOM killer, as
// without progress (a reset would retry for ever while 500 pages stay "reclaimable"). Each
// attempt is a call of __alloc_pages_direct_reclaim, whose `drained` is its own: 17 drains.
TEST(SlowPathReclaim, ProgressOutsideTheModelDoesNotRetryForEver) {
  class OutsideProgress final : public Reclaimer {
   public:
    std::uint64_t reclaim(std::uint16_t, std::uint64_t, unsigned) override {
      ++calls;
      return 0;
    }
    [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t) const override { return 500; }
    [[nodiscard]] bool progressed(std::uint16_t) const override { return true; }
    unsigned calls = 0;
  };
  Model m = zone_with_free(1000, PcpMode::Manual);
  OutsideProgress rec;
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::OomKill);
  EXPECT_EQ(rec.calls, 17u);
  EXPECT_EQ(m.counters().reclaim_drains, 17u);
}

// The recording says the kernel served this GFP_KERNEL request after 3 direct reclaims of its
// own that freed pages (Reclaimer::kernel_reclaim_rounds; their frees are applied already), so
// its should_reclaim_retry kept resetting on that progress and never reached the forced
// give-back. The model, 1400 - 512 = 888 <= 1000 short of min as in the test above, reclaims 3
// rounds, each followed by one drain and one unforced unreserve, which keeps the zone's only
// pageblock (it is the last); then it serves the request as the kernel did, below min, the
// reserve kept and no OOM kill. Without the kernel's rounds it gives the pageblock back.
TEST(SlowPathReclaim, TheKernelsReclaimRoundsServeWithoutTheForcedGiveBack) {
  class KernelRounds final : public Reclaimer {
   public:
    explicit KernelRounds(unsigned rounds) : rounds_(rounds) {}
    std::uint64_t reclaim(std::uint16_t, std::uint64_t, unsigned) override {
      ++calls;
      return 0;
    }
    [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t) const override { return 0; }
    [[nodiscard]] bool progressed(std::uint16_t) const override { return true; }
    [[nodiscard]] unsigned kernel_reclaim_rounds() const override { return rounds_; }
    unsigned calls = 0;

   private:
    unsigned rounds_;
  };
  const auto with_reserve = [] {
    Model m(one_zone(4096, Watermarks{1000, 1250, 1500, 1750}));
    Snapshot s = runs({FreeRun{Pfn{512}, 512}, FreeRun{Pfn{2048}, 888}});
    s.pageblock_types.push_back(PageblockType{Pfn{512}, MigrateType::HighAtomic});
    m.seed(s);
    return m;
  };
  Model m = with_reserve();
  KernelRounds rec(3);
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpKernel, 0, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Reclaimed);
  EXPECT_TRUE(r.watermark_missed);
  EXPECT_EQ(rec.calls, 3u);
  EXPECT_EQ(m.counters().reclaim_drains, 3u);
  EXPECT_EQ(m.counters().reclaim_unreserves, 0u);
  EXPECT_EQ(m.counters().served_after_kernel_reclaim, 1u);
  EXPECT_EQ(m.counters().oom_kills, 0u);
  EXPECT_EQ(m.metrics(0).nr_reserved_highatomic, 512u);
  EXPECT_EQ(m.nr_free_pages(0), 1399u);
  expect_consistent(m);

  Model unknown = with_reserve();
  KernelRounds none(0);
  unknown.set_reclaimer(&none);
  ASSERT_TRUE(unknown.allocate(kGfpKernel, 0, 0, 1).ok());
  EXPECT_EQ(unknown.counters().reclaim_unreserves, 1u);
  EXPECT_EQ(unknown.metrics(0).nr_reserved_highatomic, 0u);
}

// Order 4 (costly) subtracts 15 pages: with 980 free, one cluster gives 1012 - 15 = 997 <= 1000.
// Without __GFP_RETRY_MAYFAIL a costly request does not retry: it fails after one pass. With
// it, should_reclaim_retry sees 1012 + 968 reclaimable - 15 > 1000 and a block of order 4, so it
// reclaims again: 1044 - 15 = 1029 > 1000.
TEST(SlowPathReclaim, CostlyOrdersRetryOnlyWithRetryMayfail) {
  {
    Model m = zone_with_free(980);
    SeedReclaimer rec(m, 1000, 1000);
    m.set_reclaimer(&rec);
    const AllocResult r = m.allocate(kGfpKernel, 4, 0, 1);
    EXPECT_EQ(r.failure, AllocFailure::Watermark);
    EXPECT_EQ(rec.calls, 1u);
    EXPECT_EQ(m.nr_free_pages(0), 1012u);
  }
  {
    Model m = zone_with_free(980);
    SeedReclaimer rec(m, 1000, 1000);
    m.set_reclaimer(&rec);
    const AllocResult r = m.allocate(kGfpKernel | kGfp.retry_mayfail, 4, 0, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, AllocPath::Reclaimed);
    EXPECT_EQ(rec.calls, 2u);
    EXPECT_EQ(m.nr_free_pages(0), 1044u - 16u);
    expect_consistent(m);
  }
}

// __GFP_NOFAIL never fails: a costly request (no OOM killer) with nothing reclaimable is served
// by the ALLOC_MIN_RESERVE fallback (min 500: 1000 - 15 > 500).
TEST(SlowPathReclaim, NofailNeverFails) {
  Model m = zone_with_free(1000);
  const AllocResult r = m.allocate(kGfpKernel | kGfp.nofail, 4, 0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::NoFail);
  EXPECT_EQ(m.counters().nofail_forced, 1u);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
