// The kernel's memory state at one instant, for a trace's Snapshot: free blocks per order
// and zone state (/proc/buddyinfo, /proc/zoneinfo, /proc/pagetypeinfo, read and parsed by
// procfs/) and the free-page map (/proc/kpageflags).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// Runs of consecutive KPF_BUDDY pfns inside the given zones, sorted, split at zone
// boundaries. Throws std::runtime_error naming the file when it cannot be read.
inline constexpr unsigned kKpfBuddyBit = 10;
std::vector<traces::FreeRun> scan_kpageflags(const std::string& path, const std::vector<traces::ZoneInfo>& zones);
// The same on an in-memory flags array whose element 0 is pfn `first_pfn` (for tests).
std::vector<traces::FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count,
                                                  std::uint64_t first_pfn, std::uint64_t zone_end_pfn);


struct SnapshotOptions {
  bool kpageflags = true;  // scan the free-page map (about 0.2 s for 24 GiB)
  bool pagetypeinfo = true;  // per-migratetype counts (takes each zone's lock)
};
// The state now. Zone rows come from zoneinfo, buddyinfo and pagetypeinfo (the latter only
// when readable); throws std::runtime_error when /proc/zoneinfo or /proc/buddyinfo is missing.
traces::Snapshot take_snapshot(const std::vector<traces::ZoneInfo>& zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings = nullptr);

}  // namespace labyrinth::ebpf
