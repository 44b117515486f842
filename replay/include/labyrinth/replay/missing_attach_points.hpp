// The attach points a recording went without (the header's missing_events: a tracepoint the
// kernel lacks, a tracing program it refuses), each with what replay loses without it, so a
// report never presents a partial capture as a whole one.
#pragma once

#include <string>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

struct MissingAttachPoint {
  std::string name;    // as the recorder named it: "__isolate_free_page", "kmem:mm_page_pcpu_drain"
  std::string reason;  // why the recorder went without it, when it said; empty otherwise
  std::string cost;    // what the analysis loses without it
};

// One entry per missing attach point of `header`, in the header's order. A trace whose
// recorder never had an attach point does not list it, and none is reported for it.
std::vector<MissingAttachPoint> missing_attach_points(const traces::TraceHeader& header);

}  // namespace labyrinth::replay
