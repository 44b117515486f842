// `labyrinth report [TRACE] -o FILE.html`: one self-contained HTML page of charts from a replay
// of the trace and the stat pass over the same events, read once.
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <span>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/html/report.hpp"
#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/replay/page_stats.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "replay_setup.hpp"
#include "trace_input.hpp"
#include "units.hpp"

namespace labyrinth::cli {
namespace {

struct ReportCliOptions {
  std::string input = kDefaultTraceFile;
  std::string output;
  ReplayModeOptions mode;
  std::string interval = "auto";
  std::size_t top = 12;
  unsigned callsite_depth = replay::kDefaultCallsiteDepth;
  bool quiet = false;
  bool no_progress = false;
  bool read_ahead = false;
};

// "auto": the span between the snapshots (known at open) in about as many intervals as the
// report keeps points, so that a short recording still draws a curve; 100 ms without them.
std::optional<std::uint64_t> timeline_interval(const std::string& text, const traces::TraceReader& reader) {
  if (text != "auto") {
    const ParsedUnit interval = parse_duration(text);
    if (!interval.ok() || interval.value == 0) {
      error("--interval {}", interval.ok() ? "'" + text + "' must be longer than 0" : interval.error);
      return std::nullopt;
    }
    return interval.value;
  }
  const auto& start = reader.start_snapshot();
  const auto& end = reader.end_snapshot();
  if (start.present && end.present && end.ts_ns > start.ts_ns) {
    const std::uint64_t points = html::kReportTimelinePoints / 2;
    return std::max<std::uint64_t>((end.ts_ns - start.ts_ns + points - 1) / points, 1'000'000);
  }
  return 100'000'000;
}

int run_report(const ReportCliOptions& o) {
  auto reader = open_trace_or_exit(o.input, traces::TraceReader::ReadAhead::Events, o.read_ahead);
  replay::ReplayOptions options;
  if (const int rc = configure_replay_mode(o.mode, *reader, o.quiet, options); rc != kExitOk) return rc;
  const auto interval = timeline_interval(o.interval, *reader);
  if (!interval) return kExitUsage;
  options.interval_ns = *interval;
  options.timeline_points = html::kReportTimelinePoints;
  options.pageblock_map_cells = html::kReportMapCells;
  options.callsite_depth = o.callsite_depth;

  traces::TraceHeader header = reader->header();
  if (const int rc = fill_missing_zones(header, o.input, o.quiet); rc != kExitOk) return rc;
  if (const std::string why = model_too_large(header, *reader, options.mode == replay::ReplayMode::Simulate); !why.empty()) {
    error("{}: {}", o.input, why);
    hint("replay it on a machine with more memory; 'labyrinth stat' reads it in little memory");
    return kExitFailure;
  }
  std::optional<replay::ReplayResult> replayed;
  std::optional<replay::StatResult> stat;
  Progress progress(!o.quiet && !o.no_progress && ::isatty(2) == 1);
  try {
    replay::Replayer replayer(header, reader->start_snapshot(), reader->end_snapshot(), options);
    replayer.set_keyframes(reader->keyframes(), [&reader](std::size_t i, std::vector<traces::FreeRun>& runs) {
      return reader->keyframe_free_map(i, runs);
    });
    replayer.set_process_names([&reader](std::uint32_t id) { return reader->comm(id); });
    replay::PageStats stats(reader->header());
    std::span<const traces::PageEvent> chunk;
    while (reader->next(chunk)) {
      replayer.add_zone_counters(reader->take_zone_counters());
      replayer.add(chunk, reader->in_time_order());
      stats.add(chunk, reader->in_time_order());
      progress.update(*reader, reader->events_read());
    }
    progress.done();
    replayed = replayer.finish(*reader);
    stat = stats.finish(*reader, o.top, o.callsite_depth);
  } catch (const std::exception& e) {  // the model refuses the trace's geometry
    progress.done();
    error("{}: {}", o.input, e.what());
    return kExitFailure;
  }
  html::ReportOptions report_options;
  report_options.top = o.top == 0 ? 40 : std::min<std::size_t>(o.top, 40);
  const std::string page = html::render_report(*replayed, *stat, report_options);
  if (const std::string err = write_text_output(o.output, page); !err.empty()) {
    error("{}", err);
    return kExitFailure;
  }
  if (!o.quiet && o.output != "-") {
    fmt::print("{}: {} mode, {} events, {} failures; wrote {} ({:.1f} KiB)\n", o.input, replay::to_string(replayed->mode),
               replayed->counters.events, replayed->failures.total(), o.output, static_cast<double>(page.size()) / 1024.0);
  }
  return report_trace_damage(*reader);
}

}  // namespace

void setup_report(CLI::App& app) {
  auto o = std::make_shared<ReportCliOptions>();
  auto* cmd = app.add_subcommand("report",
                                 "Write one self-contained HTML page of charts from a replay of a trace: zones over "
                                 "time, failures, memory map, breakdowns, data quality, validation");
  cmd->add_option("trace", o->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", o->input, "Trace file (same as the positional argument)");
  cmd->add_option("-o,--output", o->output, "The HTML file to write ('-' for stdout); replaced if it exists")->required();
  add_replay_mode_options(cmd, o->mode);
  cmd->add_option("--interval", o->interval,
                  "Timeline interval of trace time (e.g. 100ms, 1s); auto: the recording's length in about 360 steps")
      ->capture_default_str();
  cmd->add_option("--top", o->top, "Rows per breakdown chart (0 = the most the page shows, 40)")->capture_default_str();
  cmd->add_option("--callsite-depth", o->callsite_depth,
                  "Frames from the call site on that make one call-site row (1 = the call site alone)")
      ->check(CLI::Range(1u, replay::kMaxCallsiteDepth))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No summary line, no progress bar");
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar even on a terminal");
  add_read_ahead_flag(cmd, o->read_ahead);
  cmd->callback([o] {
    const int rc = run_report(*o);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
