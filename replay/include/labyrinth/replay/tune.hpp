// `labyrinth tune`: the smallest vm.min_free_kbytes, and separately the smallest
// vm.watermark_scale_factor, with which simulate predicts no atomic failure on a recording:
// a failed request that cannot direct-reclaim (GFP_ATOMIC, GFP_NOWAIT, with or without
// __GFP_NOWARN) of order 0 to PAGE_ALLOC_COSTLY_ORDER (3). The order-9 requests that cannot
// reclaim (THP's GFP_TRANSHUGE_LIGHT) are left out: they fail for want of a huge block, which
// no watermark provides.
//
// The trace is decoded once (TunedTrace); every try is one simulate run over those events. The
// two searches run on two threads, each a sequence of simulate runs: the recorded value, then
// doubling (or halving, when the recorded value already has no atomic failure) until the
// outcome changes, then bisection until the failing value is within 5% of the passing one,
// then a run at 90% of the recommendation to show that it is minimal. A search that reaches
// the top of its range with atomic failures left refuses, naming what remains.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/replay/forensics.hpp"
#include "labyrinth/replay/model_setup.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {
class TraceReader;
}

namespace labyrinth::replay {

enum class TuneKnob : std::uint8_t { MinFreeKbytes, WatermarkScaleFactor };
std::string_view to_string(TuneKnob knob);  // the sysctl's name

// The outcome of one simulate run.
struct TunePoint {
  TuneKnob knob = TuneKnob::MinFreeKbytes;
  std::uint64_t value = 0;
  std::array<std::uint64_t, kFailureClassCount> failures_by_class{};
  std::uint64_t atomic_failures = 0;  // see the file comment
  std::array<std::uint64_t, kFailureCauseCount> atomic_by_cause{};
  // Atomic watermark failures of requests without __GFP_HIGH (GFP_NOWAIT and the like), which
  // get no reserve below min: for a request that cannot direct-reclaim,
  // mm/page_alloc.c:gfp_to_alloc_flags sets ALLOC_MIN_RESERVE only for __GFP_HIGH (from 6.3;
  // simulate replays kernels from 6.10 only).
  std::uint64_t atomic_without_reserve = 0;
  // The recording's atomic failures that this run served within the kernel's per-CPU counter
  // drift of the min: removed by fewer pages than the kernel's count may lag, so its lagging
  // count could still fail them.
  std::uint64_t atomic_served_near = 0;
  std::uint64_t oom_kills = 0;
  // Sums over the zones of the watermarks in force and of their managed pages at the end (zones
  // grow during a recording with lazily initialised memory), in pages.
  std::uint64_t min_pages = 0;
  std::uint64_t high_pages = 0;
  std::uint64_t managed_pages = 0;
  double seconds = 0;  // wall time of the run
  [[nodiscard]] std::uint64_t atomic() const { return atomic_failures; }
};

struct TuneSearch {
  TuneKnob knob = TuneKnob::MinFreeKbytes;
  std::uint64_t recorded = 0;  // the value the search starts from
  std::uint64_t lowest = 0, highest = 0;
  std::vector<TunePoint> tried;  // in the order tried
  std::optional<std::uint64_t> recommended;
  std::optional<TunePoint> at_90_percent;  // the run at 90% of the recommendation
  std::string refused;  // why no value in [lowest, highest] helps
};

struct TuneResult {
  TunePoint recorded;  // both knobs as recorded (or as given)
  TuneSearch min_free_kbytes;
  TuneSearch watermark_scale_factor;
  std::uint64_t managed_pages = 0;
  std::uint64_t page_size = 4096;
  std::uint64_t runs = 0;
  double seconds = 0;
};

// The events simulate reads (allocations and frees), decoded once.
struct TunedTrace {
  const traces::TraceReader* reader = nullptr;  // names and footer for each run's result
  traces::TraceHeader header;
  std::vector<std::vector<traces::PageEvent>> chunks;
  std::vector<bool> chunk_in_order;
  std::uint64_t events = 0;
};
// Reads every chunk of `reader` (header: the reader's, or one with zones added).
TunedTrace load_for_tune(traces::TraceReader& reader, const traces::TraceHeader& header);

// One simulate run of the loaded events with `what_if`, the knob set to `value`.
using TuneEvaluate = std::function<TunePoint(TuneKnob knob, std::uint64_t value)>;
TuneEvaluate simulate_evaluator(const TunedTrace& trace, WhatIf what_if);

// One knob's search (see the file comment), from `start` whose outcome is known.
TuneSearch search_knob(TuneKnob knob, const TunePoint& start, std::uint64_t lowest, std::uint64_t highest,
                       const TuneEvaluate& evaluate);

// The recorded run, then both searches on two threads. Throws what a simulate run throws
// (e.g. std::invalid_argument for a kernel generation the model does not have).
TuneResult tune(const TunedTrace& trace, const WhatIf& what_if);

}  // namespace labyrinth::replay

namespace labyrinth::replay {

// The report (man 1 labyrinth-tune; schema replay/schema/labyrinth-tune.schema.json).
nlohmann::ordered_json tune_to_json(const TuneResult& result, const std::string& trace_path,
                                    const traces::TraceHeader& header);
void print_tune_text(std::FILE* out, const TuneResult& result, const std::string& trace_path,
                     const traces::TraceHeader& header);

}  // namespace labyrinth::replay
