// Writing a report: "-" is stdout; a file goes through labyrinth::common::OutputFile
// (common/include/labyrinth/common/output_file.hpp): a temporary name renamed into place, so
// a failed run never leaves a half-written report behind, and never through a symbolic link.
// Reports replace an existing file, as they always have.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace labyrinth::cli {

// Returns an error message, or "" on success.
std::string write_text_output(const std::string& path, const std::string& content);
std::string write_json_output(const std::string& path, const nlohmann::ordered_json& document);

// Writes content that holds trace data (folded stacks), or to stdout for "-": 0600, an
// existing regular file only with `force` (a FIFO or device is written as is). Returns an
// error message, or "" on success.
std::string write_trace_data_output(const std::string& path, bool force, const std::string& content);

}  // namespace labyrinth::cli
