// Internal to laby_replay: the state every replay engine shares (model, counters, failure
// log, timeline) and the two engines. Not a public header.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/replay/replay.hpp"
#include "labyrinth/replay/validation.hpp"
#include "kernel_counters.hpp"
#include "request_span.hpp"

namespace labyrinth::replay::detail {

// The last allocation or free on a CPU, to recognise memcg charge failures
// (the page is freed right before mm_page_alloc reports the failure).
struct LastOnCpu {
  traces::EventKind kind = traces::EventKind::Alloc;
  std::uint8_t order = 0xff;
  bool double_free = false;  // the free found the page already free in the model
};

class Engine {
 public:
  Engine(const traces::TraceHeader& header, ModelSetup setup, const ReplayOptions& options);
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  virtual void apply(std::span<const traces::PageEvent> events) = 0;
  // Before the result is taken (e.g. nothing for mirror).
  virtual void close() {}
  // Before the state is validated against a snapshot: mirror takes what its free-page map
  // shows of movements no event reports, leaving out the pages that `later` (the events after
  // the snapshot's time, up to the end of its map's scan, in order over the spans) touches.
  virtual void settle_at_snapshot(const traces::Snapshot& /*snapshot*/,
                                  std::span<const std::span<const traces::PageEvent>> /*later*/) {}
  // Whether settle_at_snapshot wants the events after the snapshot.
  [[nodiscard]] virtual bool wants_events_after(const traces::Snapshot& /*snapshot*/) const { return false; }
  // At a keyframe: zones that grew (deferred init) or shrank (hotplug) take their new size,
  // with the watermarks, lowmem_reserve and per-CPU limits the kernel recomputes for it
  // (mm/page_alloc.c:init_per_zone_wmark_min). Returns whether a size changed.
  virtual bool follow_zone_sizes(const traces::Snapshot& keyframe);
  // Mirror: makes each range agree with a keyframe's free-page map, for movements no event
  // showed: freed where the map has it free, taken off the free lists where it does not (onto
  // a per-CPU list where its blocks' order has one, where such pages sit in the kernel).
  // Returns the pages changed.
  virtual std::uint64_t correct_to_map(std::span<const FreeMapDifference> /*ranges*/) { return 0; }

  const traces::TraceHeader& header;
  Replayer::ProcessNames process_names;  // may be empty
  ModelSetup setup;
  ReplayOptions options;
  allocator::Model model;
  ReplayCounters counters;
  DataQualityCounters quality;
  FailureLog failures;
  FailureAgreement agreement;  // simulate only
  Timeline timeline;
  std::vector<LastOnCpu> last;
  std::uint64_t first_ts = 0;
  std::uint64_t last_ts = 0;
  SeedSource seeded_from = SeedSource::AllFree;
  KernelCounterLog kernel_counters;  // read at failures, waiting for them
  // Simulate: the model's state at every kernel failure that carries the kernel's counters, by
  // the same check (its free pages against theirs; their_check_passes: those that pass theirs).
  KernelCounterTally model_state_at_kernel_failures;
  // Simulate: the kernel's failures the model served, each with the model's state before it
  // served it and the kernel's counters where the recorder read them.
  FailureLog missed;

  // Seeds the model from the start snapshot when it has a free-page map.
  void seed(const traces::Snapshot& start);

 protected:
  unsigned nr_cpus_;
  // The zones' recent free levels (mirror), each task's last allocation and its direct
  // reclaims (both engines).
  FreePageHistory free_history_;
  TaskLastEvents task_allocs_;
  TaskReclaims task_reclaims_;
  bool reclaim_recorded_ = false;  // the trace holds every direct reclaim (direct_reclaim_recorded)
  allocator::MetadataSpan span_;  // of the last zone prefetched
  // recorded_type of each recorded value (as a byte) when it is mergeable, else kNotMergeable:
  // one load per allocation for request_type.
  static constexpr std::uint8_t kNotMergeable = 0xff;
  std::array<std::uint8_t, 256> mergeable_of_{};
  allocator::GfpLayout layout_;
  std::uint64_t account_bit_;

  // Starts loading the model's records of the block of `order` at pfn (Model::metadata_span),
  // a few events ahead of its use.
  void prefetch(std::uint64_t pfn, unsigned order) {
    if (!span_.holds(pfn)) span_ = model.metadata_span(allocator::Pfn{pfn});
    span_.prefetch(pfn, order);
  }

  // Before a span's events: the first event of the replay starts the timeline (a test per
  // span, not per event).
  void begin_span(std::span<const traces::PageEvent> events) {
    if (counters.events == 0 && !events.empty()) {
      first_ts = events.front().ts_ns;
      timeline.start(first_ts);
    }
  }
  void begin_event(const traces::PageEvent& e) {
    ++counters.events;
    if (timeline.due(e.ts_ns)) timeline.sample_until(e.ts_ns, model);
    last_ts = e.ts_ns > last_ts ? e.ts_ns : last_ts;
  }
  unsigned cpu_of(const traces::PageEvent& e) {
    if (e.cpu < nr_cpus_) return e.cpu;
    quality.add(DataQuality::invalid_events);
    return 0;
  }
  // The request's migratetype: the recorded value mapped by name, else from the gfp bits.
  // Inline: mirror asks for every allocation event.
  [[nodiscard]] allocator::MigrateType request_type(const traces::PageEvent& e) const {
    const std::uint8_t t = mergeable_of_[static_cast<std::uint8_t>(e.migratetype)];
    if (t != kNotMergeable) return static_cast<allocator::MigrateType>(t);
    return allocator::gfp_migratetype(e.gfp, layout_, model.mobility_grouping_disabled());
  }
  [[nodiscard]] std::optional<allocator::MigrateType> recorded_type(std::int8_t mt) const {
    if (mt < 0 || static_cast<std::size_t>(mt) >= setup.migratetype_of.size()) return std::nullopt;
    return setup.migratetype_of[static_cast<std::size_t>(mt)];
  }
  [[nodiscard]] bool is_atomic_request(std::uint64_t gfp) const { return is_atomic(gfp, setup.bits); }
  // A failure right after a free of the same order on the same CPU, with __GFP_ACCOUNT.
  [[nodiscard]] bool is_memcg_failure(const traces::PageEvent& e, unsigned cpu) const {
    const LastOnCpu& l = last[cpu];
    return account_bit_ != 0 && (e.gfp & account_bit_) != 0 && l.kind == traces::EventKind::Free && l.order == e.order;
  }
  void explain_near_miss(FailureRecord& r, const traces::PageEvent& e) const;
  bool explain_by_span(FailureRecord& r, const traces::PageEvent& e, std::int64_t margin, std::int64_t drift) const;
  [[nodiscard]] std::int64_t margin_then(const ZoneState& s, const FreePageHistory::Sample& level) const;
  [[nodiscard]] ZoneState state_with_task(const FailureRecord& r, const traces::PageEvent& e,
                                          std::uint8_t task_state) const;
  [[nodiscard]] std::string chosen_in_span_note(const ZoneState& s, const ZoneState& flags) const;
  bool explain_by_reclaims(FailureRecord& r, const traces::PageEvent& e, std::int64_t margin, std::int64_t drift,
                           const std::vector<TaskReclaims::Reclaim>& reclaims, const ZoneState& flags,
                           std::string_view flags_note) const;
  [[nodiscard]] std::string evidence_gaps() const;
  void note_drift(FailureRecord& r) const;
  [[nodiscard]] bool served_within_drift(const ZoneState& state) const;
  [[nodiscard]] bool failed_within_drift(const ZoneState& state, unsigned order) const;
  [[nodiscard]] std::int64_t drift_pages(const ZoneState& state) const;
  // The kernel's counters read at a failure the kernel had, checked against the model's zone
  // for it; mirror takes the cause from them when they fail the request.
  void check_with_kernel(FailureRecord& r, const traces::PageEvent& e);
  // Simulate: logs the kernel's failure e that the model served, with `before`, the model's state
  // for it before it served it, and `theirs`, the check on the kernel's counters there.
  void record_missed(const traces::PageEvent& e, unsigned cpu, const ZoneState& before,
                     const std::optional<KernelCheck>& theirs, bool lag_alone);
  // The check on the kernel's counters of the model zone `state` looked at, if the failure at
  // e's time and CPU has them.
  [[nodiscard]] std::optional<KernelCheck> kernel_check(const ZoneState& state, const traces::PageEvent& e) const;
  // The counter's lag alone failed the kernel's request e (format 1.9): no zone it may use passes
  // the check on the kernel's counters, and one passes it on the exact count (counters + per-CPU
  // diffs) with a block of the order. Each zone is checked with the model's watermarks and the
  // request's reductions, read before the model serves or fails it.
  [[nodiscard]] bool kernel_lag_alone(const traces::PageEvent& e, unsigned cpu) const;
  // Of a failure's counters, those of the model's zone `zone`, or nullptr.
  [[nodiscard]] const traces::ZoneCounters* counters_of_zone(const std::vector<traces::ZoneCounters>& read,
                                                             std::size_t zone) const;
  // A record of request e with its event's fields (the state and cause left to the caller).
  [[nodiscard]] FailureRecord record_of(const traces::PageEvent& e, unsigned cpu, bool kernel_failed) const;
  // Builds and logs the failure record from the model's state now, and returns it.
  // lag_alone: kernel_lag_alone(e, cpu) as read before the model served or failed e (simulate);
  // read now when absent.
  FailureRecord record_failure(const traces::PageEvent& e, unsigned cpu, std::optional<FailureCause> cause,
                               bool kernel_failed, std::optional<bool> lag_alone = std::nullopt);
};

std::unique_ptr<Engine> make_mirror_engine(const traces::TraceHeader& header, ModelSetup setup,
                                           const ReplayOptions& options);
std::unique_ptr<Engine> make_simulate_engine(const traces::TraceHeader& header, ModelSetup setup,
                                             const ReplayOptions& options);

// Free blocks of a request's order outside the reserves few enough that the kernel may have
// given them away unseen (a compaction round isolates up to 32 pages' worth).
inline constexpr std::uint64_t kFewBlocks = 32;

// Simulate's balloon: takes `pages` free pages at the start (see balloon.cpp).
inline constexpr allocator::Owner kBalloonOwner = ~allocator::Owner{0} - 1;
std::uint64_t inflate_balloon(allocator::Model& model, std::uint64_t pages);

}  // namespace labyrinth::replay::detail
