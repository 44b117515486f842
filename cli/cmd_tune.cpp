// `labyrinth tune TRACE [what-if options] [--json FILE]`: the smallest vm.min_free_kbytes and
// vm.watermark_scale_factor with which simulate predicts no atomic failure (replay/tune.cpp).
#include <memory>
#include <optional>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/replay/tune.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "replay_setup.hpp"
#include "trace_input.hpp"

namespace labyrinth::cli {
namespace {

struct TuneCliOptions {
  std::string input = kDefaultTraceFile;
  WhatIfOptions what_if;
  std::string json_path;
  bool quiet = false;
  bool read_ahead = false;
};

int run_tune(const TuneCliOptions& o) {
  replay::WhatIf w;
  if (const int rc = fill_what_if(o.what_if, w); rc != kExitOk) return rc;
  auto reader = open_trace_or_exit(o.input, traces::TraceReader::ReadAhead::Events, o.read_ahead);
  const traces::TraceHeader& header = reader->header();
  if (header.zones.empty()) {
    error("{} describes no memory zones: tune needs the recorded machine's zones", o.input);
    hint("record with 'labyrinth record', which stores them");
    return kExitFailure;
  }
  if (!reader->start_snapshot().present || reader->start_snapshot().free_runs.empty()) {
    warning("{} has no start free-page map: every run starts from all memory free (not the kernel's state)", o.input);
  }
  std::optional<replay::TuneResult> result;
  replay::TunedTrace trace;
  try {
    trace = replay::load_for_tune(*reader, header);
    result = replay::tune(trace, w);
  } catch (const std::exception& e) {
    error("{}: {}", o.input, e.what());
    return kExitFailure;
  }
  const bool json_to_stdout = o.json_path == "-";
  if (!o.quiet && !json_to_stdout) replay::print_tune_text(stdout, *result, o.input, header);
  if (!o.json_path.empty()) {
    if (const std::string err = write_json_output(o.json_path, replay::tune_to_json(*result, o.input, header));
        !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  if (const int rc = report_trace_damage(*reader); rc != kExitOk) return rc;
  // A refusal is an answer, but not the one asked for: say so in the exit status.
  return result->min_free_kbytes.recommended || result->watermark_scale_factor.recommended ? kExitOk : kExitFailure;
}

}  // namespace

void setup_tune(CLI::App& app) {
  auto o = std::make_shared<TuneCliOptions>();
  auto* cmd = app.add_subcommand(
      "tune", "Search vm.min_free_kbytes and vm.watermark_scale_factor for the smallest value with which simulate "
              "predicts no atomic allocation failure on a recording");
  cmd->add_option("trace", o->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", o->input, "Trace file (same as the positional argument)");
  add_what_if_options(cmd, o->what_if, "every run: ");
  cmd->add_option("--json", o->json_path, "Also write the JSON report to FILE ('-' for stdout, text suppressed)");
  cmd->add_flag("-q,--quiet", o->quiet, "No text report");
  add_read_ahead_flag(cmd, o->read_ahead);
  cmd->callback([o] {
    const int rc = run_tune(*o);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
