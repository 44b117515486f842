// The kernel's memory state as /proc shows it: zones and watermarks (/proc/zoneinfo), free
// blocks per order (/proc/buddyinfo) and per migratetype (/proc/pagetypeinfo), the
// free-page map (/proc/kpageflags), the vm sysctls and the GFP flag table. Fills the
// trace's TraceHeader and Snapshot. The parsers take text so they can be tested on samples.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

// /proc/zoneinfo. Zones are listed as the kernel prints them, including empty ones
// (spanned_pages == 0); watermarks are stored without the boost the kernel adds.
std::vector<traces::ZoneInfo> parse_zoneinfo(std::string_view text);

struct BuddyinfoRow {
  int node = 0;
  std::string zone;
  std::vector<std::uint64_t> free_blocks;  // per order 0..max_order
};
std::vector<BuddyinfoRow> parse_buddyinfo(std::string_view text);

struct PagetypeZone {
  int node = 0;
  std::string zone;
  std::vector<std::vector<std::uint64_t>> free_blocks;  // [migratetype][order]; ">100000" reads as 100000
  std::vector<std::uint64_t> pageblocks;                // per migratetype
};
struct PagetypeInfo {
  std::uint32_t pageblock_order = 0;  // 0 = not found
  std::vector<std::string> migratetype_names;
  std::vector<PagetypeZone> zones;
};
PagetypeInfo parse_pagetypeinfo(std::string_view text);

// Runs of consecutive KPF_BUDDY pfns inside the given zones, sorted, split at zone
// boundaries. Throws std::runtime_error naming the file when it cannot be read.
inline constexpr unsigned kKpfBuddyBit = 10;
std::vector<traces::FreeRun> scan_kpageflags(const std::string& path, const std::vector<traces::ZoneInfo>& zones);
// The same on an in-memory flags array whose element 0 is pfn `first_pfn` (for tests).
std::vector<traces::FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count,
                                                  std::uint64_t first_pfn, std::uint64_t zone_end_pfn);


// Everything the header says about the machine.
struct SystemFacts {
  std::string kernel_release, machine, hostname;
  std::uint32_t page_size = 4096;
  std::uint32_t max_order = 10;
  std::uint32_t pageblock_order = 9;
  std::uint32_t nr_cpus = 0;  // possible CPUs (cpu ids are below this)
  traces::GfpTable gfp_table;
  traces::GfpTableSource gfp_table_source = traces::GfpTableSource::BuiltIn;
  std::string gfp_table_problem;  // why the format file could not be used
  std::vector<std::string> migratetype_names;
  std::vector<traces::ZoneInfo> zones;  // those with spanned_pages > 0
  std::map<std::string, std::string> vm_sysctls;
  std::vector<std::string> warnings;    // things that fell back to defaults
};
// `tracefs` is the events root ("/sys/kernel/tracing") for the GFP table.
SystemFacts collect_system_facts(const std::string& tracefs);
void fill_header(traces::TraceHeader& header, const SystemFacts& facts);

// Reads every readable file of /proc/sys/vm (skipping the ones with side effects).
std::map<std::string, std::string> read_vm_sysctls(const std::string& dir = "/proc/sys/vm");
std::uint32_t possible_cpus();

// CLOCK_BOOTTIME (the BPF clock) and CLOCK_REALTIME in nanoseconds.
std::uint64_t boottime_ns();
std::uint64_t realtime_ns();

struct SnapshotOptions {
  bool kpageflags = true;  // scan the free-page map (about 0.2 s for 24 GiB)
  bool pagetypeinfo = true;  // per-migratetype counts (takes each zone's lock)
};
// The state now. Zone rows come from zoneinfo, buddyinfo and pagetypeinfo (the latter only
// when readable); throws std::runtime_error when /proc/zoneinfo or /proc/buddyinfo is missing.
traces::Snapshot take_snapshot(const std::vector<traces::ZoneInfo>& zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings = nullptr);

}  // namespace labyrinth::ebpf
