#include "labyrinth/replay/pageblock_map.hpp"

#include <algorithm>
#include <bit>

namespace labyrinth::replay {

PageblockMap aggregate_pageblocks(const std::vector<ZonePageblocks>& zones, unsigned pageblock_order,
                                  std::uint64_t ts_ns, std::size_t max_cells) {
  PageblockMap map;
  map.present = true;
  map.ts_ns = ts_ns;
  map.pageblock_order = pageblock_order;
  const unsigned pbo = pageblock_order;
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (const auto& z : zones) {
    map.zone_labels.push_back(z.label);
    const std::uint64_t end = z.start_pfn + z.spanned_pages;
    map.zone_ranges.emplace_back(z.start_pfn, end);
    if (z.spanned_pages == 0 || end < z.start_pfn) continue;
    lo = std::min(lo, z.start_pfn);
    hi = std::max(hi, end);
  }
  if (hi <= lo) return map;
  map.first_pfn = (lo >> pbo) << pbo;
  const std::uint64_t slots = ((hi - map.first_pfn) + (std::uint64_t{1} << pbo) - 1) >> pbo;
  const std::uint64_t want = std::max<std::size_t>(max_cells, 1);
  map.pageblocks_per_cell = std::bit_ceil((slots + want - 1) / want);
  const std::uint64_t cell_pages = map.pageblocks_per_cell << pbo;
  const std::uint64_t cells = (slots + map.pageblocks_per_cell - 1) / map.pageblocks_per_cell;
  map.end_pfn = map.first_pfn + cells * cell_pages;
  map.cells.resize(cells);
  for (std::uint64_t c = 0; c < cells; ++c) map.cells[c].start_pfn = map.first_pfn + c * cell_pages;
  for (std::size_t z = 0; z < zones.size(); ++z) {
    const std::uint64_t first = (zones[z].start_pfn >> pbo) << pbo, end = zones[z].start_pfn + zones[z].spanned_pages;
    for (const allocator::PageblockState& b : zones[z].blocks) {
      if (b.start_pfn < first || b.start_pfn >= end) continue;
      PageblockCell& cell = map.cells[(b.start_pfn - map.first_pfn) / cell_pages];
      if (cell.zone < 0) cell.zone = static_cast<int>(z);
      ++cell.pageblocks;
      ++cell.by_type[allocator::index_of(b.type)];
      cell.mixed += b.mixed ? 1 : 0;
      cell.free_pages += b.free_pages;
    }
  }
  return map;
}

PageblockMap capture_pageblock_map(const allocator::Model& model, const std::vector<std::string>& zone_labels,
                                   std::uint64_t ts_ns, std::size_t max_cells) {
  const allocator::ModelConfig& config = model.config();
  std::vector<ZonePageblocks> zones(config.zones.size());
  for (std::uint16_t z = 0; z < config.zones.size(); ++z) {
    zones[z].label = z < zone_labels.size() ? zone_labels[z] : "zone " + std::to_string(z);
    zones[z].start_pfn = config.zones[z].start_pfn.value;
    zones[z].spanned_pages = config.zones[z].spanned_pages;
    if (zones[z].spanned_pages != 0) zones[z].blocks = model.pageblocks(z);
  }
  return aggregate_pageblocks(zones, config.pageblock_order, ts_ns, max_cells);
}

}  // namespace labyrinth::replay
