// What a capture is, from its first bytes: which text format (ftrace, trace-cmd report,
// perf script), or a binary file that is not a text capture at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "labyrinth/traces/import/line_tokenizer.hpp"

namespace labyrinth::traces::import {

// Guesses the format from the first bytes of a capture; nullopt when nothing matches.
std::optional<CaptureFormat> sniff_capture_format(std::string_view head);

// What the first bytes of an input say it is, when it is not a text capture.
enum class BinaryFileKind : std::uint8_t { Text, PerfData, TraceCmdDat, LabyrinthTrace, OtherBinary };
BinaryFileKind binary_file_kind(std::string_view head);
// "a perf.data file", "a trace-cmd trace.dat file", "a labyrinth trace", "a binary file", "a text file"
std::string_view to_string(BinaryFileKind kind);

}  // namespace labyrinth::traces::import
