// `labyrinth stat [TRACE]`: totals and breakdowns of the page events in a trace.
#include <cstdio>
#include <span>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/replay/folded_stacks.hpp"
#include "labyrinth/replay/openmetrics_report.hpp"
#include "labyrinth/replay/page_stats.hpp"
#include "labyrinth/replay/stat_report.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "trace_input.hpp"

namespace labyrinth::cli {
namespace {

struct StatOptions {
  std::string input = kDefaultTraceFile;
  std::string json_path;
  std::size_t top = 20;
  unsigned callsite_depth = replay::kDefaultCallsiteDepth;
  std::string folded_path;
  std::string folded_by = "allocations";
  std::string openmetrics_path;
  bool force = false;
  bool quiet = false;
  bool read_ahead = false;
};

int run_stat(const StatOptions& options) {
  if ((options.json_path == "-") + (options.folded_path == "-") + (options.openmetrics_path == "-") > 1) {
    error("only one of --json, --folded and --openmetrics can write to standard output");
    return kExitUsage;
  }
  const replay::FoldedCount folded_count = replay::parse_folded_count(options.folded_by).value();
  auto reader = open_trace_or_exit(options.input, traces::TraceReader::ReadAhead::Blocks, options.read_ahead);
  replay::PageStats stats(reader->header());
  stats.count_between(reader->start_snapshot(), reader->end_snapshot());
  // Events in batches that stay in L1 between the decoder and the tallies (a whole chunk
  // is megabytes of decoded events); stat does not depend on where a span ends.
  reader->set_batch_events(256);
  // Stat reads no CPU, and thread ids only to pair direct reclaim begins with their ends.
  if (!replay::PageStats::reads_tid(reader->header())) reader->skip_cpu_and_tid();
  std::span<const traces::PageEvent> chunk;
  while (reader->next(chunk)) stats.add(chunk, reader->in_time_order());
  const replay::StatResult result = stats.finish(*reader, options.top, options.callsite_depth);

  std::string folded;
  if (!options.folded_path.empty()) {
    if (result.by_stack_id.empty()) {
      error("{} holds no kernel stacks, so there is nothing to fold", options.input);
      hint("record with 'labyrinth record -g'");
      return kExitFailure;
    }
    folded = replay::folded_stacks(result, *reader, folded_count);
    if (folded.empty()) warning("no stack has {}: {} is empty", options.folded_by, options.folded_path);
  }

  const bool to_stdout = options.json_path == "-" || options.folded_path == "-" || options.openmetrics_path == "-";
  if (!options.quiet && !to_stdout) replay::print_stat_text(stdout, result);
  // The JSON document only for the outputs made from it (the text report is not).
  nlohmann::ordered_json doc;
  if (!options.json_path.empty() || !options.openmetrics_path.empty()) doc = replay::stat_to_json(result);
  if (!options.json_path.empty()) {
    if (const std::string err = write_json_output(options.json_path, doc); !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  if (!options.openmetrics_path.empty()) {
    // The zones' state at the end of the recording, else at its start.
    const auto& end = reader->end_snapshot();
    const std::string metrics = replay::stat_openmetrics(doc, reader->header(), end.present ? end : reader->start_snapshot(),
                                                         common::metrics_dialect_for_path(options.openmetrics_path));
    if (const std::string err = write_text_output(options.openmetrics_path, metrics); !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  if (!options.folded_path.empty()) {
    if (const std::string err = write_trace_data_output(options.folded_path, options.force, folded); !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  return report_trace_damage(*reader);
}

}  // namespace

void setup_stat(CLI::App& app) {
  auto options = std::make_shared<StatOptions>();
  auto* cmd = app.add_subcommand("stat", "Totals and breakdowns of the page events in a trace (like perf kmem stat --page)");
  cmd->add_option("trace", options->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", options->input, "Trace file (same as the positional argument)");
  cmd->add_option("--json", options->json_path, "Also write the JSON report to FILE ('-' for stdout, text suppressed)");
  cmd->add_option("--top", options->top, "Rows per breakdown (0 = all)")->capture_default_str();
  cmd->add_option("--callsite-depth", options->callsite_depth,
                  "Frames from the call site on that make one call-site row (1 = the call site alone)")
      ->check(CLI::Range(1u, replay::kMaxCallsiteDepth))
      ->capture_default_str();
  auto* folded = cmd->add_option("--folded", options->folded_path,
                                 "Write folded stacks for a flame graph to FILE ('-' for stdout, text suppressed; "
                                 "created 0600)");
  cmd->add_option("--folded-by", options->folded_by, "What --folded counts: allocations, failures or pages")
      ->check(CLI::IsMember({"allocations", "failures", "pages"}))
      ->needs(folded)
      ->capture_default_str();
  cmd->add_option("--openmetrics", options->openmetrics_path,
                  "Write the totals, failures, zone state and data-quality counters as metrics to FILE: OpenMetrics "
                  "text, or the Prometheus text format for a *.prom file (node_exporter's textfile collector); "
                  "'-' for stdout");
  cmd->add_flag("-f,--force", options->force, "Overwrite the --folded FILE if it exists");
  cmd->add_flag("-q,--quiet", options->quiet, "No text summary");
  add_read_ahead_flag(cmd, options->read_ahead);
  cmd->callback([options] {
    const int rc = run_stat(*options);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
