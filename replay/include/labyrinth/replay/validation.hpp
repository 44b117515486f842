// End-state validation of a mirror replay: the model's reconstructed buddy state against the
// kernel's recorded end snapshot, per zone and order (/proc/buddyinfo), in free pages
// (NR_FREE_PAGES) and page by page against the /proc/kpageflags free map. The kernel's pcp
// pages are in none of these, and the model in PcpMode::Manual keeps its pcp pages off the
// buddy lists too, so the numbers compare like for like.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/replay/model_setup.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

// Acceptance thresholds of issue #5.
inline constexpr double kFreePagesTolerance = 0.01;
inline constexpr double kOrderTolerance = 0.05;
inline constexpr std::uint64_t kOrderMinBlocks = 100;
// Free page reporting takes up to PAGE_REPORTING_CAPACITY free blocks of at least
// page_reporting_order off the lists at a time, hands them to the host and puts them back,
// without an event (mm/page_reporting.c:page_reporting_cycle, include/linux/page_reporting.h):
// a snapshot taken meanwhile misses them. Blocks in flight at the end snapshot are free in the
// model and missing in the kernel's counts; blocks in flight at the start snapshot come back
// unseen, free in the kernel and not in the model. So at those orders the counts may differ by
// that many blocks either way, and the free pages by those blocks' pages.
inline constexpr std::uint64_t kPageReportingCapacity = 32;
// Pfn ranges that differ between the free maps, kept per zone for the report.
inline constexpr std::size_t kFreeMapDifferencesKept = 32;

struct OrderValidation {
  unsigned order = 0;
  std::uint64_t model_blocks = 0;
  std::uint64_t kernel_blocks = 0;
  double relative_error = 0;  // |model - kernel| / kernel (0 when both are 0)
  bool checked = false;       // kernel_blocks >= kOrderMinBlocks
  bool within = true;         // checked and within kOrderTolerance (true when not checked)
  bool page_reporting = false;  // within only by the blocks free page reporting may hold
};

// A pfn range free in one map only (model or kernel), for following its pages in the trace.
struct FreeMapDifference {
  std::uint64_t start_pfn = 0;
  std::uint64_t pages = 0;
  bool free_in_model = false;  // else free in the kernel only
};

struct ZoneValidation {
  int node = 0;
  std::string zone;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  double free_relative_error = 0;
  bool free_within = true;
  // Of model - kernel free pages, what the blocks free page reporting may hold explain.
  std::int64_t page_reporting_pages = 0;
  std::uint64_t model_pcp_pages = 0;
  std::uint64_t kernel_pcp_pages = 0;
  std::vector<OrderValidation> orders;
  bool orders_within = true;
  // Pageblocks by migratetype (the snapshot's /proc/pagetypeinfo), when the snapshot has them:
  // the highatomic reserve and claims change them with no event of their own.
  bool pageblocks_known = false;
  std::array<std::uint64_t, allocator::kMigrateTypes> model_pageblocks{};
  std::array<std::uint64_t, allocator::kMigrateTypes> kernel_pageblocks{};
  // Free pages in highatomic pageblocks (nr_free_highatomic), which every watermark check of a
  // request without ALLOC_RESERVES subtracts (__zone_watermark_unusable_free).
  std::uint64_t model_highatomic_free_pages = 0;
  std::uint64_t kernel_highatomic_free_pages = 0;
  // Page by page against the kpageflags free map (when the end snapshot has one).
  bool free_map = false;
  std::uint64_t free_both_pages = 0;
  std::uint64_t free_only_model_pages = 0;
  std::uint64_t free_only_kernel_pages = 0;
  std::uint64_t free_map_difference_ranges = 0;
  std::vector<FreeMapDifference> free_map_differences;  // the first kFreeMapDifferencesKept, by pfn
};

// The kernel's own counts over the recording (/proc/vmstat at the start and end snapshots)
// against the events the trace holds between the snapshots: movements no event shows.
// pgalloc_* counts what rmqueue_pcplist, rmqueue_buddy and alloc_pages_bulk hand out
// (mm/page_alloc.c); the bulk allocator emits no mm_page_alloc. pgfree counts every free.
struct KernelCounterCheck {
  bool available = false;
  std::uint64_t ns = 0;  // between the two reads of /proc/vmstat
  std::uint64_t kernel_allocated_pages = 0;
  std::uint64_t trace_allocated_pages = 0;
  std::uint64_t kernel_freed_pages = 0;
  std::uint64_t trace_freed_pages = 0;
  // Compaction over the same span (mm/compaction.c), which moves pages with no page event.
  std::uint64_t compact_stall = 0;
  std::uint64_t compact_success = 0;
  std::uint64_t compact_fail = 0;
  std::uint64_t compact_isolated = 0;  // pages isolated by the migration and free scanners
  // Direct reclaim over the same span (mm/vmscan.c:do_try_to_free_pages): passes, counted again
  // when one reclaim retries (so at least the trace's reclaims), and the LRU pages it freed
  // (the reclaims' nr_reclaimed adds the slab pages freed).
  std::uint64_t allocstall = 0;
  std::uint64_t pgsteal_direct = 0;
  // kswapd's balance_pgdat passes (pageoutrun): one per traced vmscan:mm_vmscan_kswapd_wake.
  std::uint64_t pageoutrun = 0;

  // Kernel - trace: pages with no event, negative where the trace holds more.
  [[nodiscard]] std::int64_t untraced_allocated_pages() const {
    return static_cast<std::int64_t>(kernel_allocated_pages) - static_cast<std::int64_t>(trace_allocated_pages);
  }
  [[nodiscard]] std::int64_t untraced_freed_pages() const {
    return static_cast<std::int64_t>(kernel_freed_pages) - static_cast<std::int64_t>(trace_freed_pages);
  }
};

struct Validation {
  bool available = false;
  std::string reason;  // why not available
  std::vector<ZoneValidation> zones;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  double free_relative_error = 0;
  bool free_within = false;     // |model - kernel - page_reporting_pages| within kFreePagesTolerance
  std::int64_t page_reporting_pages = 0;
  bool orders_within = false;
  bool passed = false;  // free_within && orders_within
  std::uint64_t free_map_pages_compared = 0;
  std::uint64_t free_both_pages = 0;
  std::uint64_t free_only_model_pages = 0;
  std::uint64_t free_only_kernel_pages = 0;
  // Mirror: the kernel's counts against the trace's. Simulate, which is not validated, fills it
  // too for the kernel's compaction beside the model's; its trace pages are not counted there.
  KernelCounterCheck kernel_counters;
};

// One keyframe's validation in a mirror replay: the error over time.
// One zone at a keyframe: where a total error comes from, and whether the per-CPU lists differ.
struct KeyframeZone {
  int node = 0;
  std::string zone;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  std::uint64_t model_pcp_pages = 0;
  std::uint64_t kernel_pcp_pages = 0;
  // Pages (buddy and per-CPU lists) the kernel held beyond what the recorded events since the
  // start explain: taken with no event of their own (RecordedLedger); negative, free pages no
  // event explains. None where the replay did not start from the start snapshot.
  std::optional<std::int64_t> taken_without_events;
};

struct KeyframeCheck {
  std::uint64_t ts_ns = 0;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  double free_relative_error = 0;
  double worst_order_error = 0;  // over the orders with >= kOrderMinBlocks kernel blocks
  std::string worst_order_zone;
  unsigned worst_order = 0;
  bool passed = false;           // as Validation::passed
  bool resynced = false;         // failed, and the model was reseeded from the keyframe's free-page map
  // Pages the model had wrong the same way at the keyframe before (with a map) and still at
  // this one: set as this keyframe's map has them (mirror).
  std::uint64_t corrected_pages = 0;
  // HighAtomic pageblocks over all zones, where the keyframe has the kernel's pagetypeinfo.
  bool highatomic_known = false;
  std::uint64_t model_highatomic_pageblocks = 0;
  std::uint64_t kernel_highatomic_pageblocks = 0;
  std::uint64_t model_highatomic_free_pages = 0;
  std::uint64_t kernel_highatomic_free_pages = 0;
  std::vector<KeyframeZone> zones;
};
KeyframeCheck keyframe_check(const Validation& v, std::uint64_t ts_ns);

// A zone's free pages in a snapshot: buddyinfo's blocks, else zoneinfo's NR_FREE_PAGES.
[[nodiscard]] std::uint64_t snapshot_free_pages(const traces::ZoneSnapshot& z);

// Available when both snapshots carry /proc/vmstat (traces from 1.3 on) and its counters rose.
KernelCounterCheck check_kernel_counters(const traces::Snapshot& start, const traces::Snapshot& end,
                                         std::uint64_t trace_allocated_pages, std::uint64_t trace_freed_pages);

Validation validate_end_state(const allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                              const traces::Snapshot& end);

// Every range where the model's free pages and a free-page map differ, zone by zone, by pfn.
std::vector<FreeMapDifference> free_map_differences(const allocator::Model& model, const ModelSetup& setup,
                                                    const traces::TraceHeader& header,
                                                    const std::vector<traces::FreeRun>& map);

// The model's free buddy blocks of one zone as sorted, merged [start, end) runs.
std::vector<std::pair<std::uint64_t, std::uint64_t>> model_free_runs(const allocator::Model& model, std::uint16_t zone);

}  // namespace labyrinth::replay
