#include "trace_input.hpp"

#include <sched.h>

#include <CLI/CLI.hpp>

#include "exit_codes.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "log.hpp"

namespace labyrinth::cli {
namespace {

bool may_use_two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1;
}

}  // namespace

std::unique_ptr<traces::TraceReader> open_trace_or_exit(const std::string& path,
                                                        traces::TraceReader::ReadAhead read_ahead) {
  try {
    auto reader = std::make_unique<traces::TraceReader>(path);
    if (may_use_two_cpus()) reader->set_read_ahead(read_ahead);
    return reader;
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
