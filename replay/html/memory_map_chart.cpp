// The physical memory map at the start and at the end: one cell per group of consecutive
// pageblocks (replay/pageblock_map.hpp), coloured by migratetype and lightened by how much of
// it is free. HighAtomic, CMA and Isolate blocks colour their whole cell, so that a single
// reserved pageblock stays visible on a 1 TiB machine. Neighbouring cells that look the same
// are drawn as one rectangle, with one hover text for the run.
#include <algorithm>
#include <cmath>

#include "palette.hpp"
#include "plot.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

namespace {

using replay::PageblockCell;
using replay::PageblockMap;

constexpr std::size_t kColumns = 64;
constexpr double kCellW = 12.5, kCellH = 12, kLeft = 190, kTop = 44;
constexpr int kShades = 4;

// Reserve types first (they are rare and the point of looking), then the commonest type.
int shown_type(const PageblockCell& cell) {
  if (cell.pageblocks == 0) return -1;
  for (const allocator::MigrateType t :
       {allocator::MigrateType::HighAtomic, allocator::MigrateType::Cma, allocator::MigrateType::Isolate}) {
    if (cell.by_type[allocator::index_of(t)] != 0) return static_cast<int>(allocator::index_of(t));
  }
  int best = 1;
  for (int t = 0; t < 3; ++t) {
    if (cell.by_type[static_cast<std::size_t>(t)] > cell.by_type[static_cast<std::size_t>(best)]) best = t;
  }
  return best;
}

// A cell shown for a reserve type is lightened at most half-way, so that one reserved
// pageblock among free ones stays visible.
int free_shade(const PageblockCell& cell, unsigned pageblock_order) {
  if (cell.pageblocks == 0) return 0;
  const double pages = static_cast<double>(std::uint64_t{cell.pageblocks} << pageblock_order);
  const int shade = static_cast<int>(std::lround(std::clamp(static_cast<double>(cell.free_pages) / pages, 0.0, 1.0) * kShades));
  return shown_type(cell) >= static_cast<int>(allocator::index_of(allocator::MigrateType::HighAtomic)) ? std::min(shade, kShades / 2)
                                                                                                       : shade;
}

std::string cell_colour(int type, int shade) {
  if (type < 0) return kHoleColour;
  return lighten(migratetype_colour(static_cast<unsigned>(type)), 0.82 * shade / kShades);
}

std::string run_title(const ReportContext& c, const PageblockMap& map, std::size_t from, std::size_t to) {
  const std::uint64_t cell_pages = map.pageblocks_per_cell << map.pageblock_order;
  const std::uint64_t ps = c.replay.header.page_size;
  const std::uint64_t start = map.cells[from].start_pfn, end = map.cells[to - 1].start_pfn + cell_pages;
  std::array<std::uint64_t, allocator::kMigrateTypes> types{};
  std::uint64_t blocks = 0, free = 0, mixed = 0;
  for (std::size_t i = from; i < to; ++i) {
    for (std::size_t t = 0; t < types.size(); ++t) types[t] += map.cells[i].by_type[t];
    blocks += map.cells[i].pageblocks;
    free += map.cells[i].free_pages;
    mixed += map.cells[i].mixed;
  }
  std::string text = fmt::format("pfn {:#x}-{:#x} (address {:#x}, {})", start, end, start * ps, pages_as_bytes(end - start, ps));
  if (map.cells[from].zone >= 0) {
    text += ", " + c.zone_label(static_cast<std::uint16_t>(map.cells[from].zone));
  }
  if (blocks == 0) return text + "\nno zone";
  text += fmt::format("\n{} pageblocks:", blocks);
  for (std::size_t t = 0; t < types.size(); ++t) {
    if (types[t] != 0) text += fmt::format(" {} {}", c.migratetype_name(static_cast<int>(t)), types[t]);
  }
  text += fmt::format("\n{:.0f}% free, {} mixed",
                      100.0 * static_cast<double>(free) / static_cast<double>(blocks << map.pageblock_order), mixed);
  return text;
}

void map_chart(Markup& m, const ReportContext& c, const PageblockMap& map, const std::string& what) {
  const std::size_t rows = (map.cells.size() + kColumns - 1) / kColumns;
  const double height = kTop + static_cast<double>(rows) * kCellH + 40;
  const std::uint64_t cell_pages = map.pageblocks_per_cell << map.pageblock_order;
  const std::uint64_t ps = c.replay.header.page_size;
  open_svg(m, 960, height, "memory-map", "Physical memory map " + what);
  // Column axis: offset within a row.
  const Frame f{kLeft, kTop, kCellW * kColumns, static_cast<double>(rows) * kCellH};
  const Scale x{0, static_cast<double>(kColumns * cell_pages), f.x, f.right()};
  x_axis(m, f, x, "offset within the row (one cell = " + pages_as_bytes(cell_pages, ps) + ", " +
                      std::to_string(map.pageblocks_per_cell) + " pageblocks)",
         [ps](double pages) { return pages_as_bytes(static_cast<std::uint64_t>(pages), ps); }, 6);
  m.put("<g class=\"axis y\"><text class=\"label\" x=\"{}\" y=\"{}\">physical address of the row</text>", px(8),
        px(kTop - 6));
  const std::size_t label_every = std::max<std::size_t>(1, rows / 24 + 1);
  for (std::size_t row = 0; row < rows; row += label_every) {
    const PageblockCell& first = map.cells[row * kColumns];
    const std::string zone = first.zone >= 0 ? c.zone_label(static_cast<std::uint16_t>(first.zone)) : "";
    m.put("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:#x} ", px(kLeft - 6), px(kTop + kCellH * (dbl(row) + 0.8)),
          first.start_pfn * ps);
    m.text(zone);
    m.raw("</text>");
  }
  m.raw("</g><g class=\"cells\">");
  for (std::size_t row = 0; row < rows; ++row) {
    const std::size_t begin = row * kColumns, end = std::min(map.cells.size(), begin + kColumns);
    std::size_t i = begin;
    while (i < end) {
      const int type = shown_type(map.cells[i]);
      const int shade = free_shade(map.cells[i], map.pageblock_order);
      std::size_t j = i + 1;
      while (j < end && shown_type(map.cells[j]) == type && free_shade(map.cells[j], map.pageblock_order) == shade) ++j;
      m.put("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>", px(kLeft + kCellW * dbl(i - begin)),
            px(kTop + kCellH * dbl(row)), px(kCellW * dbl(j - i) - 0.5), px(kCellH - 0.5), cell_colour(type, shade));
      m.text(run_title(c, map, i, j));
      m.raw("</title></rect>");
      i = j;
    }
  }
  m.raw("</g>");
  std::vector<LegendItem> items;
  for (unsigned t = 0; t < allocator::kMigrateTypes; ++t) {
    items.push_back({c.migratetype_name(static_cast<int>(t)), migratetype_colour(t), LegendItem::Shape::Box});
  }
  items.push_back({"no zone", kHoleColour, LegendItem::Shape::Box});
  for (int s = 0; s <= kShades; s += 2) {
    items.push_back({fmt::format("{}% free", 100 * s / kShades), cell_colour(1, s), LegendItem::Shape::Box});
  }
  legend(m, 8, 16, 940, items);
  close_svg(m);
}

}  // namespace

void memory_map_section(Markup& m, const ReportContext& c) {
  m.raw("<section id=\"memory-map\"><h2>Physical memory map</h2>\n");
  const auto& r = c.replay;
  if (!r.start_map.present && !r.end_map.present) {
    m.raw("<p>The replay kept no pageblock map.</p></section>\n");
    return;
  }
  m.raw("<p class=\"note\">Every pageblock as the model holds it, in physical address order: its colour is its "
        "migratetype (a cell holding a HighAtomic, CMA or Isolate pageblock takes that colour), the lighter the more "
        "of it is free. Hover a cell for its pageblocks.</p>\n");
  const auto when = [&c](const replay::PageblockMap& map, const char* what) {
    return fmt::format("{} ({:.3f} s)", what, c.seconds(map.ts_ns));
  };
  if (r.start_map.present) {
    const std::string what = when(r.start_map, r.seeded_from == replay::SeedSource::StartSnapshot ? "at the start snapshot"
                                                                                : "at the start (all memory free)");
    m.put("<h3>{}</h3>", escape(what));
    map_chart(m, c, r.start_map, what);
  }
  if (r.end_map.present) {
    const std::string what =
        when(r.end_map, r.validation.available ? "at the end snapshot (the model's reconstruction, validated below)"
                                               : "at the end of the replay (the model's state)");
    m.put("<h3>{}</h3>", escape(what));
    map_chart(m, c, r.end_map, what);
  }
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
