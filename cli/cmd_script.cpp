// `labyrinth script [TRACE]`: the trace as text, one event per line (the text twin, which
// `labyrinth import text` turns back into a trace).
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "log.hpp"
#include "trace_input.hpp"

namespace labyrinth::cli {
namespace {

struct ScriptOptions {
  std::string input = kDefaultTraceFile;
  std::string output = "-";
};

int run_script(const ScriptOptions& options) {
  auto reader = open_trace_or_exit(options.input);
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (options.output != "-") {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) {
      error("{}: cannot create", options.output);
      return kExitFailure;
    }
    out = &file;
  }
  traces::write_text_trace(*reader, *out);
  out->flush();
  if (!*out) {
    error("{}: write failed", options.output == "-" ? std::string("stdout") : options.output);
    return kExitFailure;
  }
  return report_trace_damage(*reader);
}

}  // namespace

void setup_script(CLI::App& app) {
  auto options = std::make_shared<ScriptOptions>();
  auto* cmd = app.add_subcommand("script", "Print a trace as text, one event per line (the text twin)");
  cmd->add_option("trace", options->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", options->input, "Trace file");
  cmd->add_option("-o,--output", options->output, "Write to FILE instead of stdout");
  cmd->callback([options] {
    const int rc = run_script(*options);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
