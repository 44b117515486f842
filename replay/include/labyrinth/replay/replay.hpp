// `labyrinth replay`: a trace replayed into the allocator model.
//
// mirror   — the model is seeded from the start snapshot and applies the kernel's own choices:
//            the pfn of every allocation is carved out, frees go back (to the CPU's pcp list for
//            pcp orders), mm_page_alloc_zone_locked refills and mm_page_pcpu_drain drains move
//            pages between buddy and pcp lists, and mm_page_alloc_extfrag claims change pageblock
//            types. Failures are the kernel's own, explained from the reconstructed state; the
//            end state is checked against the recorded end snapshot.
// simulate — the model picks pages itself with the kernel's policy, under what-if settings;
//            recorded pfns are mapped to the model's pages so that frees land on them. Failures
//            are predictions, compared with what the kernel did.
//
// Nothing in a trace is fatal: every inconsistency is counted in the data-quality table and
// resynchronised. Memory is bounded independently of the trace length.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/replay/capture.hpp"
#include "labyrinth/replay/data_quality.hpp"
#include "labyrinth/replay/failure_agreement.hpp"
#include "labyrinth/replay/forensics.hpp"
#include "labyrinth/replay/model_setup.hpp"
#include "labyrinth/replay/pageblock_map.hpp"
#include "labyrinth/replay/timeline.hpp"
#include "labyrinth/replay/validation.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {
class TraceReader;
}

namespace labyrinth::replay {

enum class ReplayMode : std::uint8_t { Mirror, Simulate };
std::string_view to_string(ReplayMode mode);

// Where the model's free pages came from: the start snapshot's free-page map, or every
// managed page free (no map). "start_snapshot", "all_free" in the report.
enum class SeedSource : std::uint8_t { StartSnapshot, AllFree };
std::string_view to_string(SeedSource source);

struct ReplayOptions {
  ReplayMode mode = ReplayMode::Mirror;
  WhatIf what_if;
  std::uint64_t interval_ns = 1'000'000'000;  // timeline interval
  std::size_t timeline_points = 1000;         // per zone, kept for the JSON report
  std::FILE* timeline_csv = nullptr;          // every sample as a CSV row, if set
  std::size_t max_failures = 10000;           // failure records kept (0 = all)
  // Simulate's missed kernel failures kept: a diagnostic, so fewer (0 = all, as max_failures).
  [[nodiscard]] std::size_t max_missed() const { return max_failures == 0 ? 0 : std::min<std::size_t>(max_failures, 1000); }
  // Called with every failure record, kept or not: what a caller counts from all of them
  // (tune) without keeping them.
  std::function<void(const FailureRecord&)> on_failure;
  std::uint64_t sort_window_ns = 10'000'000;  // reorder window of the event sorter
  std::size_t sort_max_held = 1u << 18;
  bool check_invariants = true;               // full model consistency check at the end
  unsigned callsite_depth = 1;                // frames from the call site on that name a failure's call site
  std::size_t pageblock_map_cells = 0;        // > 0: keep the model's pageblock map at start and end (report)
};

// What the replay did with the events, beyond the data-quality counters.
struct ReplayCounters {
  std::uint64_t events = 0;  // events replayed
  std::uint64_t allocations = 0;
  std::uint64_t allocated_pages = 0;
  std::uint64_t failures = 0;  // mirror: recorded failures; simulate: predicted failures
  std::uint64_t failed_pages = 0;
  std::uint64_t frees = 0;
  std::uint64_t freed_pages = 0;
  std::uint64_t atomic_allocations = 0;
  std::uint64_t atomic_failures = 0;  // failed requests that cannot direct-reclaim (any class)
  std::uint64_t pcp_refills = 0;      // zone_locked events applied as refills
  std::uint64_t pcp_direct_takes = 0;  // zone_locked events of a block going straight to the caller
  std::uint64_t pcp_drains = 0;
  std::uint64_t extfrag_events = 0;
  std::uint64_t pageblock_changes = 0;
  std::uint64_t zone_resizes = 0;  // keyframes at which a zone's managed pages changed (followed)
  std::uint64_t highatomic_reservations = 0;  // mirror: reserve_highatomic_pageblock where the kernel calls it
  std::uint64_t isolations = 0;      // compaction free-scanner events applied
  std::uint64_t isolated_pages = 0;  // pages they took off the model's buddy lists
  std::uint64_t kernel_internal_ignored = 0;  // simulate: refill/drain/extfrag/kswapd events (the model decides)
  // simulate only
  std::uint64_t kernel_failures = 0;           // failures in the recording
  std::uint64_t both_succeeded = 0;
  std::uint64_t both_failed = 0;
  std::uint64_t model_failed_kernel_succeeded = 0;
  std::uint64_t model_served_kernel_failed = 0;  // memcg charge failures excluded
  std::uint64_t reclaim_stalls = 0;      // requests that direct-reclaimed (served or not)
  std::uint64_t oom_kills = 0;           // requests served only by an OOM kill the kernel would make
  std::uint64_t compaction_needed = 0;   // requests that found no block of their order
  std::uint64_t fallback_requests = 0;   // simulate: refused high-order requests the kernel served whose caller falls back to order 0
  std::uint64_t fallback_pages = 0;      // simulate: pages those fallbacks took
  std::uint64_t fallback_failures = 0;   // simulate: fallbacks refused (requests the kernel never made)
  std::uint64_t kernel_block_compactions = 0;  // simulate: served after moving the model's pages out of the kernel's block
  std::uint64_t compactions = 0;                // simulate: direct compaction runs
  std::uint64_t compaction_successes = 0;       // simulate: requests served right after one
  std::uint64_t compaction_migrated_pages = 0;  // simulate: pages its direct compaction moved
  std::uint64_t kswapd_runs = 0;         // reclaim passes of the model (see simulate_engine.cpp)
  std::uint64_t kswapd_reclaimed_pages = 0;
  std::uint64_t reclaim_allowance_pages = 0;  // simulate: pages its reclaim may add to the kernel's (what-if)
  std::uint64_t withheld_reclaim_pages = 0;  // simulate: kswapd's recorded frees a lowered high watermark left in use
  std::uint64_t seed_pages_released = 0;  // simulate: pre-recording pages the kernel showed free (pcp at the start)
  std::uint64_t balloon_pages = 0;       // pages the balloon took
  std::uint64_t balloon_requested_pages = 0;
};

struct ReplayResult : CaptureDescription {
  // configuration
  ReplayMode mode = ReplayMode::Mirror;
  WhatIf what_if;
  SeedSource seeded_from = SeedSource::AllFree;
  allocator::PcpMode pcp_mode = allocator::PcpMode::Manual;
  allocator::ModelConfig model_config;  // zones with the watermarks in force
  std::uint64_t recorded_min_free_kbytes = 0;
  std::vector<std::string> notes;
  // results
  ReplayCounters counters;
  allocator::ModelCounters model_counters;
  std::uint64_t model_metadata_bytes = 0;
  traces::GfpBits bits;
  FailureLog failures;
  FailureAgreement agreement;  // simulate: failures against the recording
  // Simulate: the model's free pages against the kernel's own counters at its failures (format 1.7).
  KernelCounterTally model_state_at_kernel_failures;
  // Simulate: the kernel's failures the model served (cause: what failed them on the kernel's
  // counters and lists, unexplained without them; state: the model's before it served them).
  FailureLog missed;
  // names resolved at the end (failure records keep ids)
  std::vector<std::pair<std::uint32_t, std::string>> comms;
  std::vector<std::pair<std::uint32_t, std::string>> callsites;  // by stack id, callsite_depth frames
  unsigned callsite_depth = 1;
  std::uint64_t timeline_interval_ns = 0;
  std::uint64_t timeline_kept_interval_ns = 0;
  std::uint64_t timeline_samples = 0;
  std::vector<TimelineZone> timeline;
  unsigned orders = 11;
  Validation validation;
  std::vector<KeyframeCheck> keyframes;  // mirror: validation at every keyframe, by time
  std::optional<std::string> invariant_violation;
  DataQualityCounters quality;
  PageblockMap start_map, end_map;  // with ReplayOptions::pageblock_map_cells; end: at the end snapshot
};

class Replayer {
 public:
  // Throws std::invalid_argument when the header describes nothing the model can use. Mirror
  // validates its state against `end` (TraceReader::end_snapshot(), known before the events)
  // when the events pass its time; end.present == false: no validation.
  Replayer(const traces::TraceHeader& header, const traces::Snapshot& start, const traces::Snapshot& end,
           ReplayOptions options);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // The keyframes of the trace (TraceReader::keyframes()), before the first add(). Mirror
  // validates at each and takes the kernel's watermarks and boost from it from then on; at a
  // keyframe that fails validation and has a free-page map, it resynchronises from the map,
  // which `free_map` reads (TraceReader::keyframe_free_map).
  using FreeMapReader = std::function<bool(std::size_t index, std::vector<traces::FreeRun>& runs)>;
  void set_keyframes(std::vector<traces::Snapshot> keyframes, FreeMapReader free_map = {});

  // The events' process names (TraceReader::comm), before the first add(). Simulate knows
  // kswapd's frees by them: a what-if that lowers the high watermark leaves some undone.
  // Without them it takes every free as the recording has it.
  using ProcessNames = std::function<std::string_view(std::uint32_t comm_id)>;
  void set_process_names(ProcessNames names);

  // The kernel's zone counters read at failed allocations (TraceReader::take_zone_counters()),
  // before the chunk whose events they belong to: each failure's are checked against the model.
  void add_zone_counters(const std::vector<traces::PageEvent>& counters);
  // Events in file order (they are sorted by timestamp internally). in_order: known to be in
  // timestamp order among themselves (TraceReader::in_time_order()), which saves a pass.
  void add(std::span<const traces::PageEvent> events, bool in_order = false);
  // After the last chunk: drains the sorter, closes the timeline, validates (mirror).
  ReplayResult finish(const traces::TraceReader& reader);

  [[nodiscard]] std::uint64_t events_replayed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::replay
