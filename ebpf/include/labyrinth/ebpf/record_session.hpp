// One `labyrinth record` run: preflight, the optional child command, BPF load and attach,
// the start snapshot, the consume loop (timers, status line, signals), the clean stop
// (drain, end snapshot, footer). Knows nothing of the command-line parser.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/ebpf/collector.hpp"
#include "labyrinth/ebpf/errors.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::ebpf {

struct RecordOptions {
  std::string output = "labyrinth.trace";
  bool overwrite = false;                          // -f
  std::uint32_t pid = 0;                           // -p: only this process (thread group)
  std::vector<std::string> command;                // -- COMMAND ARGS: record while it runs
  std::optional<std::chrono::nanoseconds> duration;  // -d
  std::uint32_t min_order = 0;                     // --min-order
  bool call_graph = false;                         // -g: kernel stacks
  bool zone_counters = true;                       // --no-zone-counters clears it
  std::vector<traces::EventKind> events;           // empty = the default set
  std::uint32_t buffer_mib = 32;                   // ring buffer size (power of two)
  std::uint32_t wakeup_kib = 256;                  // consumer wake-up threshold; 0 = per sample
  std::uint32_t batch = 64;                        // records per ring-buffer sample (1 = no batching)
  // --nice: the recorder's scheduling niceness once COMMAND is forked (which keeps its own);
  // a reader starved by a busy machine lets the ring buffer fill and drop events.
  int nice = -10;
  // --realtime: the reader thread's SCHED_FIFO priority (1..99; 0 = the normal class at
  // --nice). It ends the reader's run-queue waits on a loaded machine (seconds per recording
  // under CFS) but not the losses of bursts that outrun the reader (README), so it is opt-in.
  int realtime = 0;
  // --no-mlock clears it: the recorder locks its pages (lock_recorder_memory) once COMMAND is
  // forked, so that memory pressure does not make it read its own code back from disk.
  bool lock_memory = true;
  bool kpageflags = true;                          // free-page map in the snapshots
  // --keyframe-interval: buddyinfo and zoneinfo this often while recording (0 = never), so
  // that replay follows watermark and managed-page changes and validates along the way.
  std::chrono::nanoseconds keyframe_interval = std::chrono::seconds(1);
  // --keyframe-free-map: every Nth keyframe also carries the free-page map (0 = never), so that
  // mirror can resynchronise after a divergence. Unset: every keyframe where the recorder reads
  // the free lists (a few ms), every 10th where it must scan /proc/kpageflags (about 0.2 s of one
  // CPU for 24 GiB).
  std::optional<std::uint32_t> keyframe_free_map;
  AttachMode attach = AttachMode::Auto;            // raw_tp where possible, else tracepoints
  bool status_line = false;                        // live status (stderr is a terminal)
  std::string tool_version;
};

// Where the session reports to; the command line implements it.
class RecordObserver {
 public:
  virtual ~RecordObserver() = default;
  virtual void warning(std::string_view message) = 0;
  virtual void info(std::string_view message) = 0;
  virtual void debug(int level, std::string_view message) = 0;
  // The live status line; an empty line clears it.
  virtual void status(std::string_view line) = 0;
};

// Why a recording stopped; to_string gives the word the trace's footer stores.
enum class StopReason { None, Signal, Duration, CommandExit, ProcessExit, WriteError };
std::string_view to_string(StopReason reason);

struct RecordResult {
  std::string output;
  StopReason stop_reason = StopReason::None;
  bool interrupted_before_start = false;  // stopped by a signal before the file was created
  bool command_ran = false;
  int command_exit_code = 0;          // exit status, or 128 + signal number
  std::optional<std::string> write_error;  // the trace could not be completed (disk full ...)
  bool trace_complete = false;        // the footer was written
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::uint64_t keyframes = 0;        // written during the recording
  double seconds = 0;
  double recorder_cpu_seconds = 0;    // user + system CPU of this process while recording
  CollectorCounters counters;
  std::uint64_t comms = 0;
  std::uint64_t stacks = 0;
};

// Runs a recording. Throws RecordError for anything that stops it before the trace file
// exists (permissions, kernel support, options, the output path); after that, problems are
// reported in the result and the file is left as complete as possible.
RecordResult run_record(const RecordOptions& options, RecordObserver& observer);

// The events recorded when -e is not given.
std::vector<traces::EventKind> default_record_events();

}  // namespace labyrinth::ebpf
