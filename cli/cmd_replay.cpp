// `labyrinth replay [TRACE] [--mode mirror|simulate] [what-if options]`: the trace replayed
// into the allocator model; failure forensics, fragmentation timeline, validation.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <span>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/replay/openmetrics_report.hpp"
#include "labyrinth/replay/perfetto_trace.hpp"
#include "labyrinth/replay/replay.hpp"
#include "labyrinth/replay/replay_report.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "replay_setup.hpp"
#include "trace_input.hpp"
#include "units.hpp"

namespace labyrinth::cli {
namespace {

struct ReplayCliOptions {
  std::string input = kDefaultTraceFile;
  ReplayModeOptions mode;
  std::string interval = "1s";
  std::string timeline_path;
  std::string json_path;
  std::string openmetrics_path;
  std::string perfetto_path;
  std::size_t top = 20;
  std::size_t max_failures = 10000;
  unsigned callsite_depth = replay::kDefaultCallsiteDepth;
  bool quiet = false;
  bool no_progress = false;
  bool read_ahead = false;
};

int run_replay(const ReplayCliOptions& o) {
  replay::ReplayOptions options;
  const ParsedUnit interval = parse_duration(o.interval);
  if (!interval.ok() || interval.value == 0) {
    error("--interval {}", interval.ok() ? "'" + o.interval + "' must be longer than 0" : interval.error);
    return kExitUsage;
  }
  options.interval_ns = interval.value;
  if ((o.json_path == "-") + (o.timeline_path == "-") + (o.openmetrics_path == "-") + (o.perfetto_path == "-") > 1) {
    error("only one of --json, --timeline, --openmetrics and --perfetto can write to standard output");
    return kExitUsage;
  }
  options.max_failures = o.max_failures;
  options.callsite_depth = o.callsite_depth;

  auto reader = open_trace_or_exit(o.input, traces::TraceReader::ReadAhead::Events, o.read_ahead);
  reader->skip_tid();  // nothing in a replay reads it; one column less to decode per event
  const auto& start = reader->start_snapshot();
  if (const int rc = configure_replay_mode(o.mode, *reader, o.quiet, options); rc != kExitOk) return rc;

  // The timeline CSV goes to a temporary file renamed at the end, like every report.
  std::FILE* csv = nullptr;
  std::unique_ptr<common::OutputFile> csv_out;
  if (!o.timeline_path.empty()) {
    if (o.timeline_path == "-") {
      csv = stdout;
    } else {
      try {
        csv_out = std::make_unique<common::OutputFile>(o.timeline_path, common::OutputPolicy{.overwrite = true});
      } catch (const common::OutputError& e) {
        error("{}", e.what());
        return kExitFailure;
      }
      const int fd = ::dup(csv_out->fd());
      csv = fd < 0 ? nullptr : ::fdopen(fd, "w");
      if (csv == nullptr && fd >= 0) ::close(fd);
      if (csv == nullptr) {
        error("cannot write {}: {}", o.timeline_path, std::strerror(errno));
        return kExitFailure;
      }
    }
    options.timeline_csv = csv;
  }
  auto close_csv = [&](bool keep) -> bool {
    if (csv == nullptr || csv == stdout) return true;
    const bool ok = std::fflush(csv) == 0 && std::ferror(csv) == 0;
    const bool closed = std::fclose(csv) == 0;
    csv = nullptr;
    if (!keep || !ok || !closed) {
      csv_out.reset();  // removes the temporary file
      return !keep;
    }
    try {
      csv_out->commit();
    } catch (const common::OutputError&) {
      csv_out.reset();
      return false;
    }
    csv_out.reset();
    return true;
  };

  // A trace without zones (an import of perf script or ftrace text) replays into this
  // machine's zones, if it has any to offer.
  traces::TraceHeader header = reader->header();
  if (const int rc = fill_missing_zones(header, o.input, o.quiet); rc != kExitOk) {
    close_csv(false);
    return rc;
  }

  if (const std::string why = model_too_large(header, *reader, options.mode == replay::ReplayMode::Simulate); !why.empty()) {
    close_csv(false);
    error("{}: {}", o.input, why);
    hint("replay it on a machine with more memory; 'labyrinth stat' reads it in little memory");
    return kExitFailure;
  }
  std::unique_ptr<replay::Replayer> replayer;
  try {
    replayer = std::make_unique<replay::Replayer>(header, start, reader->end_snapshot(), options);
    replayer->set_keyframes(reader->keyframes(), [&reader](std::size_t i, std::vector<traces::FreeRun>& runs) {
      return reader->keyframe_free_map(i, runs);
    });
    replayer->set_process_names([&reader](std::uint32_t id) { return reader->comm(id); });
  } catch (const std::exception& e) {
    close_csv(false);
    error("{}: {}", o.input, e.what());
    return kExitFailure;
  }
  Progress progress(!o.quiet && !o.no_progress && ::isatty(2) == 1);
  std::span<const traces::PageEvent> chunk;
  std::optional<replay::ReplayResult> replayed;
  replay::ExtfragEvents extfrag;  // for --perfetto: the replay keeps only their count
  try {
    while (reader->next(chunk)) {
      replayer->add_zone_counters(reader->take_zone_counters());
      replayer->add(chunk, reader->in_time_order());
      if (!o.perfetto_path.empty()) extfrag.add(chunk);
      progress.update(*reader, reader->events_read());
    }
    progress.done();
    replayed = replayer->finish(*reader);
  } catch (const std::exception& e) {  // the model refuses the trace's geometry
    progress.done();
    close_csv(false);
    error("{}: {}", o.input, e.what());
    return kExitFailure;
  }
  const replay::ReplayResult& result = *replayed;

  const bool to_stdout = o.json_path == "-" || o.timeline_path == "-" || o.openmetrics_path == "-" || o.perfetto_path == "-";
  if (!close_csv(true)) {
    error("cannot write the timeline to {}", o.timeline_path);
    return kExitFailure;
  }
  if (!o.quiet && !to_stdout) replay::print_replay_text(stdout, result, o.top);
  if (!o.json_path.empty()) {
    if (const std::string err = write_json_output(o.json_path, replay::replay_to_json(result, o.top)); !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  // Both exporters read the report document, every row of it (top_n 0).
  if (!o.openmetrics_path.empty() || !o.perfetto_path.empty()) {
    const nlohmann::ordered_json doc = replay::replay_to_json(result, 0);
    const std::vector<std::pair<std::string, std::string>> outputs{
        {o.openmetrics_path, o.openmetrics_path.empty() ? std::string()
                                                        : replay::replay_openmetrics(doc, common::metrics_dialect_for_path(o.openmetrics_path))},
        {o.perfetto_path, o.perfetto_path.empty() ? std::string() : replay::perfetto_trace_json(doc, reader->keyframes(), extfrag)}};
    for (const auto& [path, content] : outputs) {
      if (path.empty()) continue;
      if (const std::string err = write_text_output(path, content); !err.empty()) {
        error("{}", err);
        return kExitFailure;
      }
    }
  }
  return report_trace_damage(*reader);
}

}  // namespace

void setup_replay(CLI::App& app) {
  auto o = std::make_shared<ReplayCliOptions>();
  auto* cmd = app.add_subcommand("replay",
                                 "Replay a trace into the buddy-allocator model: failure forensics, fragmentation "
                                 "timeline, what-if settings");
  cmd->add_option("trace", o->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", o->input, "Trace file (same as the positional argument)");
  add_replay_mode_options(cmd, o->mode);
  cmd->add_option("--interval", o->interval, "Timeline interval of trace time (e.g. 100ms, 1s)")->capture_default_str();
  cmd->add_option("--timeline", o->timeline_path, "Write every timeline sample to FILE as CSV ('-' for stdout)");
  cmd->add_option("--json", o->json_path, "Also write the JSON report to FILE ('-' for stdout, text suppressed)");
  cmd->add_option("--openmetrics", o->openmetrics_path,
                  "Write totals, failures by order, class and cause, the zones' end state and data-quality counters as "
                  "metrics to FILE: OpenMetrics text, or the Prometheus text format for a *.prom file (node_exporter's "
                  "textfile collector); '-' for stdout");
  cmd->add_option("--perfetto", o->perfetto_path,
                  "Write the timeline, failures, extfrag events and keyframes as a trace-event JSON file for "
                  "ui.perfetto.dev or chrome://tracing ('-' for stdout)");
  cmd->add_option("--top", o->top, "Rows per table and failures listed in the text (0 = all)")->capture_default_str();
  cmd->add_option("--max-failures", o->max_failures,
                  "Failure records kept for the JSON report, and at most 1000 of simulate's missed ones (0 = all of both)")
      ->capture_default_str();
  cmd->add_option("--callsite-depth", o->callsite_depth,
                  "Frames from the call site on that name a failure's call site (1 = the call site alone)")
      ->check(CLI::Range(1u, replay::kMaxCallsiteDepth))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No text summary, no progress bar");
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar even on a terminal");
  add_read_ahead_flag(cmd, o->read_ahead);
  cmd->callback([o] {
    const int rc = run_replay(*o);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
