// The kernel's memory state at one instant, for a trace's Snapshot: free blocks per order
// and zone state (/proc/buddyinfo, /proc/zoneinfo, /proc/pagetypeinfo, read and parsed by
// procfs/) and the free-page map (the free lists read by the recorder's BPF walk, or
// /proc/kpageflags, kpageflags_scan.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "labyrinth/ebpf/kpageflags_scan.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/system_facts.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

// The text parsers, the readers and the machine's facts are procfs/'s; their names stay
// usable here for the recorder.
using procfs::boottime_ns;
using procfs::collect_system_facts;
using procfs::fill_header;
using procfs::realtime_ns;
using procfs::SystemFacts;

class Collector;

struct SnapshotOptions {
  bool kpageflags = true;  // scan the free-page map (about 0.2 s for 24 GiB)
  bool pagetypeinfo = true;  // per-migratetype counts (takes each zone's lock)
  bool vmstat = true;        // /proc/vmstat's counters (not in the light keyframes)
  // The free-page map read from the free lists by this collector's BPF walk (a few ms), right
  // after buddyinfo; the kpageflags scan above stays the fallback where it cannot.
  Collector* free_lists = nullptr;
};
// The state now. Zone rows come from zoneinfo, buddyinfo and pagetypeinfo (the latter only
// when readable); throws std::runtime_error when /proc/zoneinfo or /proc/buddyinfo is missing.
traces::Snapshot take_snapshot(const std::vector<traces::ZoneInfo>& zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings = nullptr);

}  // namespace labyrinth::ebpf
