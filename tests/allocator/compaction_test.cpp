// Direct compaction in the slow path (allocator/src/compaction.cpp), hand-computed from
// mm/compaction.c (compaction_suitable, compact_zone, isolate_migratepages_block,
// isolate_freepages_block, __compact_finished) and mm/page_alloc.c:__alloc_pages_slowpath.
// One zone of 4096 pages, 8 pageblocks of 512, min 16. Pageblocks 0-3 are a checkerboard:
// even pfns free, odd pfns allocated before the model started (order-0 seed pages of the
// Movable pageblock type: movable, as LRU pages are). Pageblocks 4-7 are free but for their
// first page, so no free block reaches order 9: free = 1024 + 4 * 511 = 3068 pages.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

class MoveRecorder final : public Reclaimer {
 public:
  std::uint64_t reclaim(std::uint16_t, std::uint64_t, unsigned) override { return 0; }
  [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t) const override { return 0; }
  void migrated(Owner owner, Pfn from, Pfn to) override { moves.push_back({owner, from.value, to.value}); }
  struct Move {
    Owner owner;
    std::uint64_t from;
    std::uint64_t to;
  };
  std::vector<Move> moves;
};

Model checkerboard(bool compaction = true) {
  ModelConfig config = one_zone(4096, Watermarks{16, 20, 24, 28});
  config.tunables.compaction = compaction;
  Model m(config);
  std::vector<FreeRun> free;
  for (std::uint64_t p = 0; p < 2048; p += 2) free.push_back(FreeRun{Pfn{p}, 1});
  for (std::uint64_t pb = 4; pb < 8; ++pb) free.push_back(FreeRun{Pfn{pb * 512 + 1}, 511});
  m.seed(runs(free));
  return m;
}

// Order 9 (costly, movable, may reclaim): the slow path compacts before reclaiming.
// compaction_suitable: 3068 free > min 16 + compact_gap 1024; fragmentation index at order 9:
// 1024 + 4 * 9 = 1060 free blocks, none of order 9: 1000 - (1000 + 3068 * 1000 / 512) / 1060 =
// 1000 - 6992 / 1060 = 994 > 500. The migrate scanner's first block, pageblock 0, holds only free
// pages and 256 movable pages (pfns 1, 3, .., 511); the free scanner takes free pages from the
// top pageblock, lowest first after its allocated first page: 3585 .. 3840. Pageblock 0 is then
// one free order-9 block, which serves the request; free pages: 3068 - 512.
TEST(DirectCompaction, MovesAPageblockFreeAndServesFromIt) {
  Model m = checkerboard();
  MoveRecorder rec;
  m.set_reclaimer(&rec);
  ASSERT_EQ(m.nr_free_pages(0), 3068u);
  const AllocResult r = m.allocate(kGfpMovable, 9, 0, 77);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Compacted);
  EXPECT_EQ(r.pfn.value, 0u);
  EXPECT_EQ(m.counters().compactions, 1u);
  EXPECT_EQ(m.counters().compaction_successes, 1u);
  EXPECT_EQ(m.counters().compaction_migrated_pages, 256u);
  ASSERT_EQ(rec.moves.size(), 256u);
  EXPECT_EQ(rec.moves.front().from, 1u);
  EXPECT_EQ(rec.moves.front().to, 3585u);
  EXPECT_EQ(rec.moves.front().owner, 1u);  // a seed page: owned by its old pfn from now on
  EXPECT_EQ(rec.moves.back().from, 511u);
  EXPECT_EQ(rec.moves.back().to, 3840u);
  EXPECT_EQ(m.nr_free_pages(0), 3068u - 512u);
  // The moved page is freed at its new frame; its old one is the request's now.
  EXPECT_TRUE(m.free(Pfn{3585}, 0, 0).ok());
  expect_consistent(m);
}

// Compaction is a what-if (Tunables::compaction, off by default): without it the same request
// reclaims (nothing: the reclaimer has no pages), moves nothing, and fails, since no free
// block reaches order 9.
TEST(DirectCompaction, OffByDefaultNothingMoves) {
  EXPECT_FALSE(ModelConfig{}.tunables.compaction);
  Model m = checkerboard(false);
  MoveRecorder rec;
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpMovable, 9, 0, 77);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.counters().compaction_migrated_pages, 0u);
  EXPECT_TRUE(rec.moves.empty());
  EXPECT_EQ(m.nr_free_pages(0), 3068u);
  expect_consistent(m);
}

// Asynchronous direct compaction gives up an order-aligned block at the first page it cannot
// move (isolate_migratepages_block's skip_on_failure): with an unmovable page in each of
// pageblocks 0-3 (pfn 512k + 1 allocated as Unmovable in place of the seed page) none of them is
// touched, though each has 255 movable pages. The migrate scanner goes on to pageblock 4, whose
// one allocated page (pfn 2048) moves to the free scanner's first free page, 3585: pageblock 4
// is free and serves the request. One page moved instead of 256.
TEST(DirectCompaction, AsyncSkipsBlocksWithAnUnmovablePage) {
  Model m = checkerboard();
  for (std::uint64_t pb = 0; pb < 4; ++pb) {
    ASSERT_TRUE(m.free(Pfn{pb * 512 + 1}, 0, 0).ok());
    ASSERT_TRUE(m.carve(Pfn{pb * 512 + 1}, 0, MigrateType::Unmovable, 5).ok());
  }
  MoveRecorder rec;
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpMovable | kGfp.noretry, 9, 0, 77);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Compacted);
  EXPECT_EQ(r.pfn.value, 2048u);
  ASSERT_EQ(rec.moves.size(), 1u);
  EXPECT_EQ(rec.moves[0].from, 2048u);
  EXPECT_EQ(rec.moves[0].to, 3585u);
  expect_consistent(m);
}

// Large folios move too when their order is below the request's (mm/compaction.c:
// skip_isolation_on_order), each to a free block of its order (compaction_alloc). As above,
// pageblocks 0-3 hold an unmovable page; pageblock 4's first four pages are one order-2 movable
// allocation instead of a seed page. The migrate scanner moves it whole to the free scanner's
// first free order-2 block in the top pageblock: 3584 is allocated, 3585 (order 0) and 3586
// (order 1) are too small, 3588 is taken. Pageblock 4 is then free and serves the request.
// Before, the folio blocked pageblock 4 and the request was served at 2560, after moving
// pageblock 5's seed page.
TEST(DirectCompaction, MovesALargeFolioBelowTheRequestsOrder) {
  Model m = checkerboard();
  for (std::uint64_t pb = 0; pb < 4; ++pb) {
    ASSERT_TRUE(m.free(Pfn{pb * 512 + 1}, 0, 0).ok());
    ASSERT_TRUE(m.carve(Pfn{pb * 512 + 1}, 0, MigrateType::Unmovable, 5).ok());
  }
  ASSERT_TRUE(m.free(Pfn{2048}, 0, 0).ok());
  ASSERT_TRUE(m.carve(Pfn{2048}, 2, MigrateType::Movable, 9).ok());
  MoveRecorder rec;
  m.set_reclaimer(&rec);
  const AllocResult r = m.allocate(kGfpMovable | kGfp.noretry, 9, 0, 77);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.path, AllocPath::Compacted);
  EXPECT_EQ(r.pfn.value, 2048u);
  ASSERT_EQ(rec.moves.size(), 1u);
  EXPECT_EQ(rec.moves[0].owner, 9u);
  EXPECT_EQ(rec.moves[0].from, 2048u);
  EXPECT_EQ(rec.moves[0].to, 3588u);
  EXPECT_EQ(m.counters().compaction_migrated_pages, 4u);
  // The folio lives at its new frames: the owner frees it there.
  EXPECT_TRUE(m.free(Pfn{3588}, 2, 0).ok());
  expect_consistent(m);
}

// Without a Reclaimer to tell (the C API), nothing moves: the request fails as before.
TEST(DirectCompaction, NoReclaimerNoCompaction) {
  Model m = checkerboard();
  const AllocResult r = m.allocate(kGfpMovable | kGfp.noretry, 9, 0, 77);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.counters().compactions, 0u);
}

// Model::compact_block (a replay emptying the block the kernel's compaction freed) with a
// Reclaimer that names each allocation's home frame: its owner, as simulate's recorded pfns.
class HomeReclaimer final : public Reclaimer {
 public:
  explicit HomeReclaimer(bool homes) : homes_(homes) {}
  std::uint64_t reclaim(std::uint16_t, std::uint64_t, unsigned) override { return 0; }
  [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t) const override { return 0; }
  void migrated(Owner owner, Pfn, Pfn to) override { at[owner] = to.value; }
  [[nodiscard]] std::optional<Pfn> home(Owner owner) const override {
    return homes_ ? std::optional<Pfn>{Pfn{owner}} : std::nullopt;
  }
  std::map<Owner, std::uint64_t> at;

 private:
  bool homes_;
};

// 4096 pages, pageblocks of 512. Allocated before the model (seed pages): all of pageblock 7,
// pages 0 and 256 of pageblocks 0, 1, 3, 4, 5 and page 256 of pageblock 2, so the only free
// blocks of order 8 are 1024..1279 and pageblock 6. X (order 8) is
// carved at 3072 owned by 1024, where it belongs; Y (order 0) at 1029, its own home.
Model displaced_folio() {
  Model m(one_zone(4096, Watermarks{16, 20, 24, 28}));
  std::vector<FreeRun> free;
  for (std::uint64_t pb = 0; pb < 6; ++pb) {
    const std::uint64_t base = pb * 512;
    if (pb == 2) {
      free.push_back(FreeRun{Pfn{base}, 256});
    } else {
      free.push_back(FreeRun{Pfn{base + 1}, 255});
    }
    free.push_back(FreeRun{Pfn{base + 257}, 255});
  }
  free.push_back(FreeRun{Pfn{3072}, 512});
  m.seed(runs(free));
  EXPECT_TRUE(m.carve(Pfn{3072}, 8, MigrateType::Movable, 1024).ok());
  EXPECT_TRUE(m.carve(Pfn{1029}, 0, MigrateType::Movable, 1029).ok());
  return m;
}

// The kernel freed pageblock 6 (3072..3583). X has no order-8 block above it (pageblock 7 is
// full), but its home holds only Y: Y moves to the free scanner's page first, from the top:
// pageblock 6's free half 3328 is the block being emptied and is skipped, so pageblock 5's
// first free page, 2561; then X goes home, 1024. Pageblock 6 is one free order-9 block.
TEST(CompactBlock, EmptiesTheHomeOfAnAllocationAwayFromItAndMovesItThere) {
  Model m = displaced_folio();
  HomeReclaimer rec(true);
  m.set_reclaimer(&rec);
  const std::uint64_t free_before = m.nr_free_pages(0);
  ASSERT_TRUE(m.compact_block(Pfn{3072}, 9));
  EXPECT_EQ(rec.at[1029], 2561u);
  EXPECT_EQ(rec.at[1024], 1024u);
  const auto b = m.block_containing(Pfn{3072});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state, BlockState::Free);
  EXPECT_EQ(b->order, 9u);
  EXPECT_EQ(m.nr_free_pages(0), free_before);  // moves, no page freed or taken
  EXPECT_TRUE(m.free(Pfn{1024}, 8, 0).ok());
  EXPECT_TRUE(m.free(Pfn{2561}, 0, 0).ok());
  expect_consistent(m);
}

// Without homes the model has nowhere to put X: no free block of order 8 above pageblock 6.
TEST(CompactBlock, WithoutAHomeAWholeFolioFindsNoTarget) {
  Model m = displaced_folio();
  HomeReclaimer rec(false);
  m.set_reclaimer(&rec);
  EXPECT_FALSE(m.compact_block(Pfn{3072}, 9));
  EXPECT_TRUE(rec.at.empty());
  expect_consistent(m);
}

// A home that is free takes the allocation before the free scanner does: X at 3072, home
// 1024 free once Y is gone, and pageblock 5's page would be the scanner's.
TEST(CompactBlock, AFreeHomeIsTakenFirst) {
  Model m = displaced_folio();
  ASSERT_TRUE(m.free(Pfn{1029}, 0, 0).ok());
  HomeReclaimer rec(true);
  m.set_reclaimer(&rec);
  ASSERT_TRUE(m.compact_block(Pfn{3072}, 9));
  EXPECT_EQ(rec.at.size(), 1u);
  EXPECT_EQ(rec.at[1024], 1024u);
  expect_consistent(m);
}

// A chain of displaced folios, deeper than the first limit of 4 calls. 16 pageblocks of 512:
// pageblocks 0 to 2 free but for their first page (no free order-9 block), pageblock 3 free,
// pageblocks 11 to 15 allocated before the model. Folios of order 9 fill pageblocks 4 to 10,
// each owned by the pageblock below its own: the one at 5120 belongs at 4608, ..., the one at
// 2048 at 1536, which is free. The free scanner looks only above the block it empties, where
// nothing is free, so only the homes can empty pageblock 10: the chain is 7 folios long, and
// every folio goes home, one pageblock down.
TEST(CompactBlock, FollowsAChainOfDisplacedFoliosToTheFreeHomeAtItsEnd) {
  Model m(one_zone(8192, Watermarks{16, 20, 24, 28}));
  std::vector<FreeRun> free;
  for (std::uint64_t pb = 0; pb < 3; ++pb) {
    free.push_back(FreeRun{Pfn{pb * 512 + 1}, 511});
  }
  free.push_back(FreeRun{Pfn{1536}, 8 * 512});  // pageblocks 3 to 10
  m.seed(runs(free));
  for (std::uint64_t pb = 4; pb <= 10; ++pb) {
    ASSERT_TRUE(m.carve(Pfn{pb * 512}, 9, MigrateType::Movable, (pb - 1) * 512).ok());
  }
  HomeReclaimer rec(true);
  m.set_reclaimer(&rec);
  const std::uint64_t free_before = m.nr_free_pages(0);
  ASSERT_TRUE(m.compact_block(Pfn{5120}, 9));
  ASSERT_EQ(rec.at.size(), 7u);
  for (std::uint64_t pb = 3; pb <= 9; ++pb) {
    EXPECT_EQ(rec.at[pb * 512], pb * 512) << "the folio owned by " << pb * 512;
  }
  const auto b = m.block_containing(Pfn{5120});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state, BlockState::Free);
  EXPECT_EQ(b->order, 9u);
  EXPECT_EQ(m.nr_free_pages(0), free_before);
  expect_consistent(m);
}

// Two zones of 4096 pages: DMA32 at 0 (`dma32_free` pages free from pfn 0), Normal at 4096
// with a page allocated before the model at the start of each pageblock but the one at 6144,
// which holds only X (order 9), owned by 1024: the kernel put it in DMA32. Min 16 in both.
Model misplaced_zone_folio(std::uint64_t dma32_free) {
  ModelConfig c = one_zone(4096, Watermarks{16, 20, 24, 28}, 0, ZoneType::Dma32);
  ZoneConfig normal = c.zones.front();
  normal.type = ZoneType::Normal;
  normal.start_pfn = Pfn{4096};
  c.zones.push_back(normal);
  Model m(c);
  std::vector<FreeRun> free{FreeRun{Pfn{0}, dma32_free}};
  for (std::uint64_t pb = 8; pb < 16; ++pb) {
    if (pb == 12) {
      free.push_back(FreeRun{Pfn{pb * 512}, 512});
    } else {
      free.push_back(FreeRun{Pfn{pb * 512 + 1}, 511});
    }
  }
  m.seed(runs(free));
  EXPECT_TRUE(m.carve(Pfn{6144}, 9, MigrateType::Movable, 1024).ok());
  return m;
}

// The kernel's block 6144 holds X. Normal has no free order-9 block above it, but X's home
// 1024 is free in DMA32 with 2048 free pages, above min + 512: X goes home, across zones.
// DMA32 ends 512 pages lower, Normal 512 higher, and pageblock 12 is one free order-9 block.
TEST(CompactBlock, MovesAFolioHomeToTheZoneTheKernelHadItIn) {
  Model m = misplaced_zone_folio(2048);
  HomeReclaimer rec(true);
  m.set_reclaimer(&rec);
  const std::uint64_t normal_free = m.nr_free_pages(1);
  ASSERT_TRUE(m.compact_block(Pfn{6144}, 9));
  EXPECT_EQ(rec.at[1024], 1024u);
  EXPECT_EQ(m.nr_free_pages(0), 2048u - 512u);
  EXPECT_EQ(m.nr_free_pages(1), normal_free + 512u);
  const auto b = m.block_containing(Pfn{6144});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state, BlockState::Free);
  EXPECT_EQ(b->order, 9u);
  const auto home = m.block_containing(Pfn{1024});
  ASSERT_TRUE(home);
  EXPECT_EQ(home->state, BlockState::Allocated);
  EXPECT_EQ(home->order, 9u);
  EXPECT_TRUE(m.free(Pfn{1024}, 9, 0).ok());
  expect_consistent(m);
}

// X stays where its home is free but DMA32 would fall to min or below (__isolate_free_page's
// min + 2^order: 512 free, 512 > 16 + 512 fails), and where its home is not free: either way
// the block cannot be emptied.
TEST(CompactBlock, AHomeInAnotherZoneIsTakenOnlyWhereItIsFreeAboveMin) {
  {
    Model m = misplaced_zone_folio(1536);
    ASSERT_TRUE(m.carve(Pfn{0}, 10, MigrateType::Movable, 9999).ok());  // 1024..1535 left free
    HomeReclaimer rec(true);
    m.set_reclaimer(&rec);
    ASSERT_EQ(m.nr_free_pages(0), 512u);
    EXPECT_FALSE(m.compact_block(Pfn{6144}, 9));
    EXPECT_TRUE(rec.at.empty());
    expect_consistent(m);
  }
  {
    Model m = misplaced_zone_folio(1024);  // 0..1023 free, the home not
    HomeReclaimer rec(true);
    m.set_reclaimer(&rec);
    EXPECT_FALSE(m.compact_block(Pfn{6144}, 9));
    EXPECT_TRUE(rec.at.empty());
    expect_consistent(m);
  }
}

}  // namespace
}  // namespace labyrinth::allocator::testing
