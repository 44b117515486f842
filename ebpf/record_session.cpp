#include "labyrinth/ebpf/record_session.hpp"

#include <signal.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "child_command.hpp"
#include "collector_pump.hpp"
#include "record_setup.hpp"
#include "record_status.hpp"
#include "stop_signals.hpp"
#include "trace_sink.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::ebpf {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = RecordError::Kind;

// One run of `labyrinth record` into a trace file. run() lists the steps in order; members
// are declared so that they are destroyed in the reverse of the order they were made in.
class RecordSession {
 public:
  RecordSession(const RecordOptions& options, RecordObserver& observer) : o_(options), observer_(observer) {
    result_.output = o_.output;
  }

  RecordResult run() {
    prepare();  // throws before anything exists
    fork_command();
    protect_from_oom_killer(observer_);
    lock_recorder_memory(o_.lock_memory, observer_);
    raise_reader_priority(o_.nice, o_.realtime, observer_);
    signals_.emplace();
    attach_programs();
    if (stop_signal_count() > 0) {
      result_.interrupted_before_start = true;
      result_.stop_reason = StopReason::Signal;
      return result_;
    }
    create_trace();
    start_clocks();
    write_start_snapshot();
    release_command();
    record_until_stop();
    signal_command_if_it_outlives_us();
    traces::Snapshot end = take_end_snapshot();
    detach_and_drain();
    report_counters();
    wait_for_command();
    write_footer(end);
    return finish_result();
  }

 private:
  // ---- before anything is created ----
  void prepare() {
    check_record_options(o_, plan_);
    plan_events(o_, plan_, observer_);
    check_output_path(o_.output, o_.overwrite);
    collect_facts(o_, plan_, observer_);
  }

  // Forked while this process still has a single thread; it keeps the default OOM score.
  void fork_command() {
    if (o_.command.empty()) return;
    std::vector<std::string> argv = o_.command;
    argv.front() = plan_.command_path;
    child_.emplace(argv);
  }

  void attach_programs() {
    collector_.emplace(collector_config(o_, plan_, observer_));
    collector_->attach();
    const KernelSupport& ks = plan_.kernel;
    observer_.debug(1, fmt::format("attached {}; execution context via {}", collector_->attach_summary(),
                                   ks.preempt.found ? ks.preempt.via : "nothing (unknown)"));
    if (!collector_->raw_problem().empty())
      observer_.debug(1, "using classic tracepoints (slower) because " + collector_->raw_problem());
  }

  void create_trace() {
    traces::TraceHeader header = make_header(o_, plan_, *collector_, observer_);
    zones_ = header.zones;
    try {
      traces::WriterOptions wo;
      wo.overwrite = o_.overwrite;
      writer_.emplace(o_.output, std::move(header), wo);
    } catch (const traces::TraceError& e) {
      throw RecordError(Kind::Output, e.what(), {"choose another file with -o, or -f to overwrite"});
    }
    target_.emplace(*writer_);
    sink_.emplace(*target_, *collector_, o_.call_graph ? &plan_.symbols : nullptr);
    pump_.emplace(*collector_, *sink_);
  }

  void start_clocks() {
    t_start_ = Clock::now();
    cpu_start_ = cpu_seconds();
  }

  // ---- recording ----

  traces::Snapshot snapshot_while_consuming(SnapshotOptions options) {
    return pump_->snapshot(zones_, options, observer_);
  }
  void consume(int timeout_ms) { pump_->consume(timeout_ms); }
  [[nodiscard]] bool failed() const { return pump_ && pump_->write_error(); }

  // The writer must see the start snapshot before any event: events wait in the sink.
  void write_start_snapshot() {
    sink_->set_buffering(true);
    traces::Snapshot start = snapshot_while_consuming(SnapshotOptions{o_.kpageflags});
    try {
      collector_->sync(*sink_);
      writer_->write_start_snapshot(start);
      sink_->replay_buffered();
    } catch (const traces::TraceError& e) {
      pump_->fail(e.what());
    }
  }

  void release_command() {
    if (!child_ || failed()) return;
    const int exec_errno = child_->release();
    if (exec_errno != 0) {
      observer_.warning(fmt::format("cannot run {}: {}", o_.command.front(), std::strerror(exec_errno)));
      stop_reason_ = StopReason::CommandExit;
    } else {
      result_.command_ran = true;
    }
  }

  void record_until_stop() {
    last_status_ = last_flush_ = last_keyframe_ = Clock::now();
    keyframe_wmark_changes_ = collector_->watermark_changes();
    while (stop_reason_ == StopReason::None && !failed()) {
      consume(50);
      const auto now = Clock::now();
      check_stop_conditions(now);
      write_keyframe_if_due(now);
      flush_if_due(now);
      show_status_if_due(now);
    }
    if (failed()) stop_reason_ = StopReason::WriteError;
    if (o_.status_line) observer_.status("");
  }

  void check_stop_conditions(Clock::time_point now) {
    if (stop_signal_count() > 0) {
      stop_reason_ = StopReason::Signal;
    } else if (child_ && child_->poll_exit()) {  // SIGCHLD interrupts the poll
      stop_reason_ = StopReason::CommandExit;
    } else if (o_.duration && now - t_start_ >= *o_.duration) {
      stop_reason_ = StopReason::Duration;
    }
  }

  // On the interval, and at once when the kernel changed its watermarks.
  void write_keyframe_if_due(Clock::time_point now) {
    const std::uint64_t wmark_changes = collector_->watermark_changes();
    const bool watermarks_changed = wmark_changes != keyframe_wmark_changes_;
    if (o_.keyframe_interval.count() <= 0 || stop_reason_ != StopReason::None ||
        !(now - last_keyframe_ >= o_.keyframe_interval || watermarks_changed))
      return;
    keyframe_wmark_changes_ = wmark_changes;
    // About a millisecond (buddyinfo and zoneinfo); the ring buffer covers far more.
    last_keyframe_ = now;
    try {
      const std::uint32_t every = free_map_every(o_, *collector_);
      const bool with_map = every != 0 && result_.keyframes % every == every - 1;
      const bool pagetypes = result_.keyframes % kKeyframesPerScan == kKeyframesPerScan - 1;
      if (with_map) {
        const SnapshotOptions options = map_keyframe_options(o_, *collector_, pagetypes);
        traces::Snapshot k = snapshot_while_consuming(options);
        if (!k.free_runs.empty()) map_ns_.push_back(k.kpageflags_scan_ns);
        writer_->write_keyframe(k);
      }
      else
        writer_->write_keyframe(take_snapshot(zones_, SnapshotOptions{false, false, false}));
      ++result_.keyframes;
    } catch (const traces::TraceError& e) {
      pump_->fail(e.what());
    } catch (const std::exception& e) {
      observer_.warning(std::string("no keyframe: ") + e.what());
    }
  }

  // Once a second: the pending chunk goes to disk (a SIGKILL loses at most that), and -p's
  // process is checked.
  void flush_if_due(Clock::time_point now) {
    if (now - last_flush_ < std::chrono::seconds(1)) return;
    try {
      sink_->flush_if_due();
    } catch (const traces::TraceError& e) {
      pump_->fail(e.what());
    }
    last_flush_ = now;
    if (o_.pid != 0 && !process_alive(static_cast<pid_t>(o_.pid)) && stop_reason_ == StopReason::None)
      stop_reason_ = StopReason::ProcessExit;
  }

  void show_status_if_due(Clock::time_point now) {
    if (!o_.status_line || now - last_status_ < std::chrono::milliseconds(500)) return;
    const double dt = std::chrono::duration<double>(now - last_status_).count();
    const auto c = collector_->counters();
    StatusFigures f;
    f.elapsed_s = std::chrono::duration<double>(now - t_start_).count();
    f.events = sink_->events();
    f.events_per_s = static_cast<double>(sink_->events() - events_at_status_) / dt;
    f.drops = c.drops;
    f.misses = c.recursion_misses;
    f.bytes = static_cast<double>(writer_->bytes_written());
    observer_.status(status_line(f));
    events_at_status_ = sink_->events();
    last_status_ = now;
  }

  // ---- stopping ----

  // The command outlived the recording: pass on a signal sent to us with kill(2) (a keyboard
  // signal reached it already), and stop it with SIGTERM after -d or an error, like perf.
  void signal_command_if_it_outlives_us() {
    const bool signalled = stop_reason_ == StopReason::Signal;
    if (!child_ || !result_.command_ran || child_->poll_exit() || (signalled && stop_signal_from_tty())) return;
    child_->signal(signalled && last_stop_signal() != 0 ? last_stop_signal() : SIGTERM);
    child_signalled_ = true;
  }

  // Still recording while it is taken; a second stop signal skips it.
  traces::Snapshot take_end_snapshot() {
    if (failed() || stop_signal_count() >= 2) return {};
    return snapshot_while_consuming(SnapshotOptions{o_.kpageflags});
  }

  void detach_and_drain() {
    collector_->detach();
    if (failed()) return;
    try {
      collector_->finish(*sink_);
    } catch (const traces::TraceError& e) {
      pump_->fail(e.what());
    }
  }

  void report_counters() {
    result_.counters = collector_->counters();
    const CollectorCounters& c = result_.counters;
    for (const auto& [program, misses] : c.misses_by_program)
      observer_.debug(1, fmt::format("{}: the kernel skipped it {} times", program, misses));
    observer_.debug(1, fmt::format("{} records sent outside a batch, {} arrived late, {} not understood", c.bypass,
                                   c.late, c.bad_records));
    if (c.run_count != 0)
      observer_.debug(1, fmt::format("BPF programs ran {} times, {:.1f} ns per run (kernel.bpf_stats_enabled)",
                                     c.run_count,
                                     static_cast<double>(c.run_time_ns) / static_cast<double>(c.run_count)));
    if (!map_ns_.empty()) {
      std::sort(map_ns_.begin(), map_ns_.end());
      observer_.debug(1, fmt::format("{} keyframes with a free-page map from {}: median {:.2f} ms, max {:.2f} ms",
                                     map_ns_.size(),
                                     collector_->can_walk_free_lists() ? "the free lists" : "/proc/kpageflags",
                                     static_cast<double>(map_ns_[map_ns_.size() / 2]) / 1e6,
                                     static_cast<double>(map_ns_.back()) / 1e6));
    }
    result_.recorder_cpu_seconds = cpu_seconds() - cpu_start_;
    result_.seconds = std::chrono::duration<double>(Clock::now() - t_start_).count();
  }

  void wait_for_command() {
    if (!child_) return;
    if (result_.command_ran && !child_->exited()) {
      if (!child_signalled_ && stop_reason_ != StopReason::CommandExit)
        observer_.info(fmt::format("waiting for {} (pid {}) to exit", o_.command.front(), child_->pid()));
      child_->wait(observer_);
    }
    if (child_->exited()) result_.command_exit_code = result_.command_ran ? exit_code_of(child_->status()) : 127;
    if (!result_.command_ran) result_.command_exit_code = 127;
  }

  void write_footer(const traces::Snapshot& end) {
    traces::TraceFooter footer;
    footer.present = true;
    footer.events = sink_->events();
    footer.events_by_kind = sink_->by_kind();
    footer.first_ts_ns = sink_->first_ts();
    footer.last_ts_ns = sink_->last_ts();
    footer.end_time_unix_ns = realtime_ns();
    footer.losses.ringbuf_drops = result_.counters.drops;
    footer.losses.recursion_misses = result_.counters.recursion_misses;
    footer.losses.stacks_lost = result_.counters.stack_errors + sink_->stacks_lost();
    footer.exit_status = result_.command_exit_code;
    footer.stop_reason = std::string(to_string(stop_reason_));
    if (failed()) return;
    try {
      writer_->finish(end, footer);
      result_.trace_complete = true;
    } catch (const traces::TraceError& e) {
      pump_->fail(e.what());
    }
  }

  RecordResult finish_result() {
    result_.bytes = writer_->bytes_written();
    result_.write_error = pump_->write_error();
    result_.stop_reason = failed() ? StopReason::WriteError : stop_reason_;
    result_.events = sink_->events();
    result_.comms = sink_->comms();
    result_.stacks = sink_->stacks();
    return result_;
  }

  const RecordOptions& o_;
  RecordObserver& observer_;
  RecordResult result_;
  RecordPlan plan_;
  std::vector<traces::ZoneInfo> zones_;

  std::optional<ChildCommand> child_;
  std::optional<StopSignals> signals_;
  std::optional<Collector> collector_;
  std::optional<traces::TraceWriter> writer_;
  std::optional<WriterTarget> target_;
  std::optional<TraceSink> sink_;
  std::optional<CollectorPump> pump_;

  StopReason stop_reason_ = StopReason::None;
  bool child_signalled_ = false;
  Clock::time_point t_start_, last_status_, last_flush_, last_keyframe_;
  double cpu_start_ = 0;
  std::uint64_t keyframe_wmark_changes_ = 0;
  std::vector<std::uint64_t> map_ns_;  // how long each keyframe's free-page map took
  std::uint64_t events_at_status_ = 0;
};

}  // namespace

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::None: return "";
    case StopReason::Signal: return "signal";
    case StopReason::Duration: return "duration";
    case StopReason::CommandExit: return "command-exit";
    case StopReason::ProcessExit: return "process-exit";
    case StopReason::WriteError: return "write-error";
  }
  return "";
}

std::vector<traces::EventKind> default_record_events() {
  std::vector<traces::EventKind> out;
  for (const auto& s : tracepoint_specs())
    if (s.default_on) out.push_back(s.kind);
  return out;
}

RecordResult run_record(const RecordOptions& options, RecordObserver& observer) {
  return RecordSession(options, observer).run();
}

}  // namespace labyrinth::ebpf
