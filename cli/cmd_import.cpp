// `labyrinth import FORMAT INPUT -o TRACE`: a text capture of the kmem page events (ftrace,
// trace-cmd report, perf script, or labyrinth's text twin) into a labyrinth trace.
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/import/gfp_table_loader.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/version.hpp"
#include "log.hpp"

namespace labyrinth::cli {
namespace {

using traces::import::CaptureFormat;
using traces::import::ImportReport;

struct ImportCommandOptions {
  std::string format;
  std::string input;
  std::string output = kDefaultTraceFile;
  std::string format_file;
  bool force = false;
  bool quiet = false;
  std::size_t shown_bad_lines = 5;
  double reorder_window_ms = 100.0;
};

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int /*signal*/) { g_interrupted.store(true); }

// SIGINT/SIGTERM stop the import cleanly (the temporary output is removed) for the command's
// lifetime; the previous handlers come back afterwards.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string seconds(std::uint64_t ns) { return fmt::format("{}.{:06}", ns / 1'000'000'000, (ns / 1000) % 1'000'000); }

void print_summary(const ImportReport& r, const traces::import::GfpTableChoice& gfp) {
  using traces::EventKind;
  using traces::ExecContext;
  const auto kind = [&](EventKind k) { return r.events_by_kind[static_cast<std::size_t>(k)]; };
  const auto ctx = [&](ExecContext c) { return r.events_by_context[static_cast<std::size_t>(c)]; };
  fmt::print(stderr, "labyrinth: imported {} events from {} ({}, {} lines) into {}\n", r.events, r.input,
             traces::import::to_string(r.format), r.lines, r.output);
  fmt::print(stderr, "  events:   alloc {} (failed {}), free {}, free_batched {}, pcp_refill {}, pcp_drain {}, extfrag {}\n",
             kind(EventKind::Alloc), r.failures, kind(EventKind::Free), kind(EventKind::FreeBatched),
             kind(EventKind::PcpRefill), kind(EventKind::PcpDrain), kind(EventKind::Extfrag));
  fmt::print(stderr, "  context:  task {}, softirq {}, hardirq {}, nmi {}, unknown {}\n", ctx(ExecContext::Task),
             ctx(ExecContext::Softirq), ctx(ExecContext::Hardirq), ctx(ExecContext::Nmi), ctx(ExecContext::Unknown));
  if (r.format != CaptureFormat::Text) {
    fmt::print(stderr, "  gfp:      {} table{}\n", traces::to_string(gfp.source), gfp.path.empty() ? "" : " from " + gfp.path);
  }
  fmt::print(stderr, "  time:     {} .. {} s, {} cpus\n", seconds(r.first_ts_ns), seconds(r.last_ts_ns), r.nr_cpus);
  std::string other;
  for (const auto& [name, count] : r.other_events) {
    other += fmt::format("{}{} {}", other.empty() ? " (" : ", ", name, count);
  }
  if (!other.empty()) other += ")";
  fmt::print(stderr, "  lines:    header/blank {}, other events {}{}, loss markers {}, unparseable {}\n",
             r.header_lines + r.blank_lines, r.losses.lines_other_events, other, r.lost_markers, r.losses.lines_skipped);
}

void print_warnings(const ImportReport& r, std::size_t shown) {
  if (r.losses.lost_events > 0) {
    std::string detail;
    if (r.overwritten_events > 0) detail += fmt::format(", {} overwritten in the ring buffer", r.overwritten_events);
    if (r.lost_markers_without_count > 0) {
      detail += fmt::format(", {} markers without a count (counted as 1 each)", r.lost_markers_without_count);
    }
    warning("the capture lost {} events ({} loss markers{}); analyses of this trace will say so", r.losses.lost_events,
            r.lost_markers, detail);
  }
  if (r.losses.lines_skipped > 0) {
    warning("{} lines could not be parsed and were skipped{}", r.losses.lines_skipped,
            r.first_bad_lines.empty() ? "" : fmt::format("; the first {}:", std::min(shown, r.first_bad_lines.size())));
    for (std::size_t i = 0; i < r.first_bad_lines.size() && i < shown; ++i) {
      const auto& bad = r.first_bad_lines[i];
      fmt::print(stderr, "  {}:{}: {}: {}\n", r.input, bad.line, bad.reason, bad.text);
    }
  }
  if (r.events_with_unknown_gfp > 0) {
    std::string names;
    for (const auto& [name, count] : r.unknown_gfp_names) names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", name, count);
    warning("{} allocations name GFP flags the table does not know: {}; those flags contribute no bits "
            "(give the recorded kernel's format file with --format-file)",
            r.events_with_unknown_gfp, names);
  }
  if (r.reordered > 0 || r.late > 0) {
    warning("{} events were out of timestamp order and were sorted; {} arrived too late to sort and stay out of order",
            r.reordered, r.late);
  }
}

int run_import(const ImportCommandOptions& o) {
  const auto format = traces::import::parse_capture_format(o.format);
  if (!format) {
    error("unknown capture format '{}'; use one of: {}", o.format, traces::import::capture_format_names());
    return kExitUsage;
  }
  try {
    traces::import::GfpTableChoice gfp;
    if (*format != CaptureFormat::Text) {
      gfp = traces::import::choose_gfp_table(o.format_file.empty() ? std::nullopt : std::optional(o.format_file));
      for (const auto& w : gfp.warnings) warning("GFP table: {}", w);
    }
    auto input = traces::import::InputSource::open(o.input);
    traces::import::ImportOptions options;
    options.format = *format;
    options.gfp_table = gfp.table;
    options.gfp_table_source = gfp.source;
    options.gfp_table_path = gfp.path;
    options.writer.overwrite = o.force;
    options.tool_version = LABYRINTH_VERSION;
    options.reorder_window_ns = static_cast<std::uint64_t>(o.reorder_window_ms * 1e6);
    options.bad_lines_kept = o.shown_bad_lines;
    options.cancel = &g_interrupted;
    InterruptGuard guard;
    const ImportReport report = traces::import::import_capture(*input, o.output, options);
    if (!o.quiet) print_summary(report, gfp);
    print_warnings(report, o.shown_bad_lines);
    return kExitOk;
  } catch (const traces::TraceError& e) {
    error("{}", e.what());
    if (g_interrupted.load()) return kExitInterrupted;
    if (e.kind() == traces::TraceError::Kind::BadInput) {
      hint("labyrinth import reads the text of: cat /sys/kernel/tracing/trace (ftrace), trace-cmd report "
           "(trace-cmd), perf script (perf-script); see labyrinth-import(1)");
    }
    return kExitFailure;
  }
}

}  // namespace

void setup_import(CLI::App& app) {
  auto options = std::make_shared<ImportCommandOptions>();
  auto* cmd = app.add_subcommand("import", "Convert a text capture (ftrace, trace-cmd report, perf script) into a trace");
  cmd->add_option("format", options->format, "Capture format: ftrace, trace-cmd, perf-script, text or auto")->required();
  cmd->add_option("input", options->input, "Capture file ('-' for stdin; zstd-compressed files are read as is)")->required();
  cmd->add_option("-o,--output", options->output, "Trace file to write")->capture_default_str();
  cmd->add_flag("-f,--force", options->force, "Overwrite an existing trace file");
  cmd->add_option("--format-file", options->format_file,
                  "The recorded kernel's events/kmem/mm_page_alloc/format, for its GFP flag table "
                  "(default: the running kernel's, else built-in)");
  cmd->add_option("--show-bad-lines", options->shown_bad_lines, "Unparseable lines to show")->capture_default_str();
  cmd->add_option("--reorder-window", options->reorder_window_ms,
                  "Milliseconds of trace time to hold events for sorting (trace_pipe captures)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", options->quiet, "No summary (warnings are still shown)");
  cmd->callback([options] {
    const int rc = run_import(*options);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
