// Fragmentation indices against the mm/vmstat.c formulas on fixed free areas (docs/kernel-rules.md §11.1).
#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

// nr_free = {10, 4, 2, 1}: 34 free pages in 17 blocks.
const std::vector<std::uint64_t> kArea{10, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0};

TEST(Vmstat, ContigPageInfo) {
  const ContigPageInfo i0 = fill_contig_page_info(kArea, 0);
  EXPECT_EQ(i0.free_pages, 34u);
  EXPECT_EQ(i0.free_blocks_total, 17u);
  EXPECT_EQ(i0.free_blocks_suitable, 34u);
  EXPECT_EQ(fill_contig_page_info(kArea, 2).free_blocks_suitable, 4u);  // 2 + 1 * 2
  EXPECT_EQ(fill_contig_page_info(kArea, 3).free_blocks_suitable, 1u);
  EXPECT_EQ(fill_contig_page_info(kArea, 4).free_blocks_suitable, 0u);
}

TEST(Vmstat, UnusableFreeIndex) {
  auto idx = [](unsigned o) { return unusable_free_index(o, fill_contig_page_info(kArea, o)); };
  EXPECT_EQ(idx(0), 0);
  EXPECT_EQ(idx(1), (34 - 12 * 2) * 1000 / 34);  // suitable = 4 + 2*2 + 1*4 = 12 -> 294
  EXPECT_EQ(idx(1), 294);
  EXPECT_EQ(idx(2), 529);   // (34 - 16) * 1000 / 34 = 529.4
  EXPECT_EQ(idx(3), 764);   // (34 - 8) * 1000 / 34 = 764.7
  EXPECT_EQ(idx(4), 1000);
  EXPECT_EQ(unusable_free_index(0, ContigPageInfo{}), 1000);  // nothing free
}

TEST(Vmstat, FragmentationIndex) {
  auto idx = [](unsigned o) { return fragmentation_index(o, fill_contig_page_info(kArea, o), 10); };
  EXPECT_EQ(idx(0), -1000);  // a block of the order exists: no failure
  EXPECT_EQ(idx(3), -1000);
  EXPECT_EQ(idx(4), 817);    // 1000 - (1000 + 34000 / 16) / 17 = 1000 - 3125 / 17
  EXPECT_EQ(idx(10), 940);   // 1000 - (1000 + 34000 / 1024) / 17 = 1000 - 1033 / 17
  EXPECT_EQ(fragmentation_index(4, ContigPageInfo{}, 10), 0);  // nothing free
  EXPECT_EQ(fragmentation_index(11, fill_contig_page_info(kArea, 11), 10), 0);
  // One huge free block vs. the same pages as order-0 blocks: 0 (no memory) vs ~1000 (frag).
  const std::vector<std::uint64_t> small{512, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(fragmentation_index(10, fill_contig_page_info(small, 10), 10), 1000 - (1000 + 500) / 512);
  EXPECT_EQ(extfrag_for_order(4, fill_contig_page_info(kArea, 4)), 100u);
  EXPECT_EQ(extfrag_for_order(2, fill_contig_page_info(kArea, 2)), 52u);
}

TEST(Vmstat, ModelMetricsOnAFixedFreeArea) {
  Model m(one_zone(1024));
  ASSERT_TRUE(m.carve(Pfn{5}, 0, MigrateType::Movable, 1).ok());  // one free block per order 0..9
  const ZoneMetrics z = m.metrics(0);
  EXPECT_EQ(z.orders, 11u);
  EXPECT_EQ(z.nr_free_pages, 1023u);
  EXPECT_EQ(z.largest_free_order, 9);
  EXPECT_EQ(z.unusable_index[5], 30);  // (1023 - 31 * 32) * 1000 / 1023
  EXPECT_EQ(z.unusable_index[10], 1000);
  EXPECT_EQ(z.fragmentation_index[10], 801);  // 1000 - (1000 + 1023000 / 1024) / 10
  EXPECT_EQ(z.fragmentation_index[9], -1000);
  EXPECT_EQ(z.nr_free_by_type[index_of(MigrateType::Movable)][3], 1u);
  EXPECT_EQ(z.pageblocks, 2u);
  EXPECT_EQ(z.pageblocks_by_type[index_of(MigrateType::Movable)], 2u);
  EXPECT_EQ(z.mixed_pageblocks, 0u);
  Model empty(one_zone(1024));
  empty.seed(Snapshot{});
  EXPECT_EQ(empty.metrics(0).largest_free_order, -1);
  EXPECT_EQ(empty.metrics(0).unusable_index[0], 1000);
}

TEST(Vmstat, MetadataStaysWithinSixteenBytesPerPageFrame) {
  Model m(one_zone(1u << 20));  // 4 GiB of 4 KiB pages
  const double per_page = static_cast<double>(m.metadata_bytes()) / static_cast<double>(m.page_frames());
  EXPECT_LE(per_page, 16.0);
  RecordProperty("metadata_bytes_per_page", std::to_string(per_page));
}

}  // namespace
}  // namespace labyrinth::allocator::testing
