// Buddy splitting and merging, carving, freeing and their typed errors, seeding
// (docs/kernel-rules.md §8.3 expand, §9.1 __free_one_page, §12.2).
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

std::vector<std::uint64_t> one_per_order_below(unsigned n) {
  std::vector<std::uint64_t> v(11, 0);
  for (unsigned o = 0; o < n; ++o) {
    v[o] = 1;
  }
  return v;
}

TEST(BuddySplit, AllocationSplitsTheSmallestBlockAndKeepsTheLowestPages) {
  Model m(one_zone(4096));
  ASSERT_EQ(buddyinfo(m, 0), (std::vector<std::uint64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}));
  const AllocResult r = m.allocate(kGfpMovable, 0, 0, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{0});  // expand() hands out the lowest pages of the first block
  std::vector<std::uint64_t> want = one_per_order_below(10);
  want[10] = 3;
  EXPECT_EQ(buddyinfo(m, 0), want);
  const auto b = m.block_containing(Pfn{0});
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state, BlockState::Allocated);
  EXPECT_EQ(b->owner, 7u);
  EXPECT_EQ(m.block_containing(Pfn{512})->order, 9);  // the upper half of each split
  EXPECT_EQ(m.block_containing(Pfn{1})->order, 0);
  expect_consistent(m);
}

TEST(BuddyMerge, FreeMergesBackToMaxOrder) {
  Model m(one_zone(4096));
  const AllocResult r = m.allocate(kGfpMovable, 3, 0, 7);
  ASSERT_TRUE(r.ok());
  const FreeResult f = m.free(r.pfn, 3, 0);
  EXPECT_EQ(f.status, FreeStatus::Freed);
  EXPECT_EQ(f.owner, 7u);
  EXPECT_EQ(buddyinfo(m, 0), (std::vector<std::uint64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}));
  expect_consistent(m);
}

// free_list() names the blocks of one list: an allocation of pfn 0 splits the first order-10
// block, whose upper halves go to the head of each lower order's movable list.
TEST(BuddySplit, FreeListNamesTheHeadsOfOneListsBlocks) {
  Model m(one_zone(4096));
  EXPECT_EQ(m.free_list(0, 10, MigrateType::Movable).size(), 4u);
  ASSERT_TRUE(m.allocate(kGfpMovable, 0, 0, 7).ok());
  EXPECT_EQ(m.free_list(0, 10, MigrateType::Movable).size(), 3u);
  EXPECT_EQ(m.free_list(0, 9, MigrateType::Movable), (std::vector<Pfn>{Pfn{512}}));
  EXPECT_EQ(m.free_list(0, 0, MigrateType::Movable), (std::vector<Pfn>{Pfn{1}}));
  EXPECT_TRUE(m.free_list(0, 3, MigrateType::Unmovable).empty());
  EXPECT_TRUE(m.free_list(9, 3, MigrateType::Movable).empty());  // no such zone
  EXPECT_TRUE(m.free_list(0, 11, MigrateType::Movable).empty());  // no such order
}

TEST(BuddyMerge, MergeStopsAtAnAllocatedBuddy) {
  Model m(one_zone(4096));
  ASSERT_TRUE(m.carve(Pfn{0}, 0, MigrateType::Movable, 1).ok());
  ASSERT_TRUE(m.carve(Pfn{1}, 0, MigrateType::Movable, 2).ok());
  ASSERT_EQ(m.free(Pfn{1}, 0, 0).status, FreeStatus::Freed);  // buddy 0 still allocated
  EXPECT_EQ(m.block_containing(Pfn{1})->state, BlockState::Free);
  EXPECT_EQ(m.block_containing(Pfn{1})->order, 0);
  ASSERT_EQ(m.free(Pfn{0}, 0, 0).status, FreeStatus::Freed);  // now everything merges
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 10);
  expect_consistent(m);
}

// carve(5, 0) from a free order-10 block: the halves not holding pfn 5 go to the free lists,
// exactly as expand() would have produced them had the kernel picked that block.
TEST(BuddyCarve, CarveSplitsAroundThePfn) {
  Model m(one_zone(1024));
  const CarveResult c = m.carve(Pfn{5}, 0, MigrateType::Unmovable, 9);
  ASSERT_EQ(c.status, CarveStatus::Carved);
  EXPECT_EQ(c.block_order, 10);
  EXPECT_EQ(buddyinfo(m, 0), one_per_order_below(10));
  const std::vector<std::pair<std::uint64_t, int>> blocks{{512, 9}, {256, 8}, {128, 7}, {64, 6}, {32, 5},
                                                          {16, 4},  {8, 3},   {0, 2},   {6, 1},  {4, 0}};
  for (const auto& [pfn, order] : blocks) {
    const auto b = m.block_containing(Pfn{pfn});
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->head, Pfn{pfn});
    EXPECT_EQ(b->order, order);
    EXPECT_EQ(b->state, BlockState::Free);
  }
  // The carved page's type is remembered: the Movable pageblock now holds an Unmovable page.
  EXPECT_EQ(m.metrics(0).mixed_pageblocks, 1u);
  EXPECT_EQ(m.free(Pfn{5}, 0, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.metrics(0).mixed_pageblocks, 0u);
  EXPECT_EQ(buddyinfo(m, 0)[10], 1u);
  expect_consistent(m);
}

TEST(BuddyCarve, TypedErrors) {
  Model m(one_zone(1024, {}, 1024));
  ASSERT_TRUE(m.carve(Pfn{1024 + 8}, 3, MigrateType::Movable, 1).ok());
  const CarveResult twice = m.carve(Pfn{1024 + 8}, 0, MigrateType::Movable, 2);
  EXPECT_EQ(twice.status, CarveStatus::NotFree);
  EXPECT_EQ(twice.owner, 1u);
  EXPECT_EQ(m.carve(Pfn{1024 + 8}, 3, MigrateType::Movable, 2).status, CarveStatus::NotFree);
  EXPECT_EQ(m.carve(Pfn{0}, 0, MigrateType::Movable, 2).status, CarveStatus::OutsideZone);
  EXPECT_EQ(m.carve(Pfn{2048}, 0, MigrateType::Movable, 2).status, CarveStatus::OutsideZone);
  EXPECT_EQ(m.carve(Pfn{1024 + 1}, 1, MigrateType::Movable, 2).status, CarveStatus::InvalidOrder);
  EXPECT_EQ(m.carve(Pfn{1024}, 11, MigrateType::Movable, 2).status, CarveStatus::InvalidOrder);
  EXPECT_EQ(m.carve(Pfn{1024}, 0, MigrateType::HighAtomic, 2).status, CarveStatus::InvalidType);
  // A range that is partly free and partly allocated.
  EXPECT_EQ(m.carve(Pfn{1024}, 4, MigrateType::Movable, 2).status, CarveStatus::RangeMixed);
  expect_consistent(m);
}

TEST(BuddyFree, TypedErrorsLeaveTheModelUnchanged) {
  Model m(one_zone(1024));
  ASSERT_TRUE(m.carve(Pfn{16}, 2, MigrateType::Movable, 3).ok());
  const auto before = buddyinfo(m, 0);
  const FreeResult wrong = m.free(Pfn{16}, 1, 0);
  EXPECT_EQ(wrong.status, FreeStatus::WrongOrder);
  EXPECT_EQ(wrong.allocated_order, 2);
  EXPECT_EQ(wrong.owner, 3u);
  const FreeResult inside = m.free(Pfn{18}, 0, 0);
  EXPECT_EQ(inside.status, FreeStatus::UnknownPage);
  EXPECT_EQ(inside.allocation_head, Pfn{16});
  EXPECT_EQ(m.free(Pfn{100}, 0, 0).status, FreeStatus::DoubleFree);
  EXPECT_EQ(m.free(Pfn{4096}, 0, 0).status, FreeStatus::OutsideZone);
  EXPECT_EQ(m.free(Pfn{17}, 1, 0).status, FreeStatus::InvalidOrder);
  EXPECT_EQ(m.free(Pfn{16}, 2, 5).status, FreeStatus::InvalidCpu);
  EXPECT_EQ(buddyinfo(m, 0), before);
  EXPECT_EQ(m.free(Pfn{16}, 2, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.free(Pfn{16}, 2, 0).status, FreeStatus::DoubleFree);
  expect_consistent(m);
}

TEST(BuddyFree, SplitAllocationAllowsPartialFrees) {
  Model m(one_zone(1024));
  ASSERT_TRUE(m.carve(Pfn{64}, 3, MigrateType::Movable, 4).ok());
  EXPECT_EQ(m.split_allocation(Pfn{64}, 0), SplitStatus::Split);
  for (std::uint64_t p = 64; p < 72; ++p) {
    EXPECT_EQ(m.block_containing(Pfn{p})->owner, 4u);
    EXPECT_EQ(m.free(Pfn{p}, 0, 0).status, FreeStatus::Freed);
  }
  EXPECT_EQ(buddyinfo(m, 0)[10], 1u);
  EXPECT_EQ(m.split_allocation(Pfn{64}, 0), SplitStatus::NotAllocated);
  expect_consistent(m);
}

// A free pageblock merges with a free buddy pageblock of another mergeable type (the buddy's
// pageblock takes our type), never with a HighAtomic one.
TEST(BuddyMerge, PageblockTypesDecideMergesAbovePageblockOrder) {
  Model m(one_zone(1024));
  ASSERT_TRUE(m.carve(Pfn{0}, 9, MigrateType::Unmovable, 1).ok());
  ASSERT_EQ(m.change_pageblock_type(Pfn{0}, MigrateType::Unmovable).status, PageblockStatus::Changed);
  ASSERT_EQ(m.free(Pfn{0}, 9, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 10);
  EXPECT_EQ(m.pageblock_type(Pfn{512}), MigrateType::Unmovable);  // the buddy took our type

  ASSERT_TRUE(m.carve(Pfn{512}, 9, MigrateType::Unmovable, 1).ok());
  ASSERT_EQ(m.change_pageblock_type(Pfn{512}, MigrateType::HighAtomic).status, PageblockStatus::Changed);
  ASSERT_EQ(m.free(Pfn{512}, 9, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 9);
  EXPECT_EQ(m.block_containing(Pfn{512})->migratetype, MigrateType::HighAtomic);
  EXPECT_EQ(m.metrics(0).nr_free_highatomic, 512u);
  expect_consistent(m);
}

// split_large_buddy(): a block above pageblock_order is freed pageblock by pageblock, each piece
// with its own type; a HighAtomic half does not merge back with a Movable one.
TEST(BuddyMerge, LargeFreesAreSplitByPageblock) {
  Model m(one_zone(1024));
  ASSERT_TRUE(m.carve(Pfn{0}, 10, MigrateType::Unmovable, 1).ok());
  ASSERT_EQ(m.change_pageblock_type(Pfn{512}, MigrateType::HighAtomic).status, PageblockStatus::Changed);
  ASSERT_EQ(m.free(Pfn{0}, 10, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 9);
  EXPECT_EQ(m.block_containing(Pfn{0})->migratetype, MigrateType::Movable);
  EXPECT_EQ(m.block_containing(Pfn{512})->order, 9);
  EXPECT_EQ(m.block_containing(Pfn{512})->migratetype, MigrateType::HighAtomic);
  // The same free with both pageblocks mergeable merges back to order 10.
  ASSERT_EQ(m.change_pageblock_type(Pfn{512}, MigrateType::Reclaimable).status, PageblockStatus::Changed);
  ASSERT_TRUE(m.carve(Pfn{0}, 9, MigrateType::Movable, 2).ok());
  ASSERT_TRUE(m.carve(Pfn{512}, 9, MigrateType::Movable, 2).ok());
  ASSERT_EQ(m.split_allocation(Pfn{0}, 9), SplitStatus::Split);
  ASSERT_EQ(m.free(Pfn{0}, 9, 0).status, FreeStatus::Freed);
  ASSERT_EQ(m.free(Pfn{512}, 9, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 10);
  expect_consistent(m);
}

// buddy_merge_likely(): a freed block whose parent's buddy is free goes to the list tail, so an
// older block at the head is handed out first.
TEST(BuddyMerge, LikelyMergeGoesToTheTail) {
  Model m(one_zone(4096));
  m.seed(runs({FreeRun{Pfn{0}, 16}}));
  ASSERT_TRUE(m.carve(Pfn{0}, 0, MigrateType::Movable, 1).ok());  // free: 8/3 4/2 2/1 1/0
  ASSERT_TRUE(m.carve(Pfn{2}, 1, MigrateType::Movable, 2).ok());  // free: 8/3 4/2 1/0
  ASSERT_TRUE(m.carve(Pfn{8}, 0, MigrateType::Movable, 3).ok());  // free: 12/2 10/1 9/0 4/2 1/0
  ASSERT_EQ(m.free(Pfn{0}, 0, 0).status, FreeStatus::Freed);      // merges to 0/1; 4/2 is free
  const AllocResult r = m.allocate(kGfpMovable, 1, 0, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{10});
  expect_consistent(m);
}

TEST(Seed, RunsBecomeMaximalAlignedBlocks) {
  Model m(one_zone(4096));
  const SeedReport rep = m.seed(runs({FreeRun{Pfn{1}, 999}, FreeRun{Pfn{5000}, 10}}));
  EXPECT_EQ(rep.free_pages, 999u);
  EXPECT_EQ(rep.pages_outside_zones, 10u);
  EXPECT_EQ(buddyinfo(m, 0), (std::vector<std::uint64_t>{1, 1, 1, 2, 1, 2, 2, 2, 2, 0, 0}));
  EXPECT_EQ(m.block_containing(Pfn{0})->state, BlockState::Seed);
  EXPECT_EQ(m.block_containing(Pfn{0})->owner, kSeedOwner);
  expect_consistent(m);
}

TEST(Seed, SeedPagesMayBeFreedAndCarved) {
  Model m(one_zone(4096));
  m.seed(runs({FreeRun{Pfn{0}, 1024}}));
  // The trace frees a page allocated before the recording...
  const FreeResult f = m.free(Pfn{2048 + 64}, 2, 0);
  EXPECT_EQ(f.status, FreeStatus::FreedSeed);
  EXPECT_EQ(m.block_containing(Pfn{2048 + 64})->state, BlockState::Free);
  // ...and allocates one the snapshot missed (e.g. it sat on a pcp list).
  EXPECT_EQ(m.carve(Pfn{3000}, 0, MigrateType::Unmovable, 5).status, CarveStatus::CarvedFromSeed);
  EXPECT_EQ(m.block_containing(Pfn{3000})->owner, 5u);
  // A free spanning two seed blocks (seed blocks stop at pageblock_order).
  EXPECT_EQ(m.free(Pfn{1024}, 10, 0).status, FreeStatus::FreedSeed);
  EXPECT_EQ(m.block_containing(Pfn{0})->order, 10);
  expect_consistent(m);
}

TEST(Seed, PageblockCountsGoToTheFullestPageblocks) {
  Model m(one_zone(4096));
  Snapshot s = runs({FreeRun{Pfn{0}, 512}, FreeRun{Pfn{1024}, 300}, FreeRun{Pfn{2048}, 2048}});
  ZonePageblockCounts c;
  c.counts[index_of(MigrateType::Unmovable)] = 1;
  c.counts[index_of(MigrateType::Reclaimable)] = 1;
  c.counts[index_of(MigrateType::Movable)] = 6;
  s.pageblock_counts.push_back(c);
  m.seed(s);
  // Pageblocks 1 and 3 have no free page, pageblock 2 has 300.
  EXPECT_EQ(m.pageblock_type(Pfn{512}), MigrateType::Unmovable);
  EXPECT_EQ(m.pageblock_type(Pfn{1536}), MigrateType::Reclaimable);
  EXPECT_EQ(m.pageblock_type(Pfn{1024}), MigrateType::Movable);
  const ZoneMetrics z = m.metrics(0);
  EXPECT_EQ(z.pageblocks_by_type[index_of(MigrateType::Unmovable)], 1u);
  EXPECT_EQ(z.pageblocks_by_type[index_of(MigrateType::Movable)], 6u);
  EXPECT_EQ(z.mixed_pageblocks, 0u);  // seed pages take their pageblock's type
  expect_consistent(m);
}

TEST(Seed, UnalignedZoneStart) {
  // Like this machine's DMA zone: pfns 1..4095.
  Model m(one_zone(4095, {}, 1, ZoneType::Dma));
  EXPECT_EQ(buddyinfo(m, 0), (std::vector<std::uint64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3}));
  EXPECT_EQ(m.metrics(0).pageblocks, 8u);
  EXPECT_EQ(m.change_pageblock_type(Pfn{1}, MigrateType::Unmovable).status, PageblockStatus::ZoneEdge);
  expect_consistent(m);
}

TEST(Config, RejectsBadGeometry) {
  ModelConfig c = one_zone(1024);
  c.max_order = 16;
  EXPECT_THROW(Model{c}, std::invalid_argument);
  c = one_zone(1024);
  c.pageblock_order = 11;
  EXPECT_THROW(Model{c}, std::invalid_argument);
  c = one_zone(1024);
  c.zones.push_back(c.zones[0]);
  EXPECT_THROW(Model{c}, std::invalid_argument);  // overlap
  c = one_zone(1024);
  c.page_size = 3000;
  EXPECT_THROW(Model{c}, std::invalid_argument);
  c = one_zone(1024);
  c.zones[0].managed_pages = 2000;
  EXPECT_THROW(Model{c}, std::invalid_argument);
}

TEST(Model, CopiesAreIndependent) {
  Model a(one_zone(1024));
  ASSERT_TRUE(a.carve(Pfn{0}, 0, MigrateType::Movable, 1).ok());
  Model b = a;
  ASSERT_TRUE(b.carve(Pfn{1}, 0, MigrateType::Movable, 2).ok());
  EXPECT_EQ(a.block_containing(Pfn{1})->state, BlockState::Free);
  EXPECT_EQ(b.block_containing(Pfn{1})->state, BlockState::Allocated);
  expect_consistent(a);
  expect_consistent(b);
}


// A preferred block (the recording's page) is taken where it is free in the zone that serves
// the request: the free block holding it is split down to it, the rest stays on the lists.
TEST(BuddyPrefer, TakesThePreferredBlockWhereItIsFree) {
  Model m(one_zone(4096));
  const AllocResult r = m.allocate(kGfpMovable, 2, 0, 7, Pfn{1028});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pfn, Pfn{1028});
  EXPECT_EQ(r.source, BlockSource::Buddy);
  EXPECT_EQ(m.block_containing(Pfn{1028})->state, BlockState::Allocated);
  EXPECT_EQ(m.block_containing(Pfn{1028})->owner, 7u);
  // The order-10 block at 1024 split around it: 1024+4 (order 2) and halves up to order 9.
  EXPECT_EQ(m.block_containing(Pfn{1024})->order, 2);
  EXPECT_EQ(m.block_containing(Pfn{1536})->order, 9);
  EXPECT_EQ(m.nr_free_pages(0), 4096u - 4);
  // Not free (it is now allocated), misaligned or outside the zone: the lists' own pick, the
  // smallest block first (the split's halves).
  EXPECT_EQ(m.allocate(kGfpMovable, 2, 0, 8, Pfn{1028}).pfn, Pfn{1024});
  EXPECT_EQ(m.allocate(kGfpMovable, 2, 0, 9, Pfn{2050}).pfn, Pfn{1032});
  EXPECT_EQ(m.allocate(kGfpMovable, 0, 0, 10, Pfn{99999}).pfn, Pfn{1036});
  expect_consistent(m);
}

// The preference changes which block, never whether: a zone below its watermark still fails.
TEST(BuddyPrefer, TheWatermarkStillDecides) {
  Model m(one_zone(4096, Watermarks{1000, 1250, 1500, 1750}));
  m.seed(runs({FreeRun{Pfn{3096}, 1000}}));
  const AllocResult r = m.allocate(kGfpKernel | kGfp.noretry, 0, 0, 1, Pfn{3096});
  EXPECT_EQ(r.failure, AllocFailure::Watermark);
  EXPECT_EQ(m.block_containing(Pfn{3096})->state, BlockState::Free);
  EXPECT_EQ(m.nr_free_pages(0), 1000u);
  expect_consistent(m);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
