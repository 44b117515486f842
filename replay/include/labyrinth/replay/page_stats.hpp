// `labyrinth stat`: totals and breakdowns of a page-event stream (a correct, richer
// `perf kmem stat --page`). One pass, memory bounded by the number of page frames.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "labyrinth/allocator/huge_pages.hpp"
#include "labyrinth/replay/capture.hpp"
#include "labyrinth/replay/data_quality.hpp"
#include "labyrinth/replay/direct_reclaim.hpp"
#include "labyrinth/replay/failure_class.hpp"
#include "labyrinth/replay/validation.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {
class TraceReader;
}

namespace labyrinth::replay {

struct Tally {
  std::uint64_t allocations = 0;  // successful
  std::uint64_t pages = 0;
  std::uint64_t failures = 0;
  std::uint64_t failed_pages = 0;
  std::uint64_t frees = 0;
  std::uint64_t freed_pages = 0;
};

// One row of a breakdown, ready to print.
struct Row {
  std::string key;        // "GFP_KERNEL", "softirq", "bash", "order 3 Movable", ...
  std::uint64_t bits = 0; // gfp bits for GFP rows
  std::uint32_t pid = 0;  // for process rows
  unsigned order = 0;     // for order rows
  std::string migratetype;
  Tally tally;
};

struct StatResult : CaptureDescription {
  unsigned callsite_depth = 1;  // frames from the call site on that group by_callsite
  // totals
  Tally total;
  std::uint64_t batched_frees = 0;
  std::uint64_t pcp_refills = 0, pcp_refill_pages = 0;
  std::uint64_t pcp_drains = 0, pcp_drain_pages = 0;
  std::uint64_t extfrag = 0, extfrag_fragmenting = 0, extfrag_ownership_changes = 0;
  // Pageblocks retyped with their free pages (fexit move_freepages_block, where the kernel
  // allows it): into the highatomic reserve (reserve_highatomic_pageblock) and out of it
  // (unreserve_highatomic_pageblock), which no tracepoint reports.
  std::uint64_t pageblock_moves = 0, highatomic_reserved = 0, highatomic_given_back = 0;
  std::uint64_t kswapd_passes = 0, kswapd_sleeps = 0;  // vmscan:mm_vmscan_kswapd_wake, _sleep
  std::uint64_t alloc_freed = 0;  // allocations freed within the trace
  std::uint64_t alloc_only = 0;   // still allocated at the end
  std::uint64_t free_only = 0;    // frees of pages never seen allocated
  std::array<std::uint64_t, kFailureClassCount> failures_by_class{};
  std::array<std::uint64_t, kFailureClassCount> failed_pages_by_class{};
  // breakdowns, sorted by pages (allocations) or failures
  std::vector<Row> by_order_migratetype;
  std::vector<Row> by_gfp;
  std::vector<Row> by_context;
  std::vector<Row> by_process;
  std::vector<Row> by_callsite;
  std::vector<Row> failures_by_order;
  std::vector<Row> failures_by_gfp;
  std::vector<Row> failures_by_context;
  std::vector<Row> failures_by_process;
  // allocations and failures by recorded stack, for folded stacks (see folded_stacks.hpp)
  std::vector<std::pair<std::uint32_t, Tally>> by_stack_id;  // sorted by id
  Tally without_stack;  // events that carry no stack id
  DirectReclaimSummary direct_reclaim;
  DataQualityCounters quality;
  KernelCounterCheck kernel_counters;  // the kernel's counts against the trace's (see count_between)
};

class PageStats {
 public:
  explicit PageStats(const traces::TraceHeader& header);
  // Whether add() needs the events' thread ids (to pair direct reclaim begins with ends).
  [[nodiscard]] static bool reads_tid(const traces::TraceHeader& header) { return direct_reclaim_recorded(header); }
  PageStats(const PageStats&) = delete;  // the open runs point into the object
  PageStats& operator=(const PageStats&) = delete;

  void add(const traces::PageEvent& event);
  // in_time_order: the reader found the events in time order (TraceReader::in_time_order), so
  // their times need not be checked one by one.
  void add(std::span<const traces::PageEvent> events, bool in_time_order = false);
  // Also counts the pages allocated and freed between the snapshots' reads of /proc/vmstat,
  // for StatResult::kernel_counters (a no-op when either snapshot lacks them). Before add();
  // finish() then reads the counters from the reader's snapshots.
  void count_between(const traces::Snapshot& start, const traces::Snapshot& end);
  // Reads names, stacks, losses and damage from the reader (after its last chunk). Call
  // sites are grouped by `callsite_depth` frames (see callsite.hpp).
  [[nodiscard]] StatResult finish(const traces::TraceReader& reader, std::size_t top_n, unsigned callsite_depth = 1);

 private:
  static constexpr int kOrders = 16;
  static constexpr int kTypes = 16;  // migratetype + 1 (0 = unknown)

  // Consecutive events that land in the same rows are counted as one run and added to the
  // rows when the run ends: most events repeat the previous one's process, GFP and order.
  // The rows are looked up when a run starts, so they are created in the same order as
  // one event at a time would create them (ties in the breakdowns keep their order).
  // A run's shape starts as a value no event has, so that the first event starts a run.
  struct AllocEventRun {
    std::uint64_t gfp = 0;
    std::uint64_t who = 0;    // pid << 32 | comm_id
    std::uint64_t shape = ~std::uint64_t{0};  // stack_id << 32 | ctx << 16 | order << 8 | migratetype + 1
    std::uint64_t n = 0;
    unsigned order = 0;
    std::array<Tally*, 6> rows{};  // total, order x type, context, gfp, process, stack or null
  };
  struct FreeEventRun {
    std::uint64_t who = 0;
    std::uint64_t shape = ~std::uint64_t{0};  // ctx << 8 | order
    std::uint64_t n = 0;
    unsigned order = 0;
    std::array<Tally*, 3> rows{};  // total, process, context
  };
  void note_times(std::span<const traces::PageEvent> events, bool in_time_order);
  // Successful allocations and frees, the bulk of a trace; add_other() the rest.
  void add_one(const traces::PageEvent& event);
  void add_other(const traces::PageEvent& event, unsigned order);
  void start_alloc_run(const traces::PageEvent& event, std::uint64_t who, std::uint64_t shape, unsigned order);
  void start_free_run(const traces::PageEvent& event, std::uint64_t who, std::uint64_t shape, unsigned order);
  void flush_alloc_run();
  void flush_free_run();

  Tally& gfp_tally(std::uint64_t gfp);
  Tally& process_tally(std::uint32_t pid, std::uint32_t comm_id);
  // The common case inline, the rest in the *_fully forms.
  void track_alloc(std::uint64_t pfn, unsigned order);
  void track_alloc_fully(std::uint64_t pfn, unsigned order);
  void track_free(std::uint64_t pfn, unsigned order);
  void track_free_fully(std::uint64_t pfn, unsigned order);

  traces::TraceHeader header_;
  traces::GfpBits bits_;
  std::array<std::array<Tally, kTypes>, kOrders> order_type_{};
  std::array<Tally, traces::kExecContextCount> context_{};
  std::unordered_map<std::uint64_t, Tally> gfp_;
  std::unordered_map<std::uint64_t, Tally> process_;
  std::unordered_map<std::uint32_t, Tally> stack_;
  std::uint64_t last_gfp_ = ~0ull;
  Tally* last_gfp_tally_ = nullptr;
  std::uint64_t last_process_ = ~0ull;
  Tally* last_process_tally_ = nullptr;

  AllocEventRun alloc_run_;
  FreeEventRun free_run_;
  DirectReclaimStats reclaim_;

  // Live allocations by head pfn: one bit per page frame keeps the map small (a 24 GiB
  // machine needs 768 KiB); a second bitmap marks heads of order > 0, whose order is kept in
  // a small map. That second bitmap is only read where a summary bit (one per 64 frames)
  // says it has a bit set, so the common order-0 free touches one cache line, not two.
  // Pfns beyond kDenseLimit (hostile input) go to a hash map. The bitmaps are zero-filled
  // reservations (ZeroedArray): a page of them takes memory, and time, only once an event
  // writes into it, so a short trace of a large machine starts at once.
  static constexpr std::uint64_t kDenseLimit = 1ull << 32;
  void grow_live(std::size_t word);
  allocator::ZeroedArray<std::uint64_t> live_bits_;
  allocator::ZeroedArray<std::uint64_t> high_order_bits_;
  allocator::ZeroedArray<std::uint64_t> high_order_words_;  // bit w: high_order_bits_[w] != 0
  std::uint64_t dense_words_ = 0;  // live_bits_'s words below kDenseLimit
  std::uint64_t live_dense_ = 0;   // bits set in live_bits_
  std::unordered_map<std::uint64_t, std::uint8_t> high_order_;
  std::unordered_map<std::uint64_t, std::uint8_t> live_sparse_;  // pfn -> order

  StatResult r_;
  // count_between: the span (0, 0: not counted), and the pages of events outside it (only the
  // spans at the edges of the capture are looked at event by event).
  std::uint64_t counted_from_ns_ = 0, counted_to_ns_ = 0;
  std::uint64_t outside_allocated_pages_ = 0, outside_freed_pages_ = 0;
  void count_outside(std::span<const traces::PageEvent> events);
  std::uint64_t prev_ts_ = 0;
};

}  // namespace labyrinth::replay
