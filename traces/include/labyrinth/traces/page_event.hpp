// The page event: the one value type that flows from recorders and importers
// through the trace file into stat and replay.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labyrinth::traces {

// Which kmem tracepoint an event comes from.
enum class EventKind : std::uint8_t {
  Alloc = 0,        // kmem:mm_page_alloc (a failure has pfn == kFailedPfn)
  Free = 1,         // kmem:mm_page_free
  FreeBatched = 2,  // kmem:mm_page_free_batched (duplicates a Free; a "went to pcp" hint)
  PcpRefill = 3,    // kmem:mm_page_alloc_zone_locked (buddy -> pcp list or caller)
  PcpDrain = 4,     // kmem:mm_page_pcpu_drain (pcp list -> buddy)
  Extfrag = 5,      // kmem:mm_page_alloc_extfrag (migratetype fallback)
  Isolate = 6,      // compaction:mm_compaction_(fast_)isolate_freepages: free blocks taken off
                    // the buddy lists by compaction's free scanner, which no kmem event reports
  ReclaimBegin = 7, // vmscan:mm_vmscan_direct_reclaim_begin: an allocating task enters direct
                    // reclaim (its watermark check just failed); order and gfp of its request
  ReclaimEnd = 8,   // vmscan:mm_vmscan_direct_reclaim_end: it leaves, reclaimed_pages freed
  PageblockMove = 9,  // fexit move_freepages_block (no tracepoint): the pageblock holding pfn
                      // retyped from fallback_migratetype to migratetype with its free pages, as
                      // reserve_highatomic_pageblock and unreserve_highatomic_pageblock do. In
                      // the file an extfrag record whose ownership byte is 2 (format 1.6), which
                      // a 1.5 reader takes as a claim: the same retyping.
  ZoneCounters = 10,  // the kernel's own counters of one zone, read by the recorder at a failed
                      // allocation (same ts and cpu), no tracepoint of their own: see
                      // ZoneCounters below. Never in the events a TraceReader hands out: in the
                      // file a block of their own (format 1.7), TraceReader::take_zone_counters().
  KswapdWake = 11,   // vmscan:mm_vmscan_kswapd_wake: kswapd of node `gfp` starts a balance_pgdat
                     // pass for `order`; the pass before it (if any) has ended (format 1.8)
  KswapdSleep = 12,  // vmscan:mm_vmscan_kswapd_sleep: kswapd of node `gfp` goes to sleep
};
inline constexpr int kEventKindCount = 13;
// The kinds an events block stores and a TraceReader hands out: all but ZoneCounters.
inline constexpr std::array<EventKind, 12> kEventBlockKinds = {
    EventKind::Alloc,       EventKind::Free,       EventKind::FreeBatched,  EventKind::PcpRefill,
    EventKind::PcpDrain,    EventKind::Extfrag,    EventKind::Isolate,      EventKind::ReclaimBegin,
    EventKind::ReclaimEnd,  EventKind::PageblockMove, EventKind::KswapdWake, EventKind::KswapdSleep};
[[nodiscard]] constexpr bool is_reclaim(EventKind kind) {
  return kind == EventKind::ReclaimBegin || kind == EventKind::ReclaimEnd;
}
[[nodiscard]] constexpr bool is_kswapd(EventKind kind) {
  return kind == EventKind::KswapdWake || kind == EventKind::KswapdSleep;
}
// The kinds that name no page (pfn 0): a direct reclaim's ends and kswapd's passes.
[[nodiscard]] constexpr bool is_pageless(EventKind kind) { return is_reclaim(kind) || is_kswapd(kind); }

// Where the CPU was when the tracepoint fired.
enum class ExecContext : std::uint8_t { Task = 0, Softirq = 1, Hardirq = 2, Nmi = 3, Unknown = 4 };
inline constexpr int kExecContextCount = 5;

// The pfn of a failed allocation (the kernel's ULONG_MAX).
inline constexpr std::uint64_t kFailedPfn = ~std::uint64_t{0};
inline constexpr std::uint32_t kNoStack = 0;
inline constexpr std::uint32_t kUnknownComm = 0;

// Which kernel path an isolate event comes from; the number is in the file format (1.2).
// Columns of an events block a consumer never reads: left undecoded, their fields read 0.
enum class UnreadColumns : std::uint8_t { None, Tid, CpuAndTid };

enum class IsolateSource : std::uint8_t { BlockScan = 0, FastScan = 1, Block = 2, Putback = 3 };

// The allocating task's state that __alloc_pages reads besides the gfp mask (Alloc only; trace
// format 1.4, recorded by the BPF program; 0 in older traces and in imports): bits of
// PageEvent::task_state. mm/page_alloc.c:__gfp_pfmemalloc_flags gives PF_MEMALLOC no
// watermarks and an OOM victim ALLOC_OOM; gfp_to_alloc_flags gives a real-time task that may
// reclaim ALLOC_MIN_RESERVE.
inline constexpr std::uint8_t kTaskMemalloc = 0x1;   // current->flags & PF_MEMALLOC
inline constexpr std::uint8_t kTaskRealtime = 0x2;   // rt_or_dl_task(current)
inline constexpr std::uint8_t kTaskOomVictim = 0x4;  // tsk_is_oom_victim(current)
inline constexpr std::uint8_t kTaskStateMask = 0x7;

struct PageEvent {
  std::uint64_t ts_ns = 0;   // trace clock, nanoseconds
  std::uint64_t pfn = 0;     // kFailedPfn for a failed allocation; 0 on reclaim events
  std::uint64_t gfp = 0;     // raw gfp bits of the recorded kernel (Alloc, ReclaimBegin); the
                             // node (KswapdWake, KswapdSleep)
  std::uint32_t pid = 0;     // thread-group id (meaningless in irq context)
  std::uint32_t tid = 0;
  std::uint32_t comm_id = kUnknownComm;  // index into the trace's process-name table
  std::uint32_t stack_id = kNoStack;     // index into the trace's stack table
  std::uint16_t cpu = 0;
  EventKind kind = EventKind::Alloc;
  ExecContext ctx = ExecContext::Unknown;
  std::uint8_t order = 0;
  std::int8_t migratetype = -1;          // requested (Alloc) or block type (Refill/Drain); -1 unknown
  // Extfrag only:
  std::uint8_t fallback_order = 0;
  std::int8_t fallback_migratetype = -1;
  bool change_ownership = false;
  // PcpRefill only:
  bool percpu_refill = false;
  // Isolate only: `taken_pages` free pages were taken from [pfn, pfn + range_pages). A block
  // scan (isolate_freepages_block) takes every free block whose head is in the range; a fast
  // isolation (fast_isolate_freepages) takes one block of taken_pages somewhere in it; an
  // exact block (__isolate_free_page) is the block of `order` at pfn, and a putback
  // (__putback_isolated_page) returns that block to the free lists.
  IsolateSource isolate_source = IsolateSource::BlockScan;
  // Alloc only: kTask* bits.
  std::uint8_t task_state = 0;
  std::uint32_t range_pages = 0;
  std::uint32_t taken_pages = 0;
  // ReclaimEnd only: the pages this direct reclaim freed (the kernel's nr_reclaimed).
  std::uint32_t reclaimed_pages = 0;

  [[nodiscard]] bool failed() const { return kind == EventKind::Alloc && pfn == kFailedPfn; }
  [[nodiscard]] bool zone_counters() const { return kind == EventKind::ZoneCounters; }
  [[nodiscard]] std::uint64_t pages() const { return std::uint64_t{1} << order; }
  friend bool operator==(const PageEvent&, const PageEvent&) = default;
};
// Replay holds events by the million: keep one in a cache line.
static_assert(sizeof(PageEvent) == 64);

// The kernel's counters of one zone at a failed allocation (EventKind::ZoneCounters), as a
// PageEvent carries them: what __zone_watermark_ok reads, taken in the failing allocation's
// own mm_page_alloc (format 1.7).
struct ZoneCounters {
  int node = 0;
  unsigned zone_index = 0;             // in the node's node_zones[] (0 DMA, 1 DMA32, 2 Normal, ...)
  std::uint64_t free_pages = 0;        // zone_page_state(NR_FREE_PAGES): the count the check reads
  std::uint32_t highatomic_free = 0;   // nr_free_highatomic
  std::uint32_t highatomic_reserved = 0;  // nr_reserved_highatomic
  std::uint32_t boost = 0;             // watermark_boost
  // Bit order * 4 + t: free_area[order].free_list[t] is not empty, t = 0 Unmovable, 1 Movable,
  // 2 Reclaimable, 3 HighAtomic; orders 0 to 15.
  std::uint64_t lists = 0;
  // The sum of every CPU's vm_stat_diff[NR_FREE_PAGES]: changes not yet folded into free_pages,
  // which free_pages + free_diffs is exact with (format 1.9; absent before, or when not read).
  std::optional<std::int32_t> free_diffs;
  [[nodiscard]] std::optional<std::int64_t> exact_free_pages() const {
    if (!free_diffs) return std::nullopt;
    return static_cast<std::int64_t>(free_pages) + *free_diffs;
  }
  [[nodiscard]] bool list_nonempty(unsigned order, unsigned type) const {
    return order < 16 && type < 4 && (lists >> (order * 4 + type) & 1u) != 0;
  }
};
inline constexpr unsigned kZoneCounterTypes = 4;
[[nodiscard]] ZoneCounters zone_counters_of(const PageEvent& e);
[[nodiscard]] PageEvent zone_counters_event(std::uint64_t ts_ns, std::uint16_t cpu, const ZoneCounters& c);

std::string_view to_string(EventKind kind);
std::string_view to_string(ExecContext ctx);
// The kernel tracepoint each kind records: its system ("kmem", "compaction", "vmscan") and
// name ("mm_page_alloc"), and both as "kmem:mm_page_alloc".
std::string_view tracepoint_system(EventKind kind);
std::string_view tracepoint_name(EventKind kind);
std::string tracepoint_of(EventKind kind);
// Parse the names printed by to_string(); false if unknown.
bool parse_event_kind(std::string_view name, EventKind& out);
bool parse_exec_context(std::string_view name, ExecContext& out);
// "memalloc,rt,oom" for the kTask* bits set ("" for none), and back; false on an unknown name.
std::string task_state_names(std::uint8_t state);
bool parse_task_state(std::string_view names, std::uint8_t& out);

}  // namespace labyrinth::traces
