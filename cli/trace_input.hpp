// Opening a trace for an analysis command, with the errors every command reports the same way.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::cli {

// `--read-ahead`, the same on every command that reads a trace. Off by default: on the
// reference VM the second thread always cost CPU time (6% to 38%; the consumer reads what the
// other core's cache wrote), and saved wall time only when the host left that core alone
// (README "Measured").
void add_read_ahead_flag(CLI::App* cmd, bool& read_ahead);

// Opens the trace or prints the error and throws CLI::RuntimeError with the exit code. With
// `read_ahead`, the trace is read ahead on a second thread (`mode`, see
// TraceReader::set_read_ahead) when this process may run on more than one CPU.
std::unique_ptr<traces::TraceReader> open_trace_or_exit(const std::string& path, traces::TraceReader::ReadAhead mode,
                                                        bool read_ahead);

// After the last chunk: print a damaged or incomplete trace's message. Returns the exit
// code the command should end with (kExitOk, or kExitBadTrace for damage).
int report_trace_damage(const traces::TraceReader& reader);

}  // namespace labyrinth::cli
