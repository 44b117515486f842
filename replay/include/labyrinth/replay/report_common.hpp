// Report sections shared by every analysis command (stat, replay): tool, kernel, data
// quality (the capture is capture.hpp's). Units are in key names; numbers are numbers.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "labyrinth/replay/data_quality.hpp"
#include "labyrinth/replay/missing_attach_points.hpp"
#include "labyrinth/replay/validation.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

// 2: stat has a config object; both configs hold callsite_depth, and a call site may be a
// chain of frames. A version adds keys; a key's meaning never changes within one.
inline constexpr int kReportSchemaVersion = 2;

nlohmann::ordered_json tool_json(const std::string& command);
nlohmann::ordered_json kernel_json(const traces::TraceHeader& header);
nlohmann::ordered_json data_quality_json(const DataQualityCounters& quality);

// "Data quality" block of the text reports: every non-zero counter, loss first, and under
// missing_attach_points each one with its reason and cost.
void print_data_quality(std::FILE* out, const DataQualityCounters& quality,
                        const std::vector<MissingAttachPoint>& missing);
// The kernel's counts (/proc/vmstat) against the trace's: replay's validation and stat's
// capture. The JSON is null when the trace lacks them.
nlohmann::ordered_json kernel_counters_json(const KernelCounterCheck& check);
// The kernel's direct compaction over the recording (compact_* of /proc/vmstat), or null.
nlohmann::ordered_json kernel_compaction_json(const KernelCounterCheck& check);
void print_kernel_counters(std::FILE* out, const KernelCounterCheck& check, std::string_view indent);
std::string format_duration_ns(std::uint64_t ns);
std::string format_bytes(std::uint64_t bytes);

}  // namespace labyrinth::replay
