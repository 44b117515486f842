// The steps before a recording starts, shared by every kind of recording: option checks,
// what the kernel can record, the collector's configuration, the trace header.
#pragma once

#include <string>
#include <vector>

#include "labyrinth/ebpf/collector.hpp"
#include "labyrinth/ebpf/kallsyms.hpp"
#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/ebpf/record_session.hpp"
#include "labyrinth/ebpf/system_snapshot.hpp"

namespace labyrinth::ebpf {

// What the recording will hook and where it runs.
struct RecordPlan {
  KernelSupport kernel;
  std::vector<traces::EventKind> attach;  // wanted and recordable
  std::vector<std::string> missing;       // wanted but not recordable (tracepoint names)
  std::string command_path;               // the command resolved through PATH
  SystemFacts facts;
  KernelSymbols symbols;                  // loaded with -g
};

// Throws RecordError(Usage) for options that cannot work (buffer size, order, pid, command).
void check_record_options(const RecordOptions& options, RecordPlan& plan);
// Probes the kernel and decides which tracepoints to attach; preflight warnings go to the observer.
void plan_events(const RecordOptions& options, RecordPlan& plan, RecordObserver& observer);
// The output must be creatable: no symbolic link, no directory, no existing file without -f.
void check_output_path(const std::string& output, bool overwrite);
// The machine's facts for the header, and kernel symbols for -g.
void collect_facts(const RecordOptions& options, RecordPlan& plan, RecordObserver& observer);

// Step out of the OOM killer's way: the ring buffer's mapping makes the recorder the largest
// process just when memory runs out, which is when a recording matters most.
void protect_from_oom_killer(RecordObserver& observer);

// Keep the recorder's pages in memory (mlockall, on fault: only what it touches). Under
// pressure the kernel otherwise evicts its code and libraries and it reads them back, again
// and again: in one 7 s squeeze 30,000 readahead pages, the largest page-cache load on the
// machine, at the floor where each one decides whether the workload's requests are served.
// The forked COMMAND inherits no lock. Without the privilege it stays as it is, with a note.
void lock_recorder_memory(bool lock, RecordObserver& observer);

// The reader's niceness (RecordOptions::nice) and real-time priority (RecordOptions::realtime):
// a reader that runs as soon as it is woken keeps the ring buffer drained on a busy machine.
// Without the privilege it stays as it is, with a note.
void raise_reader_priority(int nice, int realtime, RecordObserver& observer);

// Every how many keyframes one carries the free-page map (0: none), and the snapshot options of
// such a keyframe: the free lists read by the collector where it can (with /proc/pagetypeinfo,
// which takes each zone's lock, only if `pagetypes`), else the kpageflags scan.
inline constexpr std::uint32_t kKeyframesPerScan = 10;  // a scan: 0.2 s of a CPU per 24 GiB
std::uint32_t free_map_every(const RecordOptions& options, const Collector& collector);
SnapshotOptions map_keyframe_options(const RecordOptions& options, Collector& collector, bool pagetypes);

CollectorConfig collector_config(const RecordOptions& options, const RecordPlan& plan, RecordObserver& observer);

// The trace header: machine, events attached (kinds the collector could not hook move to
// plan.missing with a warning), options, start times.
traces::TraceHeader make_header(const RecordOptions& options, RecordPlan& plan, const Collector& collector,
                                RecordObserver& observer);

}  // namespace labyrinth::ebpf
