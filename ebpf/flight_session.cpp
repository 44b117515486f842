#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <optional>

#include "collector_pump.hpp"
#include "flight_buffer.hpp"
#include "flight_dump.hpp"
#include "flight_metrics.hpp"
#include "flight_ring.hpp"
#include "flight_triggers.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/ebpf/flight_recorder.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "record_setup.hpp"
#include "record_status.hpp"
#include "stop_signals.hpp"
#include "trace_sink.hpp"

namespace labyrinth::ebpf {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = RecordError::Kind;

// Chunks of at most this many events: a dump's window is cut at chunk boundaries, and the
// chunk being filled is memory outside the ring (about 60 bytes an event). A keyframe ends a
// chunk too (one a second). Twice the 16 k of before: zstd level 1 then stores an event in
// as few bytes as level 3 did in the smaller chunks (3.61 against 3.64 on a compile, 4.28
// against 4.37 on page churn), at 13 ns less CPU an event.
constexpr std::uint32_t kChunkEvents = 32768;
// How often the loop wakes without events (it wakes at once for a signal or a full ring-buffer
// threshold), and how often the per-CPU batches are pushed out (one IPI per CPU each time).
// Always on, these fixed costs are a third of the recorder's own CPU on a quiet machine: with
// few events, 50 and 100 ms (as record) took 3.0 to 3.8 ms of CPU a second, 100 and 200 ms
// 1.9 to 2.7 ms (both recorders at once, 12 s, four pairs). A trigger is then seen up to 0.2 s
// after its event, still well within the second a dump has.
constexpr int kPollMs = 100;
constexpr std::chrono::milliseconds kSyncEvery{200};

// A trigger accepted for a dump, written once the post-trigger window has passed.
struct PendingDump {
  TriggerHit hit;
  Clock::time_point due;
  Clock::time_point seen;
};

class FlightSession {
 public:
  FlightSession(const RecordOptions& record, const FlightOptions& flight, RecordObserver& observer)
      : o_(record), f_(flight), observer_(observer) {}

  FlightResult run() {
    prepare();
    protect_from_oom_killer(observer_);
    lock_recorder_memory(o_.lock_memory, observer_);
    signals_.emplace(true);
    attach_programs();
    if (stop_signal_count() > 0) {
      result_.interrupted_before_start = true;
      result_.stop_reason = StopReason::Signal;
      return result_;
    }
    start_ring();
    record_until_stop();
    if (pending_) write_pending_dump();  // a trigger just before the stop still gets its dump
    collector_->detach();
    finish_result();
    return result_;
  }

 private:
  // ---- before anything is created ----
  void prepare() {
    if (!o_.command.empty())
      throw RecordError(Kind::Usage, "--flight-recorder records the whole machine; it takes no command",
                        {"use -p PID to follow one process"});
    if (f_.ring_bytes < (1u << 20))
      throw RecordError(Kind::Usage, "--flight-recorder: the ring needs at least 1 MiB");
    check_record_options(o_, plan_);
    plan_events(o_, plan_, observer_);
    check_output_path(dump_file_name(o_.output, realtime_ns(), "check", 0), false);
    collect_facts(o_, plan_, observer_);
    std::vector<FlightTrigger> triggers = f_.triggers;
    if (triggers.empty()) triggers.push_back(FlightTrigger{FlightTrigger::Kind::Failure, "failure", {}, {}, {}, 0, {}});
    triggers_spec_ = std::move(triggers);
    watch_.emplace(triggers_spec_, plan_.facts.gfp_table);
  }

  void attach_programs() {
    collector_.emplace(collector_config(o_, plan_, observer_));
    collector_->attach();
    observer_.debug(1, fmt::format("attached {}", collector_->attach_summary()));
  }

  // The ring, and its first block: a keyframe with the free-page map, so that the first dump
  // can start from it.
  void start_ring() {
    header_ = make_header(o_, plan_, *collector_, observer_);
    header_.options["flight_ring_bytes"] = std::to_string(f_.ring_bytes);
    if (f_.window) header_.options["flight_window_ns"] = std::to_string(f_.window->count());
    zones_ = header_.zones;
    // A dump starts at a keyframe with a free-page map: keep at least two in a DURATION window.
    map_every_ = free_map_every(o_, *collector_);
    if (f_.window && o_.keyframe_interval.count() > 0 && map_every_ != 0)
      map_every_ = static_cast<std::uint32_t>(std::clamp<std::int64_t>(
          f_.window->count() / (2 * o_.keyframe_interval.count()), 1, map_every_));
    ring_.emplace(f_.ring_bytes);
    buffer_.emplace(*ring_, *watch_, kChunkEvents);
    sink_.emplace(*buffer_, *collector_, o_.call_graph ? &plan_.symbols : nullptr);
    pump_.emplace(*collector_, *sink_, kSyncEvery);
    t_start_ = Clock::now();
    cpu_start_ = cpu_seconds();
    take_keyframe(collector_->can_walk_free_lists() || o_.kpageflags);
    result_.ring_capacity = ring_->capacity();
    observer_.info(fmt::format("event=start ring_bytes={} ring_memory_bytes={} window_s={} triggers=\"{}\"",
                               ring_->capacity(), ring_->footprint(),
                               f_.window ? std::chrono::duration<double>(*f_.window).count() : 0.0,
                               trigger_list()));
  }

  std::string trigger_list() const {
    std::string out;
    for (const auto& t : triggers_spec_) out += (out.empty() ? "" : ",") + t.text;
    return out;
  }

  // Events collected before the keyframe go into the ring before it; a dump that starts at it
  // writes the ones that came while its free-page map was scanned after it
  // (FlightBuffer::begin_map_scan).
  void take_keyframe(bool with_map) {
    pump_->sync();
    buffer_->set_drops(collector_->counters().drops);
    traces::Snapshot snap;
    bool kept = true;  // false: dropped from the ring (its trigger checks still run)
    if (with_map) {
      buffer_->begin_map_scan();
      const auto scan_start = Clock::now();
      snap = pump_->snapshot(zones_, map_keyframe_options(o_, *collector_, true), observer_);
      kept = buffer_->push_keyframe(snap);
      if (!kept)
        observer_.warning(fmt::format(
            "event=keyframe_dropped reason=\"the free-page map scan took {:.1f} s; the ring pushed out events "
            "recorded during it\"",
            std::chrono::duration<double>(Clock::now() - scan_start).count()));
    } else {
      try {
        snap = take_snapshot(zones_, SnapshotOptions{false, false, false});
      } catch (const std::exception& e) {
        observer_.warning(std::string("no keyframe: ") + e.what());
      }
      buffer_->push_keyframe(snap);
    }
    if (!snap.present) return;
    watch_->on_keyframe(snap);
    if (kept) ++keyframes_;  // a dropped map is tried again at the next keyframe
  }

  // ---- recording ----
  void record_until_stop() {
    last_keyframe_ = last_metrics_ = last_status_ = Clock::now();
    keyframe_wmark_changes_ = collector_->watermark_changes();
    write_metrics();
    while (result_.stop_reason == StopReason::None) {
      pump_->consume(kPollMs);
      const auto now = Clock::now();
      if (stop_signal_count() > 0) result_.stop_reason = StopReason::Signal;
      else if (o_.duration && now - t_start_ >= *o_.duration) result_.stop_reason = StopReason::Duration;
      if (dump_request_count() != usr1_seen_) {
        usr1_seen_ = dump_request_count();
        watch_->on_signal(boottime_ns());
      }
      keyframe_if_due(now);
      if (f_.window) ring_->drop_older_than(boottime_ns() - static_cast<std::uint64_t>(f_.window->count()));
      accept_trigger(now);
      if (pending_ && now >= pending_->due) write_pending_dump();
      if (now - last_metrics_ >= f_.metrics_interval) write_metrics();
      show_status_if_due(now);
    }
    if (o_.status_line) observer_.status("");
  }

  void keyframe_if_due(Clock::time_point now) {
    const std::uint64_t wmark_changes = collector_->watermark_changes();
    const bool interval = o_.keyframe_interval.count() > 0 && now - last_keyframe_ >= o_.keyframe_interval;
    if (!interval && wmark_changes == keyframe_wmark_changes_) return;
    keyframe_wmark_changes_ = wmark_changes;
    last_keyframe_ = now;
    const bool with_map = map_every_ != 0 && keyframes_ % map_every_ == 0;
    take_keyframe(with_map);
  }

  // A trigger hit is logged; it becomes a dump unless one is pending, the last dump was too
  // recent, or the dump limit is reached.
  void accept_trigger(Clock::time_point now) {
    std::optional<TriggerHit> hit = watch_->take();
    if (!hit) return;
    std::string refused;
    if (pending_) refused = "a dump is pending";
    // Only dumps written count: a full disk must not use up the budget of a long-running service.
    else if (f_.max_dumps != 0 && result_.dumps >= f_.max_dumps) refused = "dump limit reached";
    else if (last_dump_ && now - *last_dump_ < f_.rate_limit) refused = "rate limit";
    observer_.info(fmt::format("event=trigger trigger=\"{}\" ts_ns={} {} action={}", hit->trigger, hit->ts_ns,
                               hit->detail, refused.empty() ? "dump" : "none"));
    if (!refused.empty()) {
      ++result_.suppressed;
      observer_.info(fmt::format("event=suppressed trigger=\"{}\" reason=\"{}\"", hit->trigger, refused));
      return;
    }
    pending_ = PendingDump{std::move(*hit), now + f_.post_trigger, now};
  }

  // The end snapshot is taken while recording goes on; the events up to its end are in the dump.
  // It has no free-page map: scanning /proc/kpageflags takes 0.2 s of a quiet 24 GiB machine
  // and over a second of a loaded one (bench/flight dump, 2026-12-02, load 17 to 19: a median
  // of 1.3 and 2.2 s from trigger to file with the map, 0.39 and 0.37 s without), and a dump
  // must be complete within a second of its trigger. Mirror validates the per-order counts of
  // buddyinfo and pagetypeinfo.
  void write_pending_dump() {
    PendingDump p = std::move(*pending_);
    pending_.reset();
    last_dump_ = Clock::now();
    DumpRequest req;
    const auto snap_start = Clock::now();
    req.end = pump_->snapshot(zones_, SnapshotOptions{false}, observer_);
    const auto write_start = Clock::now();
    pump_->sync();
    buffer_->flush();
    const auto counters = collector_->counters();
    req.drops_now = counters.drops;
    req.recursion_misses = counters.recursion_misses;
    req.header = header_;
    req.hit = p.hit;
    req.path = dump_file_name(o_.output, realtime_ns(), p.hit.trigger, result_.dumps + result_.dump_failures + 1);
    try {
      const DumpResult d = write_dump(req, *ring_, *buffer_);
      ++result_.dumps;
      result_.dump_paths.push_back(req.path);
      const auto end = Clock::now();
      auto secs = [](Clock::duration span) { return std::chrono::duration<double>(span).count(); };
      observer_.info(fmt::format(
          "event=dump trigger=\"{}\" path=\"{}\" bytes={} events={} span_s={:.3f} start_map={} took_s={:.3f} "
          "end_snapshot_s={:.3f} write_s={:.3f}",
          p.hit.trigger, req.path, d.bytes, d.events, static_cast<double>(d.last_ts_ns - d.first_ts_ns) / 1e9,
          d.started_at_free_map ? 1 : 0, secs(end - p.seen), secs(write_start - snap_start), secs(end - write_start)));
    } catch (const std::exception& e) {
      ++result_.dump_failures;
      observer_.warning(fmt::format("event=dump_failed trigger=\"{}\" path=\"{}\" failed={} written={} error=\"{}\"",
                                    p.hit.trigger, req.path, result_.dump_failures, result_.dumps, e.what()));
    }
  }

  void write_metrics() {
    last_metrics_ = Clock::now();
    if (f_.openmetrics.empty()) return;
    const auto c = collector_->counters();
    FlightFigures m;
    m.events = buffer_->events();
    m.ringbuf_drops = c.drops;
    m.recursion_misses = c.recursion_misses;
    m.triggers = watch_->hits();
    m.dumps = result_.dumps;
    m.dump_failures = result_.dump_failures;
    m.suppressed = result_.suppressed;
    m.ring_capacity = ring_->capacity();
    m.ring_used = ring_->used();
    m.ring_footprint = ring_->footprint();
    m.ring_dropped_events = ring_->dropped_events();
    m.uptime_s = std::chrono::duration<double>(Clock::now() - t_start_).count();
    m.updated_unix_s = static_cast<double>(realtime_ns()) / 1e9;
    try {
      write_flight_metrics(f_.openmetrics, m);
    } catch (const std::exception& e) {
      if (!metrics_warned_) observer_.warning(std::string("cannot write the metrics file: ") + e.what());
      metrics_warned_ = true;
    }
  }

  void show_status_if_due(Clock::time_point now) {
    if (!o_.status_line || now - last_status_ < std::chrono::milliseconds(500)) return;
    const auto c = collector_->counters();
    observer_.status(fmt::format("flight recorder {:.0f} s | {} events | ring {} of {} | {} triggers | {} dumps | {} drops",
                                 std::chrono::duration<double>(now - t_start_).count(),
                                 human_count(static_cast<double>(buffer_->events())),
                                 human_bytes(static_cast<double>(ring_->used())),
                                 human_bytes(static_cast<double>(ring_->capacity())), watch_->hits(), result_.dumps,
                                 c.drops));
    last_status_ = now;
  }

  void finish_result() {
    write_metrics();
    result_.counters = collector_->counters();
    result_.events = buffer_->events();
    result_.triggers = watch_->hits();
    result_.ring_footprint = ring_->footprint();
    result_.seconds = std::chrono::duration<double>(Clock::now() - t_start_).count();
    result_.recorder_cpu_seconds = cpu_seconds() - cpu_start_;
  }

  const RecordOptions& o_;
  const FlightOptions& f_;
  RecordObserver& observer_;
  FlightResult result_;
  RecordPlan plan_;
  std::vector<FlightTrigger> triggers_spec_;
  std::optional<TriggerWatch> watch_;
  traces::TraceHeader header_;
  std::vector<traces::ZoneInfo> zones_;

  std::optional<StopSignals> signals_;
  std::optional<Collector> collector_;
  std::optional<ChunkRing> ring_;
  std::optional<FlightBuffer> buffer_;
  std::optional<TraceSink> sink_;
  std::optional<CollectorPump> pump_;

  std::optional<PendingDump> pending_;
  std::optional<Clock::time_point> last_dump_;
  int usr1_seen_ = 0;
  std::uint64_t keyframes_ = 0;
  std::uint32_t map_every_ = 0;  // keyframes between two free-page maps
  std::uint64_t keyframe_wmark_changes_ = 0;
  bool metrics_warned_ = false;
  Clock::time_point t_start_, last_keyframe_, last_metrics_, last_status_;
  double cpu_start_ = 0;
};

}  // namespace

FlightResult run_flight_recorder(const RecordOptions& record, const FlightOptions& flight, RecordObserver& observer) {
  return FlightSession(record, flight, observer).run();
}

}  // namespace labyrinth::ebpf
