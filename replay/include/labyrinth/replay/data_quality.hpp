// Data-quality counters: every imperfection of a trace is counted with a severity and
// always shown, never fatal (after Perfetto's stats table).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace labyrinth::replay {

enum class Severity : std::uint8_t { Info, DataLoss, Error };
std::string_view to_string(Severity severity);

// F(name, severity, description)
#define LABY_DATA_QUALITY(F)                                                                                      \
  F(ringbuf_drops, DataLoss, "events the recorder could not put in its ring buffer")                             \
  F(recursion_misses, DataLoss, "events the kernel skipped because a BPF program already ran on that CPU")        \
  F(lost_events, DataLoss, "events the capture reported lost ([LOST n EVENTS], perf LOST records)")               \
  F(lines_skipped, DataLoss, "importer lines that could not be parsed")                                           \
  F(trace_incomplete, DataLoss, "the trace has no footer or is damaged: events after the damage are missing")    \
  F(free_of_unknown_page, Info, "frees of pages never seen allocated (allocated before recording or untraced)")  \
  F(free_order_mismatch, Error, "frees whose order differs from the allocation of that page")                    \
  F(double_alloc, Error, "allocations of a page the trace already had allocated (a free was lost)")              \
  F(out_of_order_events, Info, "events whose timestamp is earlier than the one before them")                      \
  F(batched_free_duplicates, Info, "mm_page_free_batched events (duplicates of mm_page_free, not counted twice)")  \
  F(late_events, DataLoss, "events too far out of timestamp order to be sorted; replayed where they came")        \
  F(trace_filtered, DataLoss, "the recording was filtered (by pid or minimum order): the model misses events")   \
  F(missing_attach_points, Info, "attach points the recorder went without (a tracepoint the kernel lacks, a program it refuses), each named with what it costs") \
  F(double_free, Info, "frees of pages the model already had free (compaction frees twice; untraced removals)")  \
  F(memcg_charge_failures, Info, "failures right after their own free on that CPU: a memcg charge failed")        \
  F(free_split_allocation, Info, "frees of part of an allocation (split_page, alloc_pages_exact, partial frees)") \
  F(carved_from_seed, Info, "allocations of pages the start snapshot had in use (on a pcp list, or freed untraced)") \
  F(alloc_range_resync, DataLoss, "allocations of a range the model had in several states; resynchronised")      \
  F(refill_from_seed, Info, "pcp refills of pages the start snapshot had in use (freed untraced)")               \
  F(refill_not_free, DataLoss, "pcp refills of pages the model did not have free; resynchronised")               \
  F(interrupt_free_to_buddy, Info, "interrupt-context frees that went straight to the buddy lists, the CPU's pcp list being locked (no event says so): shown by a refill or the end snapshot's free-page map") \
  F(drain_of_start_pcp_page, Info, "pcp drains of pages that were on a pcp list when the recording started")     \
  F(drain_not_on_pcp, Info, "pcp drains of pages the model had in the buddy lists (untraced steal or claim)")     \
  F(drain_of_allocated_page, DataLoss, "pcp drains of pages the model had allocated (a free was lost)")         \
  F(isolate_guessed, Info, "compaction fast isolations: the kernel reports the order, not the block; the model took the likeliest") \
  F(isolate_guess_corrected, Info, "guessed fast isolations a later free showed wrong (a page freed from a block the model had free): the guess given back, the freed page's block taken") \
  F(keyframe_resyncs, DataLoss, "keyframes the model failed, after which it was reseeded from their free-page map") \
  F(keyframe_map_unsteady, Info, "failed keyframes whose free-page map disagreed with their buddyinfo (memory moved during the scan): not used") \
  F(keyframe_corrections, DataLoss, "pages mirror had wrong the same way at two keyframes in a row (movements no event shows, not the milliseconds between a keyframe's reads): set as the later keyframe's free-page map has them") \
  F(isolate_mismatch, DataLoss, "compaction block scans taking other pages than the model had free in the range")  \
  F(failure_shows_blocks_gone, DataLoss, "free blocks the model had on the lists a failed request may use (the highatomic reserve for an atomic one) that its failure shows the kernel had not (it failed above the watermark by more than the counters' drift): taken as in use by an unseen owner") \
  F(highatomic_reserve_shown, Info, "takes from the highatomic list of (or pcp drains into) a pageblock the model had not reserved (reserve_highatomic_pageblock is not traced): reserved then") \
  F(highatomic_unreserve_shown, Info, "takes from another list of (or pcp drains naming another type into) a pageblock the model had reserved highatomic (unreserve_highatomic_pageblock, in direct reclaim, is not traced): unreserved then") \
  F(pageblock_change_refused, Info, "extfrag ownership changes the model could not apply (zone edge, type)")      \
  F(free_of_unmapped_page, Info, "simulate: frees of pages the model never handed out and no longer holds")      \
  F(outside_zones, DataLoss, "events of pfns outside every recorded zone (hotplugged memory?)")                    \
  F(invalid_events, Error, "events the model rejects: order above max_order, misaligned pfn, unknown CPU")

enum class DataQuality : std::uint8_t {
#define LABY_DQ_ENUM(name, severity, description) name,
  LABY_DATA_QUALITY(LABY_DQ_ENUM)
#undef LABY_DQ_ENUM
      kCount
};
inline constexpr std::size_t kDataQualityCount = static_cast<std::size_t>(DataQuality::kCount);

struct DataQualityInfo {
  std::string_view name;
  Severity severity;
  std::string_view description;
};
const DataQualityInfo& info(DataQuality counter);

struct DataQualityCounters {
  std::array<std::uint64_t, kDataQualityCount> values{};
  void add(DataQuality counter, std::uint64_t n = 1) { values[static_cast<std::size_t>(counter)] += n; }
  [[nodiscard]] std::uint64_t get(DataQuality counter) const { return values[static_cast<std::size_t>(counter)]; }
  // True when any data-loss or error counter is non-zero: results must say so.
  [[nodiscard]] bool lossy() const;
  // The sum of the data-loss and error counters.
  [[nodiscard]] std::uint64_t losses() const;
};

}  // namespace labyrinth::replay
