// Failure forensics: for every failed allocation (real in mirror, predicted in simulate),
// why it failed and what the zone looked like at that instant, plus tallies by class, cause,
// order, GFP, context, process and call site. The list keeps the first `max_records`
// failures (0 = all); the tallies always cover every failure.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/allocator/results.hpp"
#include "labyrinth/replay/failure_class.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {
class TraceReader;
struct TraceHeader;
}  // namespace labyrinth::traces

namespace labyrinth::replay {

enum class FailureCause : std::uint8_t {
  Watermark,        // too few free pages above the request's effective min watermark
  Fragmentation,    // enough free pages, no free block of the order on a list it may use
  Reserve,          // what is left is highatomic or CMA memory the request may not use
  MemcgCharge,      // the page was found, the memory cgroup charge failed (not the allocator)
  ZoneUnavailable,  // no zone the request may use
  Unexplained,      // mirror: the model would have served it (lost events, pcp drift, races)
};
inline constexpr int kFailureCauseCount = 6;
std::string_view to_string(FailureCause cause);
FailureCause cause_of(allocator::AllocFailure failure);

// The zone's state for a request at one instant (check_request + metrics).
struct ZoneState {
  std::optional<std::uint16_t> zone;  // model zone, none when no zone is usable
  std::int64_t free_pages = 0;        // NR_FREE_PAGES (buddy)
  std::int64_t unusable_pages = 0;    // highatomic/CMA the request may not use, + 2^order - 1
  std::int64_t watermark_pages = 0;   // the mark tested (min + boost)
  std::int64_t effective_min_pages = 0;  // after reserve reductions, + lowmem_reserve
  bool block_available = false;
  std::uint8_t block_lists = 0;  // WatermarkCheck::block_lists: the lists an order > 0 request may take from
  bool reserves_usable = false;  // ALLOC_RESERVES: the highatomic pages are not in unusable_pages
  bool slow_ok = false;  // the slow-path check passes in some zone
  unsigned slow_zones_ok = 0;  // in how many
  int largest_free_order = -1;
  int unusable_index = 0;       // x1000, at the request's order
  int fragmentation_index = 0;  // x1000, at the request's order
  std::uint64_t pcp_pages = 0;
  std::uint64_t reserve_blocks_at_order = 0;  // highatomic + CMA blocks of order >= request
  std::uint64_t other_blocks_at_order = 0;    // blocks of order >= request on the other lists
  std::uint64_t highatomic_free_pages = 0;    // nr_free_highatomic
  std::uint64_t boost_pages = 0;              // the model's watermark boost (in watermark_pages)
  // Usable free pages above the effective min: the check passes above 0 (__zone_watermark_ok's
  // free_pages > min + lowmem_reserve); 1 - margin pages short below.
  [[nodiscard]] std::int64_t margin_pages() const { return free_pages - unusable_pages - effective_min_pages; }
};

// What the allocator reads from the allocating task, from the event: its context and the
// task state the recorder read (trace format 1.4; a plain task where the trace does not say).
allocator::TaskContext task_context(const traces::PageEvent& e);

// Inspects the model for a request; cause is derived like the allocator's own classification.
ZoneState inspect_request(const allocator::Model& model, std::uint64_t gfp, unsigned order, unsigned cpu,
                          const allocator::TaskContext& task = {});
// One zone's check as a ZoneState (slow_ok and slow_zones_ok left unset).
ZoneState zone_state_of(const allocator::Model& model, const allocator::WatermarkCheck& check, unsigned order);
FailureCause cause_from_state(const ZoneState& state, unsigned order);

// How far the kernel's NR_FREE_PAGES may lag the true count, in pages: every CPU may hold up
// to the zone's stat threshold uncommitted, and the allocator's watermark check reads the
// lagging counter (zone_page_state in zone_watermark_fast). The threshold is
// mm/vmstat.c:calculate_normal_threshold, or calculate_pressure_threshold ((low - min) / CPUs,
// at most 125) while kswapd is awake (mm/vmscan.c:kswapd_try_to_sleep): on a large zone with
// few CPUs the latter is the larger, and the trace does not say when kswapd slept, so the
// larger is the bound. The model counts exactly.
std::int64_t vmstat_drift_pages(std::uint64_t managed_pages, std::uint64_t low_minus_min, unsigned nr_cpus,
                                unsigned page_shift);

// The same check made with the kernel's own counters of the zone, read by the recorder at the
// failure (traces::ZoneCounters, format 1.7), with the model's watermarks and the request's
// reductions: what the kernel's __zone_watermark_ok saw, up to the moments between its check
// and the tracepoint.
struct KernelCheck {
  traces::ZoneCounters counters;
  std::int64_t margin_pages = 0;     // the kernel's usable free pages above the effective min
  bool block_available = true;       // order > 0: a block of the order on a list the request may use
  std::optional<FailureCause> cause;  // what fails by the kernel's counters; nullopt: they pass
  std::int64_t model_free_error = 0;  // the model's free pages minus the kernel's count
  // With the per-CPU diffs (format 1.9): the same margin and error on the zone's exact count.
  std::optional<std::int64_t> exact_margin_pages;
  std::optional<std::int64_t> model_exact_free_error;
  // The counter fails this zone's watermark and the exact count passes it, with a block of the
  // order there: in this zone the counter's lag alone failed the check.
  [[nodiscard]] bool exact_count_passes() const {
    return exact_margin_pages && margin_pages <= 0 && *exact_margin_pages > 0 && block_available;
  }
};
KernelCheck check_with_kernel_counters(const ZoneState& model, unsigned order, const traces::ZoneCounters& kernel);

struct FailureRecord {
  std::uint64_t ts_ns = 0;
  std::uint16_t cpu = 0;
  std::uint32_t pid = 0;
  std::uint32_t comm_id = 0;
  std::uint32_t stack_id = 0;
  traces::ExecContext context = traces::ExecContext::Unknown;
  std::uint8_t task_state = 0;  // traces::kTask* bits of the request (format 1.4)
  unsigned order = 0;
  std::uint64_t gfp = 0;
  int migratetype = -1;  // as recorded
  FailureClass cls = FailureClass::Other;
  FailureCause cause = FailureCause::Watermark;
  bool kernel_failed = true;  // simulate: what the recording says
  bool model_served = false;  // simulate: the kernel's failure the model served (ReplayResult::missed)
  ZoneState state;
  // The kernel's own counters of state.zone at the failure, where the trace has them; the cause
  // is then theirs when they fail the request, and model_cause what the model's state said.
  std::optional<KernelCheck> kernel;
  std::optional<FailureCause> model_cause;
  // The kernel failed it on the counter's lag alone (Engine::kernel_lag_alone; format 1.9).
  bool kernel_lag_alone = false;
  // Why the cause was decided against the model's numbers (a watermark failure inside the
  // kernel's counter drift), or, for an unexplained one, what evidence is missing.
  std::string evidence;
};

struct Tallies {
  std::uint64_t failures = 0;
  std::uint64_t failed_pages = 0;
};

// The failures that carry the kernel's own counters (FailureRecord::kernel): how often the
// model's state agreed, and how far its count was from theirs.
struct KernelCounterTally {
  std::uint64_t failures = 0;
  std::uint64_t model_cause_differed = 0;  // mirror took theirs
  std::vector<std::uint64_t> free_errors;  // |model free pages - their count|, one per failure
  // Of those whose per-CPU diffs were read (format 1.9): how many the counter's lag alone
  // failed (Engine::kernel_lag_alone), and |model free pages - the exact count|.
  std::uint64_t with_diffs = 0;
  std::uint64_t lag_only = 0;
  std::vector<std::uint64_t> exact_free_errors;
  // By what failed the request on their counters and free lists (KernelCheck::cause; the last
  // row: their check passes), the kernel's failures and, in simulate, how many the model served.
  // A reserve or fragmentation failure the model served is a block of the order the model held
  // free where the kernel had none it could use: its layout, not its watermark, parted.
  struct TheirCause {
    std::uint64_t failures = 0;
    std::uint64_t model_served = 0;
  };
  static constexpr std::size_t kTheyPass = kFailureCauseCount;
  std::array<TheirCause, kFailureCauseCount + 1> by_their_cause{};
  // Read after the check, they pass it.
  [[nodiscard]] std::uint64_t their_check_passes() const { return by_their_cause[kTheyPass].failures; }
  void add(const KernelCheck& k, bool lag_alone, bool model_served = false);
  [[nodiscard]] std::uint64_t free_error_quantile(double q) const { return quantile(free_errors, q); }
  [[nodiscard]] std::uint64_t exact_free_error_quantile(double q) const { return quantile(exact_free_errors, q); }

 private:
  static std::uint64_t quantile(std::vector<std::uint64_t> values, double q);
};

class FailureLog {
 public:
  explicit FailureLog(std::size_t max_records = 10000) : max_records_(max_records) {}
  // Called with every failure added, kept or not.
  void set_observer(std::function<void(const FailureRecord&)> observer) { observer_ = std::move(observer); }
  void add(const FailureRecord& record);
  // Adds `text` to the evidence of every kept failure of that cause (what is known only later).
  void append_evidence(FailureCause cause, std::string_view text);

  [[nodiscard]] std::uint64_t total() const { return total_; }
  [[nodiscard]] const std::vector<FailureRecord>& records() const { return records_; }
  [[nodiscard]] std::uint64_t omitted() const { return total_ - records_.size(); }
  // The next failure added will be counted, not kept.
  [[nodiscard]] bool full() const { return max_records_ != 0 && records_.size() >= max_records_; }
  [[nodiscard]] const std::array<std::array<std::uint64_t, kFailureCauseCount>, kFailureClassCount>& by_class_cause() const {
    return class_cause_;
  }
  [[nodiscard]] std::uint64_t by_class(FailureClass c) const;
  [[nodiscard]] std::uint64_t by_cause(FailureCause c) const;
  [[nodiscard]] const std::map<unsigned, Tallies>& by_order() const { return order_; }
  [[nodiscard]] const std::unordered_map<std::uint64_t, Tallies>& by_gfp() const { return gfp_; }
  [[nodiscard]] const std::array<Tallies, traces::kExecContextCount>& by_context() const { return context_; }
  [[nodiscard]] const std::unordered_map<std::uint64_t, Tallies>& by_process() const { return process_; }  // pid<<32|comm
  [[nodiscard]] const std::unordered_map<std::uint32_t, Tallies>& by_stack() const { return stack_; }
  [[nodiscard]] const KernelCounterTally& kernel_counters() const { return kernel_; }

 private:
  std::size_t max_records_;
  std::function<void(const FailureRecord&)> observer_;
  std::uint64_t total_ = 0;
  std::vector<FailureRecord> records_;
  std::array<std::array<std::uint64_t, kFailureCauseCount>, kFailureClassCount> class_cause_{};
  std::map<unsigned, Tallies> order_;
  std::unordered_map<std::uint64_t, Tallies> gfp_;
  std::array<Tallies, traces::kExecContextCount> context_{};
  std::unordered_map<std::uint64_t, Tallies> process_;
  std::unordered_map<std::uint32_t, Tallies> stack_;
  KernelCounterTally kernel_;
};

}  // namespace labyrinth::replay
