// What a trace says about the machine it was recorded on: the header, the start and end
// snapshots of the kernel's memory state, and the footer with totals and losses.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {

inline constexpr int kMaxSupportedOrder = 15;  // upper bound on max_order we accept in a header

// Default migratetype names of Linux >= 4.4 (UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, CMA, ISOLATE).
std::vector<std::string> default_migratetype_names();

struct ZoneInfo {
  int node = 0;
  std::string name;                 // "DMA", "DMA32", "Normal", "Movable"
  std::uint64_t start_pfn = 0;
  std::uint64_t spanned_pages = 0;
  std::uint64_t present_pages = 0;
  std::uint64_t managed_pages = 0;
  std::uint64_t min_pages = 0;      // watermarks without boost
  std::uint64_t low_pages = 0;
  std::uint64_t high_pages = 0;
  std::uint64_t boost_pages = 0;
  std::vector<std::uint64_t> lowmem_reserve_pages;  // "protection:" of /proc/zoneinfo
  std::uint64_t pcp_high = 0;       // per-cpu list high and batch (first CPU's pageset)
  std::uint64_t pcp_batch = 0;
  std::uint64_t pcp_count_pages = 0;  // pages on all CPUs' pcp lists at snapshot time
  std::uint64_t free_pages = 0;     // "pages free" (NR_FREE_PAGES)
  friend bool operator==(const ZoneInfo&, const ZoneInfo&) = default;
};

// A run of free pages [start_pfn, start_pfn + pages) seen in /proc/kpageflags (KPF_BUDDY).
struct FreeRun {
  std::uint64_t start_pfn = 0;
  std::uint64_t pages = 0;
  friend bool operator==(const FreeRun&, const FreeRun&) = default;
};

// Splits free runs into naturally aligned power-of-two blocks, largest first (every page of
// a free buddy block has KPF_BUDDY on Linux >= 4.x, the order is not exported). Returns
// blocks per order 0..max_order of the pages in [first_pfn, end_pfn). Exact when the
// allocator has merged every pair of free buddies; a kpageflags scan is not atomic.
std::vector<std::uint64_t> decompose_free_runs(const std::vector<FreeRun>& runs, unsigned max_order,
                                               std::uint64_t first_pfn = 0,
                                               std::uint64_t end_pfn = ~std::uint64_t{0});

// The kernel's memory state at one instant.
struct ZoneSnapshot {
  int node = 0;
  std::string zone;
  std::vector<std::uint64_t> buddyinfo;                    // free blocks per order
  std::vector<std::vector<std::uint64_t>> pagetype_free;   // [migratetype][order] free blocks
  std::vector<std::uint64_t> pageblocks_by_type;           // pageblocks per migratetype
  std::uint64_t free_pages = 0;                            // NR_FREE_PAGES
  std::uint64_t pcp_pages = 0;
  std::uint64_t min_pages = 0, low_pages = 0, high_pages = 0, boost_pages = 0;
  std::uint64_t managed_pages = 0;  // grows mid-recording with deferred init or hotplug; 0 = not read
  std::vector<std::uint64_t> lowmem_reserve_pages;  // "protection:" (recomputed as zones grow); empty = not read
  friend bool operator==(const ZoneSnapshot&, const ZoneSnapshot&) = default;
};

struct Snapshot {
  bool present = false;
  std::uint64_t ts_ns = 0;                 // trace clock at snapshot time
  std::vector<ZoneSnapshot> zones;
  std::vector<FreeRun> free_runs;          // sorted by pfn, from /proc/kpageflags
  std::uint64_t kpageflags_scan_ns = 0;    // how long the scan took (it is not atomic)
  // A keyframe whose free-page map stays in the file until asked for (TraceReader::keyframe_free_map).
  bool free_map_in_file = false;
  // /proc/vmstat in the start and end snapshots (and keyframes with a free map): the kernel's own counts of the
  // pages it allocated and freed (pgalloc_*, pgfree) and of compaction, to measure what no event
  // shows. Empty in traces older than format 1.3 and in imports.
  std::uint64_t vmstat_ts_ns = 0;
  std::map<std::string, std::uint64_t> vmstat;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

struct TraceHeader {
  std::string tool = "labyrinth";
  std::string tool_version;
  std::string source;               // "record", "import:ftrace", "import:trace-cmd", "import:perf-script", "text"
  std::string kernel_release;
  std::string machine;              // uname -m
  std::string hostname;
  std::uint32_t page_size = 4096;
  std::uint32_t max_order = 10;     // MAX_PAGE_ORDER, inclusive
  std::uint32_t pageblock_order = 9;
  std::uint32_t nr_cpus = 0;
  std::string clock = "boot";       // "boot" (CLOCK_BOOTTIME), "mono", "trace-text" (as printed)
  std::uint64_t start_time_unix_ns = 0;
  std::uint64_t start_ts_ns = 0;    // trace clock at the start of the recording
  GfpTable gfp_table;
  GfpTableSource gfp_table_source = GfpTableSource::BuiltIn;
  std::vector<std::string> migratetype_names = default_migratetype_names();  // index = migratetype value
  std::vector<ZoneInfo> zones;
  std::map<std::string, std::string> vm_sysctls;  // "min_free_kbytes" -> "67584", ...
  // Module parameters of mechanisms that move free pages without an event:
  // "page_reporting.page_reporting_order" -> "9" (free page reporting, virtio-balloon).
  std::map<std::string, std::string> kernel_params;
  std::vector<std::string> command;               // what was recorded (argv), empty = system-wide
  std::vector<std::string> events;                // tracepoints captured, "kmem:mm_page_alloc", ...
  std::vector<std::string> missing_events;        // optional tracepoints that were not available
  std::map<std::string, std::string> options;     // recorder options (-p, --min-order, -g ...)
  // A node's zones in node_zones[] order, populated or not (/proc/zoneinfo's order): the index
  // the zone counters name (format 1.7). Empty: DMA, DMA32, Normal, Movable, Device (x86-64).
  std::vector<std::string> node_zone_names;
  friend bool operator==(const TraceHeader&, const TraceHeader&) = default;
};

// The name of the zone at `index` of a node's node_zones[] (TraceHeader::node_zone_names, or the
// x86-64 order where the trace does not say); "" past the end.
std::string node_zone_name(const TraceHeader& header, unsigned index);

// Data-loss counters of the capture; every one is reported, none is fatal.
struct CaptureLosses {
  std::uint64_t ringbuf_drops = 0;        // bpf_ringbuf_reserve failures
  std::uint64_t recursion_misses = 0;     // BPF program skipped (bpf_prog_active)
  std::uint64_t lost_events = 0;          // "[LOST n EVENTS]", perf LOST records
  std::uint64_t lines_skipped = 0;        // importer lines that could not be parsed
  std::uint64_t lines_other_events = 0;   // importer lines of non-kmem-page events (not a loss)
  std::uint64_t stacks_lost = 0;          // stack ids that could not be captured
  friend bool operator==(const CaptureLosses&, const CaptureLosses&) = default;
  [[nodiscard]] std::uint64_t total_event_loss() const { return ringbuf_drops + recursion_misses + lost_events + lines_skipped; }
};

struct TraceFooter {
  bool present = false;
  std::uint64_t events = 0;
  std::array<std::uint64_t, kEventKindCount> events_by_kind{};
  std::uint64_t first_ts_ns = 0;
  std::uint64_t last_ts_ns = 0;
  std::uint64_t end_time_unix_ns = 0;
  CaptureLosses losses;
  int exit_status = 0;              // of the recorded command, if any
  std::string stop_reason;          // "duration", "signal", "command-exit", "eof"
  friend bool operator==(const TraceFooter&, const TraceFooter&) = default;
};

// The stack table: id -> symbolized kernel frames, innermost first.
struct StackTrace {
  std::uint32_t id = 0;
  std::vector<std::string> frames;
  friend bool operator==(const StackTrace&, const StackTrace&) = default;
};


}  // namespace labyrinth::traces
