#include "trace_input.hpp"

#include <CLI/CLI.hpp>

#include "exit_codes.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "log.hpp"

namespace labyrinth::cli {

std::unique_ptr<traces::TraceReader> open_trace_or_exit(const std::string& path) {
  try {
    return std::make_unique<traces::TraceReader>(path);
  } catch (const traces::TraceError& e) {
    error("{}", e.what());
    if (e.kind() == traces::TraceError::Kind::Io && path == "labyrinth.trace") {
      hint("record one with 'labyrinth record', or name a trace file");
    }
    throw CLI::RuntimeError(e.kind() == traces::TraceError::Kind::Io ? kExitFailure : kExitBadTrace);
  }
}

int report_trace_damage(const traces::TraceReader& reader) {
  const auto& damage = reader.damage();
  if (!damage.any()) return kExitOk;
  error("{}", damage.message);
  error("{}: {} events were readable before that point; results above cover them only", reader.path(),
        reader.events_read());
  return kExitBadTrace;
}

}  // namespace labyrinth::cli
