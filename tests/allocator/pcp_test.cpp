// Per-cpu lists (docs/kernel-rules.md §7.1, §7.2): refill by nr_pcp_alloc, LIFO reuse, drain by
// nr_pcp_high / nr_pcp_free / free_pcppages_bulk, HighAtomic and Isolate pageblocks, and the
// explicit refill/drain operations of mirror replay.
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

ModelConfig pcp_zone(PcpMode mode, unsigned cpus = 1) {
  ModelConfig c = one_zone(4096);
  c.zones[0].pcp = PcpLimits{4, 16, 16, false};
  c.tunables.pcp = mode;
  c.nr_cpus = cpus;
  return c;
}

TEST(Pcp, FirstAllocationRefillsABatch) {
  Model m(pcp_zone(PcpMode::Auto));
  // nr_pcp_alloc(): batch 4 << alloc_factor 0, limited to max(16 - 0 - 4, 4): 4 blocks.
  const AllocResult a = m.allocate(kGfpMovable, 0, 0, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.pfn, Pfn{0});
  EXPECT_EQ(a.source, BlockSource::Pcp);
  EXPECT_EQ(m.nr_free_pages(0), 4096u - 4);
  EXPECT_EQ(m.pcp_pages(0), 3u);
  EXPECT_EQ(m.counters().pcp_refills, 1u);
  // The refilled blocks were appended in the order __rmqueue returned them.
  EXPECT_EQ(m.allocate(kGfpMovable, 0, 0, 2).pfn, Pfn{1});
  EXPECT_EQ(m.counters().pcp_refills, 1u);
  expect_consistent(m);
}

TEST(Pcp, FreedPagesAreReusedFirst) {
  Model m(pcp_zone(PcpMode::Auto));
  const AllocResult a = m.allocate(kGfpMovable, 0, 0, 1);
  const FreeResult f = m.free(a.pfn, 0, 0);
  EXPECT_EQ(f.status, FreeStatus::Freed);
  EXPECT_TRUE(f.to_pcp);
  EXPECT_EQ(m.block_containing(a.pfn)->state, BlockState::Pcp);
  EXPECT_EQ(m.nr_free_pages(0), 4096u - 4);  // pcp pages are not NR_FREE_PAGES
  EXPECT_EQ(m.allocate(kGfpMovable, 0, 0, 2).pfn, a.pfn);  // hot page, head of the list
  // Each type has its own list: an unmovable request refills its own.
  EXPECT_EQ(m.allocate(kGfpKernel, 0, 0, 3).source, BlockSource::Pcp);
  EXPECT_EQ(m.counters().pcp_refills, 2u);
  expect_consistent(m);
}

// 20 order-0 frees with batch 4, high 16: the 16th free reaches high with free_count 16 and
// drains clamp(16, 4, 16 - 4) = 12 pages, oldest first; the last 4 frees stay on the list.
TEST(Pcp, ReachingHighDrainsTheOldestPages) {
  Model m(pcp_zone(PcpMode::Auto));
  for (std::uint64_t p = 100; p < 120; ++p) {
    ASSERT_TRUE(m.carve(Pfn{p}, 0, MigrateType::Movable, p).ok());
  }
  for (std::uint64_t p = 100; p < 120; ++p) {
    ASSERT_EQ(m.free(Pfn{p}, 0, 0).status, FreeStatus::Freed);
  }
  EXPECT_EQ(m.counters().pcp_drained_pages, 12u);
  EXPECT_EQ(m.pcp_count(0, 0), 8u);
  for (std::uint64_t p = 100; p < 112; ++p) {
    EXPECT_EQ(m.block_containing(Pfn{p})->state, BlockState::Free) << p;
  }
  for (std::uint64_t p = 112; p < 120; ++p) {
    EXPECT_EQ(m.block_containing(Pfn{p})->state, BlockState::Pcp) << p;
  }
  EXPECT_EQ(m.drain_cpu(0), 8u);
  EXPECT_EQ(m.pcp_pages(0), 0u);
  EXPECT_EQ(buddyinfo(m, 0)[10], 4u);  // everything merged back
  expect_consistent(m);
}

TEST(Pcp, ListsArePerCpu) {
  Model m(pcp_zone(PcpMode::Auto, 2));
  const AllocResult a = m.allocate(kGfpMovable, 0, 1, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(m.pcp_count(0, 1), 3u);
  EXPECT_EQ(m.pcp_count(0, 0), 0u);
  ASSERT_TRUE(m.free(a.pfn, 0, 0).to_pcp);
  EXPECT_EQ(m.block_containing(a.pfn)->cpu, 0);
  EXPECT_EQ(m.allocate(kGfpMovable, 0, 5, 1).failure, AllocFailure::InvalidCpu);
  EXPECT_EQ(m.drain_all(), 4u);
  expect_consistent(m);
}

TEST(Pcp, HighAtomicPagesUseTheMovableListAndReturnToTheirBlock) {
  Model m(pcp_zone(PcpMode::Auto));
  ASSERT_TRUE(m.carve(Pfn{600}, 0, MigrateType::Unmovable, 1).ok());
  ASSERT_EQ(m.change_pageblock_type(Pfn{600}, MigrateType::HighAtomic).status, PageblockStatus::Changed);
  ASSERT_TRUE(m.free(Pfn{600}, 0, 0).to_pcp);
  EXPECT_EQ(m.block_containing(Pfn{600})->migratetype, MigrateType::Movable);
  m.drain_cpu(0);
  EXPECT_EQ(m.block_containing(Pfn{600})->migratetype, MigrateType::HighAtomic);
  EXPECT_EQ(m.metrics(0).nr_free_highatomic, 512u);
  expect_consistent(m);
}

TEST(Pcp, IsolatedPageblocksBypassTheLists) {
  Model m(pcp_zone(PcpMode::Auto));
  ASSERT_TRUE(m.carve(Pfn{1024}, 0, MigrateType::Movable, 1).ok());
  ASSERT_EQ(m.change_pageblock_type(Pfn{1024}, MigrateType::Isolate).status, PageblockStatus::Changed);
  const std::uint64_t before = m.nr_free_pages(0);
  EXPECT_EQ(before, 4096u - 512);  // isolated free pages are not NR_FREE_PAGES
  const FreeResult f = m.free(Pfn{1024}, 0, 0);
  EXPECT_FALSE(f.to_pcp);
  EXPECT_EQ(m.nr_free_pages(0), before);
  EXPECT_EQ(m.block_containing(Pfn{1024})->migratetype, MigrateType::Isolate);
  expect_consistent(m);
}

TEST(Pcp, HighOrderPcpAndThpLists) {
  Model m(pcp_zone(PcpMode::Auto));
  const AllocResult a = m.allocate(kGfpMovable, 3, 0, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.source, BlockSource::Pcp);  // order 3 has pcp lists; refill batch max(4 >> 3, 2)
  EXPECT_EQ(m.pcp_pages(0), 8u);
  const AllocResult thp = m.allocate(kGfpMovable, 9, 0, 2);  // HPAGE_PMD_ORDER list
  ASSERT_TRUE(thp.ok());
  EXPECT_EQ(thp.source, BlockSource::Pcp);
  const AllocResult big = m.allocate(kGfpMovable, 4, 0, 3);  // no pcp list for order 4
  EXPECT_EQ(big.source, BlockSource::Buddy);
  expect_consistent(m);
}

TEST(Pcp, ManualModeFollowsRecordedRefillsAndDrains) {
  Model m(pcp_zone(PcpMode::Manual));
  // mm_page_alloc_zone_locked(pfn 40, order 0, percpu_refill) then mm_page_alloc of pfn 40.
  EXPECT_EQ(m.pcp_refill(Pfn{40}, 0, 0, MigrateType::Movable).status, PcpStatus::Moved);
  EXPECT_EQ(m.nr_free_pages(0), 4095u);
  EXPECT_EQ(m.pcp_refill(Pfn{40}, 0, 0, MigrateType::Movable).status, PcpStatus::NotInBuddy);
  const CarveResult c = m.carve(Pfn{40}, 0, MigrateType::Movable, 1);
  EXPECT_EQ(c.status, CarveStatus::CarvedFromPcp);
  EXPECT_EQ(m.pcp_pages(0), 0u);
  // Frees go to the list and stay there beyond high: only recorded drains move them.
  for (std::uint64_t p = 200; p < 230; ++p) {
    ASSERT_TRUE(m.carve(Pfn{p}, 0, MigrateType::Movable, p).ok());
    ASSERT_TRUE(m.free(Pfn{p}, 0, 0).to_pcp);
  }
  EXPECT_EQ(m.pcp_pages(0), 30u);
  EXPECT_EQ(m.pcp_drain(Pfn{200}, 0).status, PcpStatus::Moved);
  EXPECT_EQ(m.block_containing(Pfn{200})->state, BlockState::Free);
  EXPECT_EQ(m.pcp_drain(Pfn{200}, 0).status, PcpStatus::NotOnPcp);
  EXPECT_EQ(m.pcp_drain(Pfn{201}, 1).status, PcpStatus::InvalidOrder);
  EXPECT_EQ(m.pcp_refill(Pfn{64}, 4, 0, MigrateType::Movable).status, PcpStatus::NotPcpOrder);
  EXPECT_EQ(m.pcp_refill(Pfn{64}, 0, 3, MigrateType::Movable).status, PcpStatus::InvalidCpu);
  // In manual mode an allocation takes a listed page but never refills.
  const AllocResult a = m.allocate(kGfpMovable, 0, 0, 9);
  EXPECT_EQ(a.pfn, Pfn{229});
  EXPECT_EQ(m.allocate(kGfpKernel, 0, 0, 9).source, BlockSource::Claim);
  expect_consistent(m);
}

// The lists follow the kernel's: a request whose recorded page the model cannot give (here
// allocated) takes the list's last block, not its first, which is the page the kernel hands out
// next. With its own lists (Auto) the model takes the first, as the kernel would.
TEST(Pcp, AMissedPreferenceTakesTheLastBlockOfListsThatFollowTheKernels) {
  for (const PcpMode mode : {PcpMode::Manual, PcpMode::Auto}) {
    Model m(pcp_zone(mode));
    ASSERT_TRUE(m.carve(Pfn{300}, 0, MigrateType::Movable, 1).ok());
    for (std::uint64_t p = 40; p < 43; ++p) {
      ASSERT_EQ(m.pcp_refill(Pfn{p}, 0, 0, MigrateType::Movable).status, PcpStatus::Moved);  // appended: 40 41 42
    }
    const AllocResult a = m.allocate(kGfpMovable, 0, 0, 2, Pfn{300});
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.pfn, Pfn{mode == PcpMode::Manual ? 42u : 40u});
    EXPECT_EQ(m.allocate(kGfpMovable, 0, 0, 3, Pfn{41}).pfn, Pfn{41});  // the recorded page where it is listed
    expect_consistent(m);
  }
}

TEST(Pcp, SwitchingPcpOffDrainsTheLists) {
  Model m(pcp_zone(PcpMode::Auto));
  ASSERT_TRUE(m.allocate(kGfpMovable, 0, 0, 1).ok());
  ASSERT_EQ(m.pcp_pages(0), 3u);
  Tunables t = m.tunables();
  t.pcp = PcpMode::Off;
  m.set_tunables(t);
  EXPECT_EQ(m.pcp_pages(0), 0u);
  EXPECT_EQ(m.nr_free_pages(0), 4095u);
  expect_consistent(m);
}

TEST(Pcp, OffModeFreesStraightToBuddy) {
  Model m(pcp_zone(PcpMode::Off));
  const AllocResult a = m.allocate(kGfpMovable, 0, 0, 1);
  EXPECT_EQ(a.source, BlockSource::Buddy);
  EXPECT_FALSE(m.free(a.pfn, 0, 0).to_pcp);
  EXPECT_EQ(m.pcp_refill(Pfn{0}, 0, 0, MigrateType::Movable).status, PcpStatus::Disabled);
  expect_consistent(m);
}


// A preferred block on a per-CPU list is taken off it, with no refill.
TEST(Pcp, APreferredBlockIsTakenOffItsList) {
  Model m(pcp_zone(PcpMode::Auto));
  ASSERT_EQ(m.allocate(kGfpMovable, 0, 0, 1).pfn, Pfn{0});  // refills 1, 2, 3 onto the list
  ASSERT_EQ(m.pcp_pages(0), 3u);
  const AllocResult r = m.allocate(kGfpMovable, 0, 0, 2, Pfn{3});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{3});
  EXPECT_EQ(r.source, BlockSource::Pcp);
  EXPECT_EQ(m.pcp_pages(0), 2u);
  EXPECT_EQ(m.counters().pcp_refills, 1u);
  expect_consistent(m);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
