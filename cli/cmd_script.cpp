// `labyrinth script [TRACE]`: the trace as text, one event per line (the text twin, which
// `labyrinth import text` turns back into a trace).
#include <ext/stdio_filebuf.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/common/text.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "log.hpp"
#include "trace_input.hpp"

namespace labyrinth::cli {
namespace {

struct ScriptOptions {
  std::string input = kDefaultTraceFile;
  std::string output = "-";
  bool force = false;
  bool read_ahead = false;
};

int run_script(const ScriptOptions& options) {
  auto reader = open_trace_or_exit(options.input, traces::TraceReader::ReadAhead::Blocks, options.read_ahead);
  std::optional<common::OutputFile> target;
  std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> buffer;
  std::unique_ptr<std::ostream> file;
  std::ostream* out = &std::cout;
  if (options.output != "-") {
    try {
      target.emplace(options.output, common::OutputPolicy{.overwrite = options.force, .private_data = true});
    } catch (const common::OutputError& e) {
      error("{}", e.what());
      return kExitFailure;
    }
    // The stream owns (and closes) a duplicate; the OutputFile commits its own descriptor.
    const int fd = ::dup(target->fd());
    if (fd < 0) {
      error("{}: {}", options.output, common::errno_text(errno));
      return kExitFailure;
    }
    buffer = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(fd, std::ios::out);
    file = std::make_unique<std::ostream>(buffer.get());
    out = file.get();
  }
  traces::write_text_trace(*reader, *out);
  out->flush();
  const bool written = static_cast<bool>(*out);
  file.reset();
  buffer.reset();
  if (!written) {
    error("{}: write failed", options.output == "-" ? std::string("stdout") : options.output);
    return kExitFailure;
  }
  if (target) {
    try {
      target->commit();
    } catch (const common::OutputError& e) {
      error("{}", e.what());
      return kExitFailure;
    }
  }
  return report_trace_damage(*reader);
}

}  // namespace

void setup_script(CLI::App& app) {
  auto options = std::make_shared<ScriptOptions>();
  auto* cmd = app.add_subcommand("script", "Print a trace as text, one event per line (the text twin)");
  cmd->add_option("trace", options->input, "Trace file")->capture_default_str();
  cmd->add_option("-i,--input", options->input, "Trace file");
  cmd->add_option("-o,--output", options->output, "Write to FILE instead of stdout (created 0600)");
  cmd->add_flag("-f,--force", options->force, "Overwrite FILE if it exists");
  add_read_ahead_flag(cmd, options->read_ahead);
  cmd->callback([options] {
    const int rc = run_script(*options);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
