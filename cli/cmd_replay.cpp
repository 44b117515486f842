// `labyrinth replay [TRACE] [--mode mirror|simulate] [what-if options]`: the trace replayed
// into the allocator model; failure forensics, fragmentation timeline, validation.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <span>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"
#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/replay/openmetrics_report.hpp"
#include "labyrinth/replay/perfetto_trace.hpp"
#include "labyrinth/replay/replay.hpp"
#include "labyrinth/replay/replay_report.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "trace_input.hpp"
#include "units.hpp"

namespace labyrinth::cli {
namespace {

struct ReplayCliOptions {
  std::string input = kDefaultTraceFile;
  std::string mode;  // "" = decide from the trace
  std::optional<std::uint64_t> min_free_kbytes;
  std::optional<std::uint64_t> watermark_scale_factor;
  std::optional<std::uint64_t> watermark_boost_factor;
  bool no_highatomic = false;
  bool no_pcp = false;
  std::string balloon;
  std::optional<std::uint64_t> kswapd_rate;
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
};

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const traces::TraceReader& reader, std::uint64_t events) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    const double frac = reader.file_size() == 0 ? 0.0
                                                : std::min(1.0, static_cast<double>(reader.offset()) /
                                                                    static_cast<double>(reader.file_size()));
    const int width = 30;
    const int fill = static_cast<int>(frac * width);
    fmt::print(stderr, "\rreplay [{}{}] {:3.0f}%  {:.1f}M events", std::string(static_cast<std::size_t>(fill), '='),
               std::string(static_cast<std::size_t>(width - fill), ' '), frac * 100.0, static_cast<double>(events) / 1e6);
    std::fflush(stderr);
  }
  void done() {
    if (enabled_ && shown_) fmt::print(stderr, "\r{}\r", std::string(60, ' '));
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// The model keeps metadata for every page frame of the recorded zones (12 bytes, rounded
// up here), and simulate a few bytes more for every pfn between the lowest and highest zone.
// A hostile or foreign header can describe more than this machine could hold: say so before
// allocating, rather than die of it.
std::string model_too_large(const traces::TraceHeader& header, bool simulate) {
  constexpr double kBytesPerPage = 16;
  constexpr double kSimulateBytesPerPfn = 6;
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  double pages = 0;
  for (const auto& z : header.zones) {
    if (z.spanned_pages == 0 || z.managed_pages == 0) continue;
    lo = std::min(lo, z.start_pfn);
    const std::uint64_t end = z.start_pfn + z.spanned_pages;
    hi = std::max(hi, end < z.start_pfn ? ~std::uint64_t{0} : end);
    pages += static_cast<double>(z.spanned_pages);
  }
  if (hi <= lo) return {};
  const double need = pages * kBytesPerPage + (simulate ? static_cast<double>(hi - lo) * kSimulateBytesPerPfn : 0.0);
  const double have = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (have <= 0 || need <= have * 0.75) return {};
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  return fmt::format("its zones span {:.0f} page frames{}; replaying them needs about {:.1f} GiB of memory, more than "
                     "this machine has ({:.1f} GiB)",
                     pages, simulate && static_cast<double>(hi - lo) > pages ? fmt::format(" over a range of {} pfns", hi - lo) : "",
                     need / kGiB, have / kGiB);
}

int run_replay(const ReplayCliOptions& o) {
  replay::ReplayOptions options;
  replay::WhatIf& w = options.what_if;
  w.min_free_kbytes = o.min_free_kbytes;
  w.watermark_scale_factor = o.watermark_scale_factor;
  w.watermark_boost_factor = o.watermark_boost_factor;
  w.no_highatomic = o.no_highatomic;
  w.no_pcp = o.no_pcp;
  if (o.kswapd_rate) w.kswapd_mib_per_s = *o.kswapd_rate;
  if (!o.balloon.empty()) {
    const ParsedUnit size = parse_size(o.balloon);
    if (!size.ok()) {
      error("--balloon {}", size.error);
      return kExitUsage;
    }
    w.balloon_bytes = size.value;
  }
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
  const bool what_if = w.min_free_kbytes || w.watermark_scale_factor || w.watermark_boost_factor || w.no_highatomic ||
                       w.no_pcp || w.balloon_bytes != 0 || o.kswapd_rate;

  auto reader = open_trace_or_exit(o.input, traces::TraceReader::ReadAhead::Events);
  const auto& start = reader->start_snapshot();
  const bool has_map = start.present && !start.free_runs.empty();
  if (o.mode == "mirror") {
    if (what_if) {
      error("what-if options (--min-free-kbytes, --watermark-*, --no-highatomic, --no-pcp, --balloon, --kswapd-rate) "
            "need --mode simulate");
      return kExitUsage;
    }
    options.mode = replay::ReplayMode::Mirror;
  } else if (o.mode == "simulate") {
    options.mode = replay::ReplayMode::Simulate;
  } else {
    options.mode = has_map && !what_if ? replay::ReplayMode::Mirror : replay::ReplayMode::Simulate;
    if (!has_map && !o.quiet) {
      warning("{} has no start free-page map: simulating from all memory free (not the kernel's state)", o.input);
    }
  }

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
  if (header.zones.empty()) {
    header.zones = procfs::populated_zones(procfs::parse_zoneinfo(procfs::try_read_file("/proc/zoneinfo").value_or("")));
    if (header.zones.empty()) {
      close_csv(false);
      error("{} describes no memory zones and /proc/zoneinfo cannot be read", o.input);
      hint("record with 'labyrinth record', which stores the zones, or replay on the machine the capture came from");
      return kExitFailure;
    }
    if (!o.quiet) warning("{} describes no memory zones: replaying into this machine's (from /proc/zoneinfo)", o.input);
  }

  if (const std::string why = model_too_large(header, options.mode == replay::ReplayMode::Simulate); !why.empty()) {
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
  cmd->add_option("--mode", o->mode,
                  "mirror: apply the kernel's own choices (default with a start snapshot); simulate: the model picks "
                  "pages under what-if settings (default otherwise, or with a what-if option)")
      ->check(CLI::IsMember({"mirror", "simulate"}));
  cmd->add_option("--min-free-kbytes", o->min_free_kbytes, "simulate: vm.min_free_kbytes (watermarks recomputed)");
  cmd->add_option("--watermark-scale-factor", o->watermark_scale_factor,
                  "simulate: vm.watermark_scale_factor (watermarks recomputed)");
  cmd->add_option("--watermark-boost-factor", o->watermark_boost_factor, "simulate: vm.watermark_boost_factor");
  cmd->add_flag("--no-highatomic", o->no_highatomic, "simulate: no high-order atomic reserve");
  cmd->add_flag("--no-pcp", o->no_pcp, "simulate: no per-CPU page lists");
  cmd->add_option("--balloon", o->balloon, "simulate: take SIZE of free memory away at the start (e.g. 512M, 2G)");
  cmd->add_option("--kswapd-rate", o->kswapd_rate,
                  "simulate: how fast kswapd reclaims, in MiB of trace time per second (default 1024)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
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
  cmd->add_option("--max-failures", o->max_failures, "Failure records kept for the JSON report (0 = all)")
      ->capture_default_str();
  cmd->add_option("--callsite-depth", o->callsite_depth,
                  "Frames from the call site on that name a failure's call site (1 = the call site alone)")
      ->check(CLI::Range(1u, replay::kMaxCallsiteDepth))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No text summary, no progress bar");
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar even on a terminal");
  cmd->callback([o] {
    const int rc = run_replay(*o);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
