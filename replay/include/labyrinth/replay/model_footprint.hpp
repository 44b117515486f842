// What replaying a trace takes in memory, estimated before the model is built (issue 14).
// The model's page metadata is lazy (zero pages until written), so the cost follows what the
// start snapshot and the events touch, not the machine's size: tables written for every
// pageblock and MAX_PAGE_ORDER block, the per-frame records the start snapshot's free runs
// write, and at most a fresh page of each per-frame array per event, up to all of them.
#pragma once

#include <cstdint>
#include <optional>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

struct ModelFootprint {
  std::uint64_t frames = 0;     // page frames of the modelled zones
  std::uint64_t pfn_range = 0;  // from the lowest zone start to the highest zone end
  double tables_bytes = 0;      // per zone, pageblock and MAX_PAGE_ORDER block: written at once
  double seed_bytes = 0;        // per-frame records the start snapshot's free runs write
  double events_bytes = 0;      // the most the events can add (all of it when their count is unknown)
  double all_frames_bytes = 0;  // every per-frame record written: the eager model's cost
  [[nodiscard]] double total() const { return tables_bytes + seed_bytes + events_bytes; }
};

// `events`: the trace's event count (TraceReader::events_declared), nullopt when unknown. `simulate` adds
// simulate's map from recorded to modelled pages.
ModelFootprint estimate_model_footprint(const traces::TraceHeader& header, const traces::Snapshot& start,
                                        std::optional<std::uint64_t> events, bool simulate);

}  // namespace labyrinth::replay
