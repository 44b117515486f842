#include "labyrinth/replay/capture.hpp"

#include <algorithm>

#include "labyrinth/traces/metadata_json.hpp"

namespace labyrinth::replay {

using nlohmann::ordered_json;

bool recorded(const traces::TraceHeader& header, traces::EventKind kind) {
  return std::find(header.events.begin(), header.events.end(), traces::tracepoint_of(kind)) != header.events.end();
}

void describe_capture(CaptureDescription& c, const traces::TraceReader& reader, traces::TraceHeader header) {
  c.trace_path = reader.path();
  c.header = std::move(header);
  c.footer = reader.footer();
  c.complete = reader.complete();
  c.damage = reader.damage().message;
}

void add_capture_quality(DataQualityCounters& quality, const CaptureDescription& c) {
  const auto& losses = c.footer.losses;
  quality.add(DataQuality::ringbuf_drops, losses.ringbuf_drops);
  quality.add(DataQuality::recursion_misses, losses.recursion_misses);
  quality.add(DataQuality::lost_events, losses.lost_events);
  quality.add(DataQuality::lines_skipped, losses.lines_skipped);
  if (!c.complete) quality.add(DataQuality::trace_incomplete);
  quality.add(DataQuality::missing_attach_points, missing_attach_points(c.header).size());
}

ordered_json missing_attach_points_json(const std::vector<MissingAttachPoint>& missing) {
  ordered_json out = ordered_json::array();
  for (const auto& m : missing) {
    out.push_back(ordered_json{{"name", m.name},
                               {"reason", m.reason.empty() ? ordered_json(nullptr) : ordered_json(m.reason)},
                               {"cost", m.cost}});
  }
  return out;
}

ordered_json capture_json(const CaptureDescription& c) {
  const auto& h = c.header;
  ordered_json losses = nlohmann::json(c.footer.losses);
  ordered_json out{{"trace", c.trace_path},
                   {"source", h.source},
                   {"clock", h.clock},
                   {"complete", c.complete},
                   {"damage", c.damage.empty() ? ordered_json(nullptr) : ordered_json(c.damage)},
                   {"events", c.events},
                   {"first_ts_ns", c.first_ts_ns},
                   {"last_ts_ns", c.last_ts_ns},
                   {"duration_ns", c.duration_ns()},
                   {"command", h.command},
                   {"losses", losses},
                   {"missing_attach_points", missing_attach_points_json(missing_attach_points(h))}};
  if (c.footer.present) out["stop_reason"] = c.footer.stop_reason;
  return out;
}

}  // namespace labyrinth::replay
