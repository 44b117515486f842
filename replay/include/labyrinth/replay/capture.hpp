// What was read, the same for every analysis of one trace: the file, its header and
// footer, whether it is whole, and the span of its events. StatResult and ReplayResult are
// each a CaptureDescription with their own results.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "labyrinth/replay/data_quality.hpp"
#include "labyrinth/replay/missing_attach_points.hpp"
#include "labyrinth/traces/trace_metadata.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

struct CaptureDescription {
  std::string trace_path;
  traces::TraceHeader header;  // as analysed: replay may have added this machine's zones
  traces::TraceFooter footer;
  bool complete = false;
  std::string damage;          // the reader's message; empty when the file is whole
  std::uint64_t events = 0;    // events analysed
  std::uint64_t first_ts_ns = 0, last_ts_ns = 0;

  [[nodiscard]] std::uint64_t duration_ns() const { return last_ts_ns >= first_ts_ns ? last_ts_ns - first_ts_ns : 0; }
};

// Whether the capture recorded every event of `kind`: its header's event list names the kind's
// tracepoint (or, for a pageblock move, the function the recorder attached to).
[[nodiscard]] bool recorded(const traces::TraceHeader& header, traces::EventKind kind);

// Fills path, footer, completeness and damage from `reader` (after its last chunk), and
// `header`. Events and timestamps are the analysis's own.
void describe_capture(CaptureDescription& capture, const traces::TraceReader& reader, traces::TraceHeader header);

// The capture's losses, incompleteness and missing attach points as data-quality counters.
void add_capture_quality(DataQualityCounters& quality, const CaptureDescription& capture);

// The capture object's "missing_attach_points": name, reason (or null) and cost of each.
nlohmann::ordered_json missing_attach_points_json(const std::vector<MissingAttachPoint>& missing);

// The report's "capture" object.
nlohmann::ordered_json capture_json(const CaptureDescription& capture);

}  // namespace labyrinth::replay
