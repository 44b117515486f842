// A physical memory map of the model at one instant: every pageblock's migratetype, free
// pages and mixing, aggregated into cells of consecutive pageblocks so that it stays small
// whatever the machine's size (a 1 TiB machine has half a million 2 MiB pageblocks).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "labyrinth/allocator/model.hpp"

namespace labyrinth::replay {

struct PageblockCell {
  std::uint64_t start_pfn = 0;
  std::uint32_t pageblocks = 0;  // pageblocks of a zone inside the cell (0: a hole between zones)
  std::array<std::uint32_t, allocator::kMigrateTypes> by_type{};
  std::uint32_t mixed = 0;
  std::uint64_t free_pages = 0;
  int zone = -1;  // model zone of its first pageblock, -1 for a hole
};

struct PageblockMap {
  bool present = false;
  std::uint64_t ts_ns = 0;
  unsigned pageblock_order = 9;
  std::uint64_t first_pfn = 0;
  std::uint64_t end_pfn = 0;
  std::uint64_t pageblocks_per_cell = 1;
  std::vector<PageblockCell> cells;      // consecutive, from first_pfn
  std::vector<std::string> zone_labels;  // by model zone: "node 0 Normal"
  std::vector<std::pair<std::uint64_t, std::uint64_t>> zone_ranges;  // [start, end) pfns by model zone
};

// The pageblocks of one zone, as the model gives them (Model::pageblocks).
struct ZonePageblocks {
  std::string label;
  std::uint64_t start_pfn = 0;
  std::uint64_t spanned_pages = 0;
  std::vector<allocator::PageblockState> blocks;
};

// At most max_cells cells (>= 1): the cell size is the smallest power of two of pageblocks
// that fits. Pageblocks outside [start_pfn, start_pfn + spanned_pages) of their zone are ignored.
PageblockMap aggregate_pageblocks(const std::vector<ZonePageblocks>& zones, unsigned pageblock_order,
                                  std::uint64_t ts_ns, std::size_t max_cells);

// The model's pageblocks, aggregated; zone_labels by model zone.
PageblockMap capture_pageblock_map(const allocator::Model& model, const std::vector<std::string>& zone_labels,
                                   std::uint64_t ts_ns, std::size_t max_cells);

}  // namespace labyrinth::replay
