// Opening a trace for an analysis command, with the errors every command reports the same way.
#pragma once

#include <memory>
#include <string>

#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::cli {

// Opens the trace or prints the error and throws CLI::RuntimeError with the exit code. The
// trace is read ahead on a second thread (`read_ahead`, see TraceReader::set_read_ahead) when
// this process may run on more than one CPU.
std::unique_ptr<traces::TraceReader> open_trace_or_exit(const std::string& path,
                                                        traces::TraceReader::ReadAhead read_ahead);

// After the last chunk: print a damaged or incomplete trace's message. Returns the exit
// code the command should end with (kExitOk, or kExitBadTrace for damage).
int report_trace_damage(const traces::TraceReader& reader);

}  // namespace labyrinth::cli
