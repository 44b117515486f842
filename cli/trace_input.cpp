#include "trace_input.hpp"

#include <sched.h>

#include <cstdint>
#include <optional>

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

// A trace of fewer events is read in a millisecond or two, about one events block as `record`
// writes them: the read-ahead thread would only wait for it, and its start and the hand-over
// of each block cost more CPU time than the wall time they could save.
constexpr std::uint64_t kEventsWorthAThread = std::uint64_t{1} << 16;

bool worth_a_thread(const traces::TraceReader& reader) {
  const std::optional<std::uint64_t> declared = reader.events_declared();
  return !declared || *declared >= kEventsWorthAThread;  // unknown (no footer): it may be long
}

}  // namespace

void add_read_ahead_flag(CLI::App* cmd, bool& read_ahead) {
  cmd->add_flag("--read-ahead", read_ahead,
                "Read (and for a replay decode) the trace on a second thread: less wall time where a second core "
                "is idle and fast to share with, more CPU time");
}

std::unique_ptr<traces::TraceReader> open_trace_or_exit(const std::string& path, traces::TraceReader::ReadAhead mode,
                                                        bool read_ahead) {
  try {
    auto reader = std::make_unique<traces::TraceReader>(path);
    if (read_ahead) {
      if (!may_use_two_cpus()) {
        debug(1, "--read-ahead: this process may run on one CPU only, so the trace is read on one thread");
      } else if (!worth_a_thread(*reader)) {
        debug(1, "--read-ahead: the trace holds fewer than {} events, so it is read on one thread", kEventsWorthAThread);
      } else {
        reader->set_read_ahead(mode);
        debug(1, "reading the trace ahead on a second thread");
      }
    }
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
