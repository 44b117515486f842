// `labyrinth report`: one self-contained HTML page (inline SVG and CSS, nothing fetched, no
// script) drawn from a replay and the stat pass of the same trace: the timeline per zone,
// failures with their forensics, the physical memory map at start and end, the breakdowns,
// and the data-quality and validation tables. Its size is bounded whatever the trace length
// or the machine's size: the charts are drawn from bounded samples and aggregated maps.
#pragma once

#include <cstddef>
#include <string>

#include "labyrinth/replay/page_stats.hpp"
#include "labyrinth/replay/replay.hpp"

namespace labyrinth::html {

// What the replay should keep for the report (ReplayOptions::timeline_points and
// ::pageblock_map_cells).
inline constexpr std::size_t kReportTimelinePoints = 720;
inline constexpr std::size_t kReportMapCells = 2048;

struct ReportOptions {
  std::size_t top = 12;                // rows per breakdown chart
  std::size_t failures_listed = 60;    // rows of the failure table
  std::size_t keyframes_listed = 40;   // rows of the keyframe table (the worst ones)
  std::size_t max_zones = 4;           // zones charted, the largest first
  std::size_t timeline_columns = 360;  // points per timeline chart
  std::size_t heat_columns = 150;      // columns of a heat strip
  std::size_t failure_markers = 120;   // markers per chart (failures close in time share one)
};

std::string render_report(const replay::ReplayResult& replay, const replay::StatResult& stat,
                          const ReportOptions& options = {});

}  // namespace labyrinth::html
