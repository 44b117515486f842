#include "engine.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdlib>
#include <utility>

#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/replay/direct_reclaim.hpp"

namespace labyrinth::replay::detail {

namespace {

std::vector<TimelineZone> timeline_zones(const traces::TraceHeader& header, const ModelSetup& setup) {
  std::vector<TimelineZone> zones;
  for (const std::size_t h : setup.header_zone_of_model) {
    zones.push_back(TimelineZone{header.zones[h].node, header.zones[h].name, {}});
  }
  return zones;
}

}  // namespace

Engine::Engine(const traces::TraceHeader& h, ModelSetup s, const ReplayOptions& o)
    : header(h),
      setup(std::move(s)),
      options(o),
      model(setup.config),
      failures(o.max_failures),
      timeline(o.interval_ns, o.timeline_points, timeline_zones(h, setup), setup.config.max_order + 1, o.timeline_csv),
      last(setup.config.nr_cpus),
      missed(o.max_missed()),
      nr_cpus_(setup.config.nr_cpus),
      free_history_(setup.config.zones.size()),
      task_allocs_(setup.config.nr_cpus),
      reclaim_recorded_(direct_reclaim_recorded(header)),
      layout_(setup.config.gfp),
      account_bit_(setup.bits.account) {
  failures.set_observer(o.on_failure);
  mergeable_of_.fill(kNotMergeable);
  for (unsigned v = 0; v < 128; ++v) {
    if (const auto t = recorded_type(static_cast<std::int8_t>(v)); t && allocator::is_mergeable(*t)) {
      mergeable_of_[v] = static_cast<std::uint8_t>(*t);
    }
  }
}

void Engine::seed(const traces::Snapshot& start) {
  if (!start.present || start.free_runs.empty()) {
    seeded_from = SeedSource::AllFree;
    return;  // the constructor seeded every managed page free
  }
  const allocator::SeedReport report = model.seed(model_snapshot(start, header, setup));
  seeded_from = SeedSource::StartSnapshot;
  if (report.pages_outside_zones != 0) {
    setup.notes.push_back(std::to_string(report.pages_outside_zones) +
                          " free pages of the start snapshot lie outside the replayed zones");
  }
  if (report.pageblock_count_shortfall != 0) {
    setup.notes.push_back("the start snapshot counts more non-movable pageblocks than the zones hold");
  }
}

bool Engine::follow_zone_sizes(const traces::Snapshot& keyframe) {
  if (!replay::follow_zone_sizes(model, setup, header, keyframe)) return false;
  model.recompute_reserves();
  ++counters.zone_resizes;
  return true;
}

// The kernel failed a request the model would serve. Within the kernel's counter drift of
// the watermark it is a watermark failure the model cannot see; otherwise name what is missing.
std::int64_t Engine::drift_pages(const ZoneState& s) const {
  if (!s.zone) return 0;
  const unsigned shift = static_cast<unsigned>(std::countr_zero(std::uint64_t{setup.config.page_size}));
  const allocator::Watermarks wm = model.watermarks(*s.zone);
  return vmstat_drift_pages(model.zone_config(*s.zone).managed_pages, wm.low > wm.min ? wm.low - wm.min : 0, nr_cpus_,
                            shift);
}

// A watermark failure decided by the model's exact count: whether the kernel's lagging
// NR_FREE_PAGES (zone_page_state in zone_watermark_fast) could have decided otherwise.
void Engine::note_drift(FailureRecord& r) const {
  const ZoneState& s = r.state;
  if (!s.zone || r.cause != FailureCause::Watermark || !r.evidence.empty()) return;
  const std::int64_t short_by = 1 - s.margin_pages();
  const std::int64_t drift = drift_pages(s);
  r.evidence = short_by <= drift
                   ? fmt::format("{} pages short of the effective min, within the {} pages the kernel's NR_FREE_PAGES "
                                 "may lag (per-CPU counter drift): the drift could flip it",
                                 short_by, drift)
                   : fmt::format("{} pages short of the effective min, beyond the {} pages of per-CPU counter drift: "
                                 "the drift cannot flip it",
                                 short_by, drift);
}

// Whether the kernel's lagging count could have decided the request the other way. Served:
// the watermark passed in one zone only, within the drift above its effective min (not after
// reclaim or by the OOM path, which fail the check first).
bool Engine::served_within_drift(const ZoneState& s) const {
  return s.zone && s.slow_ok && s.slow_zones_ok == 1 && s.margin_pages() <= drift_pages(s);
}

// Failed: within the drift below the effective min, with a block of the order free outside the
// reserves.
bool Engine::failed_within_drift(const ZoneState& s, unsigned order) const {
  const std::int64_t short_by = 1 - s.margin_pages();
  return s.zone && !s.slow_ok && short_by >= 1 && short_by <= drift_pages(s) &&
         (order == 0 || s.other_blocks_at_order != 0);
}

void Engine::explain_near_miss(FailureRecord& r, const traces::PageEvent& e) const {
  const ZoneState& s = r.state;
  const std::int64_t margin = s.margin_pages();
  const std::int64_t drift = drift_pages(s);
  if (s.zone && margin >= 0 && margin <= drift) {
    r.cause = FailureCause::Watermark;
    r.evidence = fmt::format("{} pages above the effective min in the model, within the {} pages the kernel's "
                             "NR_FREE_PAGES may lag (per-CPU counter drift)",
                             margin, drift);
    return;
  }
  if (explain_by_span(r, e, margin, drift)) return;
  const std::string checks = std::exchange(r.evidence, {});  // what its reclaims' instants showed
  // Where the reserve holds most of the free memory, a few blocks outside it decide: one the
  // kernel gave away unseen (a guessed compaction isolation), or whose pageblock it reserved
  // (reserve_highatomic_pageblock has no tracepoint: mirror learns of a reservation only from a
  // later take off the reserve's list), leaves the request the reserve only.
  std::string reserve;
  if (s.zone && r.order > 0 && s.reserve_blocks_at_order != 0 && s.other_blocks_at_order != 0 &&
      s.other_blocks_at_order <= kFewBlocks) {
    const bool one = s.other_blocks_at_order == 1;
    reserve = fmt::format(
        "; outside the highatomic reserve ({} of the zone's {} free pages) only {} block{} of the order {} free: "
        "if the kernel had given {} away unseen, or reserved {} pageblock{} (untraced: {} reservation{} shown so far "
        "by later takes), only the reserve was left, which this request may not use",
        s.highatomic_free_pages, s.free_pages, s.other_blocks_at_order, one ? "" : "s", one ? "was" : "were",
        one ? "it" : "them", one ? "its" : "their", one ? "" : "s", quality.get(DataQuality::highatomic_reserve_shown),
        quality.get(DataQuality::highatomic_reserve_shown) == 1 ? "" : "s");
  }
  r.evidence = fmt::format(
      "the model serves it ({} pages above the effective min{}{}){}; missing: the kernel's free state at that "
      "instant. Before it: {}; untraced by any event: page reporting, lazily initialised memory, bulk "
      "allocations",
      margin, s.block_available ? ", a block of the order free" : "", reserve, checks, evidence_gaps());
}

// The request's margin over its effective min had the zone been at `level`: its own unusable
// pages (its order, CMA) as now, the reserve's as then.
std::int64_t Engine::margin_then(const ZoneState& s, const FreePageHistory::Sample& level) const {
  if (s.reserves_usable) return std::int64_t{level.free_pages} - s.unusable_pages - s.effective_min_pages;
  const auto reserve_now = static_cast<std::int64_t>(model.levels(*s.zone).reserve_unusable);
  return std::int64_t{level.free_pages} - std::int64_t{level.reserve_unusable} - (s.unusable_pages - reserve_now) -
         s.effective_min_pages;
}

// A request that may direct-reclaim is stamped at the end of __alloc_pages: when its reclaim
// freed nothing, its last watermark check ran before the reclaim, up to milliseconds before the
// event. It ran after its task's previous allocation returned: if the zone's free pages came
// within the drift of the effective min in that span, the kernel may have seen them there.
// The task is taken by process (replay does not decode the thread column): another thread's
// later allocation only narrows the span.
bool Engine::explain_by_span(FailureRecord& r, const traces::PageEvent& e, std::int64_t margin,
                             std::int64_t drift) const {
  const ZoneState& s = r.state;
  if (!s.zone || e.ctx != traces::ExecContext::Task || (e.gfp & layout_.direct_reclaim) == 0 ||
      (e.task_state & traces::kTaskMemalloc) != 0) {
    return false;  // it cannot reclaim: checked right before its event
  }
  const auto since = task_allocs_.last(e.pid);
  if (!since) return false;
  // An OOM victim at its event that was none at its previous allocation was chosen in the span,
  // and its checks may have run before: a pass of mm/page_alloc.c:__alloc_pages_slowpath takes
  // ALLOC_OOM from its task's state where it starts (reserve_flags), under the plain task's
  // higher min before the kill. Its reclaims' events do not date the kill: the OOM killer's
  // SIGKILL makes mm/vmscan.c:throttle_direct_reclaim skip reclaim without an event, so a
  // reclaim recorded after the kill began before its pass saw it.
  const bool chosen_in_span = (e.task_state & ~since->task_state & traces::kTaskOomVictim) != 0;
  const ZoneState flags =
      chosen_in_span ? state_with_task(r, e, static_cast<std::uint8_t>(e.task_state & ~traces::kTaskOomVictim)) : s;
  if (!flags.zone) return false;
  const std::string flags_note = chosen_in_span ? chosen_in_span_note(s, flags) : "";
  if (reclaim_recorded_) {
    // Its reclaims name the instants of its checks; without one it compacted or failed at once.
    const auto reclaims = task_reclaims_.between(e.pid, since->ts_ns, e.ts_ns);
    if (!reclaims.empty()) return explain_by_reclaims(r, e, margin, drift, reclaims, flags, flags_note);
  }
  // The zone's level over the span: its lowest sample, or where it stayed since the last one.
  FreePageHistory::Sample low{e.ts_ns, static_cast<std::uint32_t>(flags.free_pages),
                              static_cast<std::uint32_t>(model.levels(*flags.zone).reserve_unusable)};
  if (const auto sampled = free_history_.lowest(*flags.zone, since->ts_ns, e.ts_ns, flags.reserves_usable)) {
    low = *sampled;
  } else if (!chosen_in_span) {
    return false;  // the zone stood at its event's level, judged already
  }
  const std::int64_t low_margin = margin_then(flags, low);
  if (low_margin > drift) return false;
  r.cause = FailureCause::Watermark;
  r.evidence = fmt::format(
      "{} pages above the effective min at its event, but {} pages {} it{} {} us before, {} us after its task's "
      "previous allocation: a request that may direct-reclaim is stamped after its reclaim, and one that freed "
      "nothing made its last check before it ({} pages of per-CPU counter drift allowed)",
      margin, low_margin < 0 ? -low_margin : low_margin, low_margin < 0 ? "below" : "above",
      flags_note, (e.ts_ns - low.ts_ns) / 1000, (e.ts_ns - since->ts_ns) / 1000, drift);
  return true;
}

// Why its checks are judged under the plain task's flags (and in which zone, if those flags
// pick another than its event's).
std::string Engine::chosen_in_span_note(const ZoneState& s, const ZoneState& flags) const {
  std::string where;
  if (flags.zone != s.zone) {
    where = fmt::format("in {}: ", allocator::zone_type_name(model.zone_config(*flags.zone).type));
  }
  return fmt::format(
      " ({}the OOM killer chose its task since its previous allocation, and a check before that had no ALLOC_OOM)",
      where);
}

// With the direct reclaim events: the kernel's checks ran right before each reclaim began
// (one failed, or it would not have reclaimed) and right after each ended. The request is a
// watermark failure when the model, at one of those instants, was within the counter drift of
// the effective min. A request that did not reclaim is left to the span (compaction alone).
// `flags`: the request as its checks saw it (explain_by_span), `flags_note` says so if not as
// at its event.
bool Engine::explain_by_reclaims(FailureRecord& r, const traces::PageEvent& e, std::int64_t margin,
                                 std::int64_t drift, const std::vector<TaskReclaims::Reclaim>& reclaims,
                                 const ZoneState& flags, std::string_view flags_note) const {
  struct Check {
    std::int64_t margin;
    std::uint64_t ts_ns;
    bool before_reclaim;
  };
  std::optional<Check> worst;
  std::uint64_t reclaimed = 0;
  for (const TaskReclaims::Reclaim& rc : reclaims) {
    reclaimed += rc.reclaimed_pages;
    for (const auto& [ts, before] : {std::pair{rc.begin_ns, true}, std::pair{rc.end_ns, false}}) {
      if (ts == 0) continue;
      const auto level = free_history_.at(*flags.zone, ts);
      if (!level) continue;
      const std::int64_t m = margin_then(flags, *level);
      if (!worst || m < worst->margin) worst = Check{m, ts, before};
    }
  }
  if (!worst) return false;
  if (worst->margin > drift) {
    // Not explained: say how far the model was from the kernel at the check that mattered.
    r.evidence = fmt::format(
        "; at its task's check {} its direct reclaim {} us before, where the kernel {}, the model was {} pages above "
        "the effective min, beyond the {} pages of counter drift",
        worst->before_reclaim ? "before" : "after", (e.ts_ns - worst->ts_ns) / 1000,
        worst->before_reclaim ? "was below its watermark (it reclaimed)" : "failed the request in the end",
        worst->margin, drift);
    return false;
  }
  r.cause = FailureCause::Watermark;
  r.evidence = fmt::format(
      "{} pages above the effective min at its event, but {} pages {} it at its check {} its direct reclaim {} us "
      "before{}: its task reclaimed {} time{} ({} pages freed) in the {} us before this event, stamped after the "
      "last ({} pages of per-CPU counter drift allowed)",
      margin, worst->margin < 0 ? -worst->margin : worst->margin, worst->margin < 0 ? "below" : "above",
      worst->before_reclaim ? "before" : "after", (e.ts_ns - worst->ts_ns) / 1000, flags_note, reclaims.size(),
      reclaims.size() == 1 ? "" : "s", reclaimed, (e.ts_ns - reclaims.front().begin_ns) / 1000, drift);
  return true;
}

// The request as the model would check it now had its task been in `task_state`.
ZoneState Engine::state_with_task(const FailureRecord& r, const traces::PageEvent& e, std::uint8_t task_state) const {
  traces::PageEvent as_then = e;
  as_then.task_state = task_state;
  return inspect_request(model, e.gfp, e.order, r.cpu, task_context(as_then));
}

// What the trace lacked up to now, by name: every data-loss and error counter that is not
// zero, and the compaction isolations whose block the model guessed.
std::string Engine::evidence_gaps() const {
  std::string gaps;
  const auto add = [&](std::uint64_t n, std::string_view name) {
    if (n == 0) return;
    gaps += fmt::format("{}{} {}", gaps.empty() ? "" : ", ", n, name);
  };
  for (std::size_t i = 0; i < kDataQualityCount; ++i) {
    const auto counter = static_cast<DataQuality>(i);
    if (info(counter).severity != Severity::Info) add(quality.get(counter), info(counter).name);
  }
  add(quality.get(DataQuality::isolate_guessed), "isolate_guessed");
  return gaps.empty() ? "no event lost, inconsistent or guessed" : gaps;
}

const traces::ZoneCounters* Engine::counters_of_zone(const std::vector<traces::ZoneCounters>& read,
                                                     std::size_t zone) const {
  const traces::ZoneInfo& info = header.zones[setup.header_zone_of_model[zone]];
  for (const traces::ZoneCounters& c : read) {
    if (c.node == info.node && traces::node_zone_name(header, c.zone_index) == info.name) return &c;
  }
  return nullptr;
}

std::optional<KernelCheck> Engine::kernel_check(const ZoneState& state, const traces::PageEvent& e) const {
  const std::vector<traces::ZoneCounters>* read = kernel_counters.find(e.ts_ns, e.cpu);
  if (read == nullptr || !state.zone) return std::nullopt;
  const traces::ZoneCounters* c = counters_of_zone(*read, *state.zone);
  if (c == nullptr) return std::nullopt;
  return check_with_kernel_counters(state, e.order, *c);
}

bool Engine::kernel_lag_alone(const traces::PageEvent& e, unsigned cpu) const {
  const std::vector<traces::ZoneCounters>* read = kernel_counters.find(e.ts_ns, e.cpu);
  if (read == nullptr) return false;
  const allocator::RequestCheck rc = model.check_request(e.gfp, e.order, cpu, task_context(e));
  if (!rc.zone_available) return false;
  bool exact_passes = false;
  for (std::size_t zone = 0; zone < model.zone_count(); ++zone) {
    if (allocator::index_of(model.zone_config(zone).type) > allocator::index_of(rc.highest)) continue;
    const traces::ZoneCounters* c = counters_of_zone(*read, zone);
    if (c == nullptr) continue;
    const allocator::WatermarkCheck w =
        model.watermark_check(static_cast<std::uint16_t>(zone), e.order, rc.slow_flags, rc.highest);
    const KernelCheck k = check_with_kernel_counters(zone_state_of(model, w, e.order), e.order, *c);
    if (!k.cause) return false;  // their counters pass it here: not the watermark's failure
    exact_passes = exact_passes || k.exact_count_passes();
  }
  return exact_passes;
}

namespace {
// What the kernel's counters at its failure say, beside the model's count.
std::string kernel_counters_text(const KernelCheck& k, unsigned order, bool lag_alone) {
  std::string text = fmt::format("the kernel's counters at the failure: {} free pages", k.counters.free_pages);
  if (k.counters.highatomic_free != 0) text += fmt::format(" ({} in the highatomic reserve)", k.counters.highatomic_free);
  text += fmt::format(", {} {} the effective min", std::abs(k.margin_pages), k.margin_pages > 0 ? "above" : "short of");
  if (k.exact_margin_pages) {
    text += fmt::format(" ({:+} per-CPU changes not yet folded in: the exact count {} {} it)", *k.counters.free_diffs,
                        std::abs(*k.exact_margin_pages), *k.exact_margin_pages > 0 ? "above" : "short of");
  }
  if (!k.block_available) text += fmt::format(", no free block of order {} or more on a list it may use", order);
  text += k.model_exact_free_error
              ? fmt::format(" (the model's count {:+} pages from theirs, {:+} from the exact one)", k.model_free_error,
                            *k.model_exact_free_error)
              : fmt::format(" (the model's count {:+} pages from theirs)", k.model_free_error);
  if (lag_alone) text += "; a zone's exact count passes the check: the counter's lag alone failed the request";
  return text;
}
}  // namespace

void Engine::check_with_kernel(FailureRecord& r, const traces::PageEvent& e) {
  r.kernel = kernel_check(r.state, e);
  kernel_counters.take(e.ts_ns, e.cpu);
  if (!r.kernel) return;
  const KernelCheck& k = *r.kernel;
  std::string text = kernel_counters_text(k, e.order, r.kernel_lag_alone);
  // Mirror's cause: the kernel's counters where they fail the request (a memcg refusal is no
  // allocator failure, whatever they show).
  if (options.mode == ReplayMode::Mirror && k.cause && *k.cause != r.cause && r.cause != FailureCause::MemcgCharge) {
    r.model_cause = r.cause;
    r.cause = *k.cause;
    r.evidence = fmt::format("{}; the model's state alone said {}{}{}", text, to_string(*r.model_cause),
                             r.evidence.empty() ? "" : ": ", r.evidence);
    return;
  }
  if (!k.cause && r.cause != FailureCause::MemcgCharge) {
    text += ": they pass its check (read after it: the zone may have changed in between)";
  }
  r.evidence = r.evidence.empty() ? text : text + "; " + r.evidence;
}

void Engine::record_missed(const traces::PageEvent& e, unsigned cpu, const ZoneState& before,
                           const std::optional<KernelCheck>& theirs, bool lag_alone) {
  FailureRecord r = record_of(e, cpu, true);
  r.model_served = true;
  r.state = before;
  r.cause = theirs && theirs->cause ? *theirs->cause : FailureCause::Unexplained;
  r.kernel = theirs;
  r.kernel_lag_alone = lag_alone;
  if (missed.full()) {  // counted, not kept: its text would be thrown away
    missed.add(r);
    return;
  }
  r.evidence = fmt::format("the model served it, {} free pages {} its effective min, largest free order {}",
                           std::abs(before.margin_pages()), before.margin_pages() > 0 ? "above" : "short of",
                           before.largest_free_order);
  if (theirs) {
    r.evidence += "; " + kernel_counters_text(*theirs, e.order, lag_alone);
    if (!theirs->cause) r.evidence += ": they pass its check (read after it: the zone may have changed in between)";
  } else {
    r.evidence += "; the recorder read no counters at it";
  }
  missed.add(r);
}

FailureRecord Engine::record_of(const traces::PageEvent& e, unsigned cpu, bool kernel_failed) const {
  FailureRecord r;
  r.ts_ns = e.ts_ns;
  r.cpu = static_cast<std::uint16_t>(cpu);
  r.pid = e.pid;
  r.comm_id = e.comm_id;
  r.stack_id = e.stack_id;
  r.context = e.ctx;
  r.task_state = e.task_state;
  r.order = e.order;
  r.gfp = e.gfp;
  r.migratetype = e.migratetype;
  r.cls = classify(e.gfp, e.order, setup.bits);
  r.kernel_failed = kernel_failed;
  return r;
}

FailureRecord Engine::record_failure(const traces::PageEvent& e, unsigned cpu, std::optional<FailureCause> cause,
                                     bool kernel_failed, std::optional<bool> lag_alone) {
  FailureRecord r = record_of(e, cpu, kernel_failed);
  r.state = inspect_request(model, e.gfp, e.order, cpu, task_context(e));
  r.cause = cause ? *cause : cause_from_state(r.state, e.order);
  if (r.cause == FailureCause::Unexplained && kernel_failed) explain_near_miss(r, e);
  note_drift(r);
  if (kernel_failed) {  // after the model's own verdict, to set it beside theirs
    r.kernel_lag_alone = lag_alone ? *lag_alone : kernel_lag_alone(e, cpu);
    check_with_kernel(r, e);
  }
  failures.add(r);
  ++counters.failures;
  counters.failed_pages += std::uint64_t{1} << e.order;
  if (is_atomic_request(e.gfp)) {
    ++counters.atomic_failures;
    if (r.state.zone) timeline.count_atomic(*r.state.zone, true);
  }
  return r;
}

}  // namespace labyrinth::replay::detail
