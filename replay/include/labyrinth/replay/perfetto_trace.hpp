// `labyrinth replay --perfetto FILE`: the replay as a trace-event JSON file (the Chrome
// "JSON Trace Event Format") that ui.perfetto.dev and chrome://tracing open. One process per
// zone holds counter tracks (free pages, watermarks, free blocks per order, unusable index per
// order, mixed pageblocks, pcp pages) from the replay's timeline, and instant events on named
// threads for failures (with their forensics as args) and migratetype fallbacks (extfrag);
// keyframe validations are global instants. Time is microseconds since the trace's first event.
//
// The size is bounded whatever the trace's length: the counters are the timeline's kept
// samples (at most ReplayOptions::timeline_points per zone, merged as the timeline merges
// them), and at most kMaxInstants failures and extfrag events are written (the rest are
// counted in "otherData").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

inline constexpr std::size_t kMaxInstants = 10000;

// The extfrag events of the stream, seen as the replay reads it (the replay keeps only their
// count): the first kMaxInstants, and how many there were.
class ExtfragEvents {
 public:
  void add(std::span<const traces::PageEvent> events);
  [[nodiscard]] const std::vector<traces::PageEvent>& kept() const { return kept_; }
  [[nodiscard]] std::uint64_t seen() const { return seen_; }

 private:
  std::vector<traces::PageEvent> kept_;
  std::uint64_t seen_ = 0;
};

// `replay_doc` is replay_to_json's document (with every failure record listed: top_n does not
// limit them); `keyframes` the trace's keyframe snapshots, whose watermarks mirror follows.
std::string perfetto_trace_json(const nlohmann::ordered_json& replay_doc, const std::vector<traces::Snapshot>& keyframes,
                                const ExtfragEvents& extfrag);

}  // namespace labyrinth::replay
