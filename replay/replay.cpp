#include "labyrinth/replay/replay.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "engine.hpp"
#include "held_events.hpp"
#include "recorded_ledger.hpp"
#include "labyrinth/common/text.hpp"
#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/traces/event_sorter.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

std::string_view to_string(ReplayMode mode) { return mode == ReplayMode::Mirror ? "mirror" : "simulate"; }
std::string_view to_string(SeedSource source) {
  return source == SeedSource::StartSnapshot ? "start_snapshot" : "all_free";
}

namespace {

// The tracepoints captured: the header's list, or the "events" option (comma-separated, as the
// recorder also writes it and a text trace can say with !option events=...).
std::vector<std::string> captured_events(const traces::TraceHeader& h) {
  if (!h.events.empty()) return h.events;
  std::vector<std::string> out;
  const auto it = h.options.find("events");
  if (it == h.options.end()) return out;
  std::string_view v = it->second;
  while (!v.empty()) {
    const auto comma = v.find(',');
    if (comma != 0) out.emplace_back(v.substr(0, comma));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

bool lists_event(const std::vector<std::string>& events, std::string_view name) {
  return std::find(events.begin(), events.end(), name) != events.end();
}

}  // namespace

// Mirror validates against the end snapshot at its time: a recorder keeps recording while it
// takes that snapshot (the kpageflags scan takes a while), so the trace holds events after
// it. The reader finds the snapshot before the events; the state is checked when the sorted
// stream first passes its time, then the later events are applied. Events before the start
// snapshot are already in its state and are skipped.
struct Replayer::Impl {
  traces::TraceHeader header;
  traces::Snapshot start;
  traces::Snapshot end;
  ReplayOptions options;
  traces::EventSorter sorter;
  std::unique_ptr<detail::Engine> engine;
  std::optional<detail::RecordedLedger> ledger;  // where keyframes are compared: what the events explain
  std::vector<std::string> notes;
  std::uint64_t before_start = 0;
  std::uint64_t skip_before_ts = 0;
  bool validate_at_end = false;  // mirror with an end snapshot, not validated yet
  Validation validation;
  std::vector<traces::Snapshot> keyframes;  // by time
  std::vector<std::size_t> keyframe_index;   // each one's index in the trace, for free_map
  Replayer::FreeMapReader free_map;
  Replayer::ProcessNames process_names;
  std::size_t next_keyframe = 0;
  std::vector<KeyframeCheck> keyframe_checks;
  std::vector<FreeMapDifference> last_differences;  // model against the last keyframe map, by pfn
  std::uint64_t after_end = 0;  // events applied after validating
  // Mirror holds the events after the end snapshot's time until they pass the end of its
  // free-page map's scan, so that it can tell which pages moved between buddyinfo and the map.
  bool holding_after_end = false;
  detail::HeldEvents held_after_end;
  // The trace's pages between the snapshots' two reads of /proc/vmstat (KernelCounterCheck).
  std::uint64_t counted_allocated_pages = 0, counted_freed_pages = 0;
  PageblockMap start_map, end_map;

  Impl(const traces::TraceHeader& h, const traces::Snapshot& s, const traces::Snapshot& e, ReplayOptions o)
      : header(h),
        start(s),
        end(e),
        options(o),
        sorter(o.sort_window_ns, o.sort_max_held),
        validate_at_end(o.mode == ReplayMode::Mirror && e.present) {
    // Fail early on a header the model cannot use, and on a kernel whose allocation policy
    // simulate would replace by another generation's.
    (void)make_model_setup(header, allocator::PcpMode::Manual, options.what_if);
    const KernelGeneration g = kernel_generation(header.kernel_release);
    if (!g.modelled && options.mode == ReplayMode::Simulate) {
      throw std::invalid_argument("cannot simulate this recording: " + g.why +
                                  "; its predictions would be another kernel's (mirror mode replays it, applying the "
                                  "kernel's own choices)");
    }
    if (!g.why.empty()) {
      generation_note = g.modelled ? g.why
                                   : g.why + ": mirror applies the kernel's own choices, but explains failures with "
                                             "the watermark rules of Linux 6.12.95 to 7.x";
    }
  }
  std::string generation_note;

  // The engine is built at the first chunk: whether the replay follows the pcp lists depends
  // on whether the trace has the zone_locked/pcpu_drain events, which an importer's header may
  // not list.
  std::vector<traces::PageEvent> early_counters;  // zone counters before the engine exists

  void build(std::span<const traces::PageEvent> first) {
    if (!generation_note.empty()) notes.push_back(generation_note);
    const std::vector<std::string> events = captured_events(header);
    bool has_pcp_events = false;
    if (!events.empty()) {
      has_pcp_events =
          lists_event(events, "kmem:mm_page_alloc_zone_locked") && lists_event(events, "kmem:mm_page_pcpu_drain");
    } else {
      // No list of captured events (an import): both kinds must show up in the first chunk.
      const bool refills = std::any_of(first.begin(), first.end(),
                                       [](const traces::PageEvent& e) { return e.kind == traces::EventKind::PcpRefill; });
      const bool drains = std::any_of(first.begin(), first.end(),
                                      [](const traces::PageEvent& e) { return e.kind == traces::EventKind::PcpDrain; });
      has_pcp_events = refills && drains;
    }
    // Mirror follows the recorded lists, or has none; simulate runs the model's own unless
    // asked to follow the recorded ones (WhatIf::follow_pcp).
    allocator::PcpMode pcp = has_pcp_events ? allocator::PcpMode::Manual : allocator::PcpMode::Off;
    if (options.mode == ReplayMode::Simulate) {
      pcp = has_pcp_events && options.what_if.follow_pcp ? allocator::PcpMode::Manual : allocator::PcpMode::Auto;
      if (!has_pcp_events && options.what_if.follow_pcp) {
        notes.emplace_back("the trace has no mm_page_alloc_zone_locked/mm_page_pcpu_drain events: --follow-pcp has "
                           "nothing to follow, the model runs its own per-CPU lists");
      }
    }
    if (options.mode == ReplayMode::Mirror) {
      if (header.source == "record" && !events.empty() &&
          !lists_event(events, "compaction:mm_compaction_isolate_freepages")) {
        notes.emplace_back(
            "the recording has no compaction isolation events (an older labyrinth, or a kernel without them): "
            "blocks compaction takes stay free in the model until their pages come back, so the low orders read high");
      }
      if (header.source == "record" && keyframes.empty()) {
        notes.emplace_back("the recording has no keyframes: the watermarks stay those of the start, and the state is "
                           "validated at the end only");
      }
      if (!has_pcp_events) {
        notes.emplace_back(
            "the trace has no mm_page_alloc_zone_locked/mm_page_pcpu_drain events: per-CPU lists are not modelled, "
            "pages freed to them count as buddy-free");
      }
    }
    ModelSetup setup = make_model_setup(header, pcp, options.what_if);
    if (options.mode == ReplayMode::Mirror) {
      engine = detail::make_mirror_engine(header, std::move(setup), options);
    } else {
      engine = detail::make_simulate_engine(header, std::move(setup), options);
    }
    engine->process_names = std::move(process_names);
    engine->seed(start);
    if (engine->seeded_from == SeedSource::StartSnapshot && compares_keyframes() && !keyframes.empty()) {
      ledger.emplace(header, engine->setup, start);
    }
    engine->kernel_counters.add(early_counters);
    early_counters.clear();
    if (engine->seeded_from == SeedSource::StartSnapshot) skip_before_ts = start.ts_ns;
    if (options.mode == ReplayMode::Mirror && engine->seeded_from != SeedSource::StartSnapshot) {
      notes.emplace_back("the trace has no start free-page map: mirror starts from all memory free, so its state "
                         "is not the kernel's");
    }
    if (options.mode == ReplayMode::Simulate && options.what_if.balloon_bytes != 0) {
      const std::uint64_t page = engine->setup.config.page_size;
      const std::uint64_t want = (options.what_if.balloon_bytes + page - 1) / page;
      engine->counters.balloon_requested_pages = want;
      engine->counters.balloon_pages = detail::inflate_balloon(engine->model, want);
      if (engine->counters.balloon_pages < want) {
        notes.push_back("the balloon found only " + std::to_string(engine->counters.balloon_pages) + " of " +
                        std::to_string(want) + " pages free at the start");
      }
    }
    capture_map(start_map, start.present ? start.ts_ns : 0);
    const auto opt = [&](const char* key) {
      const auto it = header.options.find(key);
      return it == header.options.end() ? std::string("0") : it->second;
    };
    if (opt("pid") != "0" || opt("min_order") != "0") {
      engine->quality.add(DataQuality::trace_filtered);
      notes.emplace_back("the recording was filtered (pid " + opt("pid") + ", min order " + opt("min_order") +
                         "): other events are missing and the model drifts from the kernel");
    }
  }

  void apply(std::span<const traces::PageEvent> events) {
    if (holding_after_end) {
      held_after_end.append(events);
      if (!held_after_end.empty() && held_after_end.back().ts_ns > map_read_by()) release_after_end();
      return;
    }
    // Events older than the start snapshot are already part of its state.
    while (!events.empty() && skip_before_ts != 0 && events.front().ts_ns < skip_before_ts) {
      ++before_start;
      events = events.subspan(1);
    }
    if (events.empty()) return;
    skip_before_ts = 0;  // sorted: nothing later is older
    // Checkpoints (keyframes, then the end snapshot) inside this span: apply up to each.
    for (;;) {
      const bool keyframe = next_keyframe < keyframes.size();
      const std::uint64_t at = keyframe ? keyframes[next_keyframe].ts_ns : end.ts_ns;
      if ((!keyframe && !validate_at_end) || events.empty() || events.back().ts_ns <= at) break;
      const auto cut = std::upper_bound(events.begin(), events.end(), at,
                                        [](std::uint64_t ts, const traces::PageEvent& e) { return ts < e.ts_ns; });
      const std::span<const traces::PageEvent> before = events.first(static_cast<std::size_t>(cut - events.begin()));
      if (!before.empty()) apply_counted(before);
      events = events.subspan(before.size());
      if (keyframe) {
        at_keyframe(next_keyframe++);
      } else if (engine->wants_events_after(end)) {
        holding_after_end = true;
        apply(events);
        return;
      } else {
        validate();
      }
    }
    if (events.empty()) return;
    if (!validate_at_end) after_end += events.size();
    apply_counted(events);
  }

  // engine->apply, counting mirror's pages of the events between the two reads of /proc/vmstat:
  // the kernel's counts cover that span, not the snapshots' (buddyinfo is read first).
  void apply_counted(std::span<const traces::PageEvent> events) {
    if (ledger) ledger->add(events);
    const std::uint64_t from = start.vmstat_ts_ns, to = end.vmstat_ts_ns;
    if (options.mode != ReplayMode::Mirror || events.empty() || from == 0 || to <= from || events.back().ts_ns < from ||
        events.front().ts_ns > to) {
      engine->apply(events);
      return;
    }
    const auto after = [&events](std::uint64_t ts) {
      return static_cast<std::size_t>(
          std::upper_bound(events.begin(), events.end(), ts,
                           [](std::uint64_t t, const traces::PageEvent& e) { return t < e.ts_ns; }) -
          events.begin());
    };
    const std::size_t first = after(from - 1);  // the first at or after `from`
    const std::size_t last = after(to);         // past the last at or before `to`
    if (first > 0) engine->apply(events.first(first));
    const std::uint64_t allocated = engine->counters.allocated_pages, freed = engine->counters.freed_pages;
    engine->apply(events.subspan(first, last - first));
    counted_allocated_pages += engine->counters.allocated_pages - allocated;
    counted_freed_pages += engine->counters.freed_pages - freed;
    if (last < events.size()) engine->apply(events.subspan(last));
  }

  // Whether the free-page map's blocks, per zone and order, are within the end validation's
  // tolerances of the snapshot's buddyinfo.
  [[nodiscard]] bool free_map_matches_buddyinfo(const traces::Snapshot& s) const {
    const unsigned max_order = header.max_order;
    for (const auto& z : s.zones) {
      const traces::ZoneInfo* hz = nullptr;
      for (const auto& h : header.zones) {
        if (h.node == z.node && h.name == z.zone) hz = &h;
      }
      if (hz == nullptr || z.buddyinfo.empty()) continue;
      const auto blocks =
          traces::decompose_free_runs(s.free_runs, max_order, hz->start_pfn, hz->start_pfn + hz->spanned_pages);
      for (unsigned o = 0; o <= max_order && o < z.buddyinfo.size(); ++o) {
        const std::uint64_t kernel = z.buddyinfo[o];
        if (kernel < kOrderMinBlocks) continue;
        const double off = blocks[o] > kernel ? static_cast<double>(blocks[o] - kernel) : static_cast<double>(kernel - blocks[o]);
        if (off > kOrderTolerance * static_cast<double>(kernel)) return false;
      }
    }
    return true;
  }

  // The kernel's state mid-recording. Both modes take its zone sizes (deferred init and hotplug
  // change them, untraced). Mirror checks the model against it, then takes its watermarks, boost
  // and lowmem_reserve (they change with min_free_kbytes and the sizes, and boost decays in
  // kswapd); simulate keeps its own, recomputed for the new sizes.
  void at_keyframe(std::size_t i) {
    const traces::Snapshot& k = keyframes[i];
    if (engine->seeded_from == SeedSource::StartSnapshot && compares_keyframes()) check_keyframe(i);
    engine->follow_zone_sizes(k);
    if (options.mode == ReplayMode::Mirror) follow_zone_levels(engine->model, engine->setup, header, k);
  }

  // Mirror, and simulate with the recorded watermarks: how far its own decisions took the model
  // from the kernel (it is never resynchronised: that would hide what it predicts).
  [[nodiscard]] bool compares_keyframes() const {
    return options.mode == ReplayMode::Mirror ||
           (!options.what_if.changes_watermarks() && !options.what_if.watermark_boost_factor &&
            options.what_if.balloon_bytes == 0);
  }

  void check_keyframe(std::size_t i) {
    const traces::Snapshot& k = keyframes[i];
    KeyframeCheck check = keyframe_check(validate_end_state(engine->model, engine->setup, header, k), k.ts_ns);
    for (std::uint16_t mz = 0; ledger && mz < engine->model.zone_count(); ++mz) {
      const traces::ZoneInfo& hz = header.zones[engine->setup.header_zone_of_model[mz]];
      for (KeyframeZone& z : check.zones) {
        if (z.node == hz.node && z.zone == hz.name) z.taken_without_events = ledger->taken_without_events(k, mz);
      }
    }
    traces::Snapshot full;
    const bool have_map = options.mode == ReplayMode::Mirror && k.free_map_in_file && free_map &&
                          free_map(keyframe_index[i], (full = k).free_runs);
    if (!check.passed && have_map) {
      // A map scanned from kpageflags takes a fifth of a second and is not atomic: under heavy
      // churn it describes no single instant, and reseeding from it would do harm. It is used
      // only when its blocks agree with the buddyinfo read at the keyframe's instant.
      if (free_map_matches_buddyinfo(full)) {
        engine->seed(full);
        engine->quality.add(DataQuality::keyframe_resyncs);
        check.resynced = true;
        last_differences.clear();
      } else {
        engine->quality.add(DataQuality::keyframe_map_unsteady);
      }
    } else if (have_map) {
      check.corrected_pages = correct_lasting_differences(full);
    } else if (options.mode == ReplayMode::Mirror && k.free_map_in_file) {
      last_differences.clear();
    }
    keyframe_checks.push_back(check);
  }

  // The model's pages that differed from the last keyframe's map and still differ, the same
  // way, from this one's: movements no event showed (the kernel moves some free blocks with no
  // tracepoint at all, README), not the milliseconds between a keyframe's buddyinfo and its
  // map, whose differences do not last a second. Mirror sets them as this map has them. Blocks
  // of free page reporting's order and above are left: it holds them off the lists for as
  // long as the host takes, and gives them back with no event. Returns the pages set.
  std::uint64_t correct_lasting_differences(const traces::Snapshot& k) {
    std::vector<FreeMapDifference> now = free_map_differences(engine->model, engine->setup, header, k.free_runs);
    std::vector<FreeMapDifference> lasting;
    std::uint64_t reported_from = ~std::uint64_t{0};  // pages of a block free page reporting takes
    if (const auto it = header.kernel_params.find("page_reporting.page_reporting_order"); it != header.kernel_params.end()) {
      unsigned order = 0;
      if (common::parse_number(it->second, order) && order <= header.max_order) reported_from = std::uint64_t{1} << order;
    }
    for (std::size_t a = 0, b = 0; a < last_differences.size() && b < now.size();) {
      const FreeMapDifference& x = last_differences[a];
      const FreeMapDifference& y = now[b];
      const std::uint64_t lo = std::max(x.start_pfn, y.start_pfn);
      const std::uint64_t hi = std::min(x.start_pfn + x.pages, y.start_pfn + y.pages);
      if (hi > lo && x.free_in_model == y.free_in_model && (!y.free_in_model || hi - lo < reported_from))
        lasting.push_back({lo, hi - lo, y.free_in_model});
      (x.start_pfn + x.pages < y.start_pfn + y.pages) ? ++a : ++b;
    }
    const std::uint64_t pages = lasting.empty() ? 0 : engine->correct_to_map(lasting);
    if (pages != 0) {
      engine->quality.add(DataQuality::keyframe_corrections, pages);
      now = free_map_differences(engine->model, engine->setup, header, k.free_runs);
    }
    last_differences = std::move(now);
    return pages;
  }

  // When the end snapshot's map was surely read: buddyinfo's time, then zoneinfo and
  // pagetypeinfo (milliseconds), then the scan; a second of margin for a busy machine.
  [[nodiscard]] std::uint64_t map_read_by() const { return end.ts_ns + end.kpageflags_scan_ns + 1'000'000'000; }

  // Validates with what the held events say, then applies them.
  void release_after_end() {
    holding_after_end = false;
    const std::vector<std::span<const traces::PageEvent>> held = held_after_end.spans();
    validate(held);
    after_end += held_after_end.size();
    for (const auto events : held) apply_counted(events);
    held_after_end.clear();
  }

  void validate(std::span<const std::span<const traces::PageEvent>> later = {}) {
    engine->settle_at_snapshot(end, later);
    validation = validate_end_state(engine->model, engine->setup, header, end);
    validate_at_end = false;
    capture_map(end_map, end.ts_ns);
  }

  void capture_map(PageblockMap& map, std::uint64_t ts_ns) const {
    if (options.pageblock_map_cells == 0) return;
    std::vector<std::string> labels;
    for (const auto& z : engine->timeline.zones()) labels.push_back("node " + std::to_string(z.node) + " " + z.zone);
    map = capture_pageblock_map(engine->model, std::move(labels), ts_ns, options.pageblock_map_cells);
  }
};

Replayer::Replayer(const traces::TraceHeader& header, const traces::Snapshot& start, const traces::Snapshot& end,
                   ReplayOptions options)
    : impl_(std::make_unique<Impl>(header, start, end, options)) {}
Replayer::~Replayer() = default;

void Replayer::add(std::span<const traces::PageEvent> events, bool in_order) {
  Impl& s = *impl_;
  if (!s.engine) s.build(events);
  s.sorter.push(events, [&s](std::span<const traces::PageEvent> sorted) { s.apply(sorted); }, in_order);
}

void Replayer::add_zone_counters(const std::vector<traces::PageEvent>& counters) {
  Impl& s = *impl_;
  if (s.engine) {
    s.engine->kernel_counters.add(counters);
  } else {
    s.early_counters.insert(s.early_counters.end(), counters.begin(), counters.end());
  }
}

void Replayer::set_process_names(ProcessNames names) { impl_->process_names = std::move(names); }

void Replayer::set_keyframes(std::vector<traces::Snapshot> keyframes, FreeMapReader free_map) {
  Impl& s = *impl_;
  if (s.options.mode == ReplayMode::Mirror) s.free_map = std::move(free_map);
  // Those at or before the start snapshot, or after the end snapshot, say nothing new.
  for (std::size_t i = 0; i < keyframes.size(); ++i) {
    const traces::Snapshot& k = keyframes[i];
    if (!k.present || (s.start.present && k.ts_ns <= s.start.ts_ns) || (s.end.present && k.ts_ns >= s.end.ts_ns)) continue;
    s.keyframes.push_back(std::move(keyframes[i]));
    s.keyframe_index.push_back(i);
  }
}

std::uint64_t Replayer::events_replayed() const { return impl_->engine ? impl_->engine->counters.events : 0; }

ReplayResult Replayer::finish(const traces::TraceReader& reader) {
  Impl& s = *impl_;
  if (!s.engine) s.build({});
  auto sink = [&s](std::span<const traces::PageEvent> sorted) { s.apply(sorted); };
  detail::Engine& e = *s.engine;
  s.sorter.finish(sink);
  if (s.holding_after_end) s.release_after_end();
  while (s.next_keyframe < s.keyframes.size()) s.at_keyframe(s.next_keyframe++);
  // No event after the end snapshot's time: the state is checked after the last one, unless
  // damage stopped the events before the snapshot.
  if (s.validate_at_end) {
    const traces::ReadDamage& damage = reader.damage();
    if (damage.any() && damage.offset < reader.end_snapshot_offset()) {
      s.validation.reason = "the trace is damaged before its end snapshot: " + damage.message;
      s.validate_at_end = false;
    } else {
      s.validate();
    }
  } else if (s.options.mode == ReplayMode::Mirror && !s.end.present) {
    s.validation = validate_end_state(e.model, e.setup, s.header, s.end);  // says why not
  }
  e.close();
  e.timeline.finish(e.last_ts, e.model);
  if (!s.end_map.present) s.capture_map(s.end_map, e.last_ts);

  ReplayResult r;
  describe_capture(r, reader, s.header);
  r.events = reader.events_read();
  r.first_ts_ns = e.first_ts;
  r.last_ts_ns = e.last_ts;
  r.mode = s.options.mode;
  r.what_if = s.options.what_if;
  r.seeded_from = e.seeded_from;
  r.pcp_mode = e.model.tunables().pcp;
  r.model_config = e.model.config();
  r.recorded_min_free_kbytes = e.setup.recorded_min_free_kbytes;
  r.notes = e.setup.notes;
  r.notes.insert(r.notes.end(), s.notes.begin(), s.notes.end());
  r.counters = e.counters;
  r.model_counters = e.model.counters();
  r.model_metadata_bytes = e.model.metadata_bytes();
  r.bits = e.setup.bits;
  r.failures = e.failures;
  r.agreement = e.agreement;
  r.model_state_at_kernel_failures = e.model_state_at_kernel_failures;
  r.missed = e.missed;
  r.agreement.finish();
  r.timeline_interval_ns = e.timeline.interval_ns();
  r.timeline_kept_interval_ns = e.timeline.kept_interval_ns();
  r.timeline_samples = e.timeline.samples_taken();
  r.timeline = e.timeline.zones();
  r.orders = e.setup.config.max_order + 1;
  r.quality = e.quality;
  r.start_map = std::move(s.start_map);
  r.end_map = std::move(s.end_map);

  // Names for the failure records.
  r.callsite_depth = std::max(s.options.callsite_depth, 1u);
  std::unordered_set<std::uint32_t> comm_ids, stack_ids;
  for (const FailureLog* log : {&r.failures, &r.missed}) {
    for (const auto& f : log->records()) {
      comm_ids.insert(f.comm_id);
      if (f.stack_id != traces::kNoStack) stack_ids.insert(f.stack_id);
    }
  }
  for (const auto& [key, t] : r.failures.by_process()) comm_ids.insert(static_cast<std::uint32_t>(key & 0xffffffffu));
  for (const auto& [id, t] : r.failures.by_stack()) stack_ids.insert(id);
  for (const auto id : comm_ids) r.comms.emplace_back(id, std::string(reader.comm(id)));
  for (const auto id : stack_ids) {
    const traces::StackTrace* st = reader.stack(id);
    r.callsites.emplace_back(id, st != nullptr ? callsite_of(*st, r.callsite_depth) : std::string("[stack lost]"));
  }

  // Losses of the capture.
  add_capture_quality(r.quality, r);
  r.quality.add(DataQuality::out_of_order_events, s.sorter.out_of_order());
  r.quality.add(DataQuality::late_events, s.sorter.late());

  if (s.before_start != 0) {
    r.notes.push_back(std::to_string(s.before_start) + " events older than the start snapshot were skipped (already in it)");
  }
  if (s.after_end != 0 && s.validation.available) {
    r.notes.push_back(std::to_string(s.after_end) + " events recorded after the end snapshot were replayed after validating");
  }
  if (s.options.mode == ReplayMode::Mirror) {
    r.validation = std::move(s.validation);
    r.keyframes = std::move(s.keyframe_checks);
    if (r.validation.available && e.seeded_from != SeedSource::StartSnapshot) {
      r.validation.reason = "the model did not start from the kernel's state";
    }
    // What the kernel counted and no event showed, known once the events after the end
    // snapshot's vmstat read are in.
    if (r.validation.available) {
      r.validation.kernel_counters = check_kernel_counters(s.start, s.end, s.counted_allocated_pages, s.counted_freed_pages);
    }
    const KernelCounterCheck& k = r.validation.kernel_counters;
    if (k.available && (k.untraced_allocated_pages() > 0 || k.untraced_freed_pages() > 0)) {
      r.failures.append_evidence(
          FailureCause::Unexplained,
          fmt::format("; by the kernel's counters, over the recording {} pages were allocated and {} freed with no event",
                      std::max<std::int64_t>(k.untraced_allocated_pages(), 0), std::max<std::int64_t>(k.untraced_freed_pages(), 0)));
    }
  } else {
    // With the recorded watermarks: how far simulate's own decisions took it from the kernel.
    r.keyframes = std::move(s.keyframe_checks);
    r.validation.reason = "simulate picks its own pages; only mirror is validated against the end snapshot";
    r.validation.kernel_counters = check_kernel_counters(s.start, s.end, 0, 0);
  }
  if (s.options.check_invariants) r.invariant_violation = e.model.check_invariants();
  return r;
}

}  // namespace labyrinth::replay
