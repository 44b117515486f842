// Models of large machines: accepted up to 16 TiB, refused above with the size; page metadata
// that costs what is used (a free machine touches one record per MAX_PAGE_ORDER block); seed
// blocks of MAX_PAGE_ORDER split by the trace's frees; a copy that carries only what was written.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "labyrinth/allocator/huge_pages.hpp"

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

constexpr std::uint64_t kTiB = std::uint64_t{1} << 40;

ModelConfig machine(std::uint64_t bytes) {
  ModelConfig c = one_zone(bytes >> 12, Watermarks{}, 1u << 20);
  c.nr_cpus = 64;
  return c;
}

TEST(Scale, SixteenTebibytesAcceptedAndAboveRefusedWithTheSize) {
  // Zones hold at most 2^32 - 2 frames: 16 TiB is two of them.
  ModelConfig c = machine(8 * kTiB - 4096);
  ZoneConfig second = c.zones.front();
  second.start_pfn = Pfn{c.zones.front().start_pfn.value + c.zones.front().spanned_pages};
  c.zones.push_back(second);
  {
    const Model m(c);
    EXPECT_EQ(m.page_frames(), (16 * kTiB >> 12) - 2);
    EXPECT_EQ(m.nr_free_pages(1), second.managed_pages);
  }
  c.zones.push_back(one_zone(4, Watermarks{}, second.start_pfn.value + second.spanned_pages).zones.front());
  try {
    const Model m(c);
    FAIL() << "a machine above 16 TiB was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("16384 GiB of page frames; the model handles machines up to 16 TiB"),
              std::string::npos)
        << e.what();
  }
}

TEST(Scale, AFreeTebibyteMachineTouchesOneRecordPerTopBlock) {
  Model m(machine(kTiB));
  // 2^18 blocks of order 10: their records and the pageblocks', not 2^28 page frames'.
  EXPECT_LT(m.metadata_resident_bytes(), std::size_t{24} << 20);
  EXPECT_GT(m.metadata_bytes(), std::size_t{3} << 30);
  std::vector<Pfn> pages;
  for (unsigned i = 0; i < 100000; ++i) {
    const AllocResult r = m.allocate(kGfpMovable, 0, 0, i + 1);
    ASSERT_TRUE(r.ok());
    pages.push_back(r.pfn);
  }
  EXPECT_LT(m.metadata_resident_bytes(), std::size_t{32} << 20);
  const std::optional<BlockInfo> b = m.block_containing(pages.back());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state, BlockState::Allocated);
  EXPECT_EQ(b->owner, 100000u);
  for (const Pfn p : pages) {
    ASSERT_EQ(m.free(p, 0, 0).status, FreeStatus::Freed);
  }
  EXPECT_EQ(m.nr_free_pages(0), kTiB >> 12);
  const std::optional<BlockInfo> top = m.block_containing(Pfn{(kTiB >> 12) + (1u << 20) - 7});
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->state, BlockState::Free);
  EXPECT_EQ(top->order, 10u);
}

TEST(Scale, SeedBlocksOfTheTopOrderSplitWhenTheTraceFreesPartOfThem) {
  Model m(one_zone(8192));
  // Pages [0, 1024) and [3072, 8192) allocated before the recording: top-order seed blocks.
  ASSERT_EQ(m.seed(runs({{Pfn{1024}, 2048}})).free_pages, 2048u);
  ASSERT_EQ(m.check_invariants(), std::nullopt);
  const std::optional<BlockInfo> seed = m.block_containing(Pfn{5000});
  ASSERT_TRUE(seed.has_value());
  EXPECT_EQ(seed->state, BlockState::Seed);
  EXPECT_EQ(seed->order, 10u);
  EXPECT_EQ(seed->owner, kSeedOwner);
  EXPECT_EQ(m.free(Pfn{5000}, 0, 0).status, FreeStatus::FreedSeed);
  ASSERT_EQ(m.check_invariants(), std::nullopt);
  EXPECT_EQ(m.nr_free_pages(0), 2049u);
  EXPECT_EQ(m.block_containing(Pfn{5001})->order, 0u);  // 5001 is 5000's buddy, still seed-owned
  EXPECT_EQ(m.block_containing(Pfn{5001})->state, BlockState::Seed);
}

TEST(Scale, ACopyCarriesWhatWasWrittenAndNothingMore) {
  Model m(machine(kTiB / 4));
  const AllocResult r = m.allocate(kGfpMovable, 3, 0, 42);
  ASSERT_TRUE(r.ok());
  Model copy(m);
  EXPECT_EQ(copy.block_containing(r.pfn)->owner, 42u);
  EXPECT_EQ(copy.free(r.pfn, 3, 0).status, FreeStatus::Freed);
  EXPECT_EQ(m.block_containing(r.pfn)->state, BlockState::Allocated);
  EXPECT_LT(copy.metadata_resident_bytes(), std::size_t{8} << 20);
}

TEST(Scale, PopulatingMakesResidentOnlyThePagesOfTheElementsNamed) {
  ZeroedArray<std::uint64_t> a(std::size_t{1} << 20);  // 8 MiB, on 4 KiB pages
  a.advise_small();
  const std::size_t per_page = ZeroedArray<std::uint64_t>::per_page();
  // Pages 0, 1 (two neighbours: one call), 9 and the last.
  const std::vector<std::size_t> elements = {0, 1, per_page + 3, 9 * per_page, 9 * per_page + 7, a.size() - 1};
  if (!a.populate(elements)) GTEST_SKIP() << "this kernel cannot populate (MADV_POPULATE_WRITE is Linux 5.14)";
  const std::vector<unsigned char> in = a.residency();
  ASSERT_EQ(in.size(), a.bytes() / zeroed::page_bytes());
  std::vector<std::size_t> resident;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if ((in[i] & 1u) != 0) resident.push_back(i);
  }
  EXPECT_EQ(resident, (std::vector<std::size_t>{0, 1, 9, in.size() - 1}));
  for (const std::size_t i : elements) EXPECT_EQ(a[i], 0u);  // populated pages read as zero
}

TEST(Scale, SeedingABusyLargeMachinePopulatesOnlyTheRecordsItWrites) {
  Model m(machine(kTiB / 4));
  const std::size_t empty = m.metadata_resident_bytes();
  // 4,096 free runs of 3 pages, 64 MiB apart: every other frame is the seed's.
  std::vector<FreeRun> free;
  const std::uint64_t first = std::uint64_t{1} << 20;  // machine()'s zone starts there
  for (std::uint64_t i = 0; i < 4096; ++i) free.push_back(FreeRun{Pfn{first + i * 16384 + 5}, 3});
  const SeedReport r = m.seed(runs(free));
  EXPECT_EQ(r.free_pages, 4096u * 3);
  ASSERT_EQ(m.check_invariants(), std::nullopt);
  EXPECT_EQ(m.nr_free_pages(0), 4096u * 3);
  // The states (2 bytes a frame, 128 MiB, on huge pages below 256 MiB: one run every 128 KiB
  // of them makes each resident) and, on 4 KiB pages, the links of each run's two free blocks
  // (a page or two a run, 32 MiB at most): not the 768 MiB of links between the runs.
  EXPECT_LT(m.metadata_resident_bytes() - empty, std::size_t{192} << 20);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
