// What the recorded events alone say each zone's free pages (buddy lists and per-CPU lists)
// should be, for comparison with a keyframe's own count: the difference is what the kernel
// moved with no event at all.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "labyrinth/replay/model_setup.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay::detail {

// The start snapshot's free pages per zone, less what the recording allocated and what
// compaction's free scanner took, plus what it freed and gave back, plus what the zone grew by
// (deferred init, hotplug: free pages with no event). Set against a keyframe, what is left are
// pages taken with no event of their own: alloc_pages_bulk hands out pages from the per-CPU
// lists without mm_page_alloc (page pools, vmalloc), compaction's free scanner holds pages
// between its isolation and their frees, and a compaction capture takes a freed block before it
// reaches the lists. No model can know these pages; they bound how close any model's count
// gets.
class RecordedLedger {
 public:
  RecordedLedger(const traces::TraceHeader& header, const ModelSetup& setup, const traces::Snapshot& start);

  void add(std::span<const traces::PageEvent> events);

  // Pages of model zone `zone` the kernel held at the keyframe beyond what the recorded events
  // explain (negative: free pages no event explains); none where the start snapshot or the
  // keyframe lacks the zone.
  [[nodiscard]] std::optional<std::int64_t> taken_without_events(const traces::Snapshot& keyframe,
                                                                 std::uint16_t zone) const;

 private:
  struct Zone {
    std::uint64_t start_pfn = 0;
    std::uint64_t end_pfn = 0;
    bool known = false;             // the start snapshot has it
    std::int64_t start_pages = 0;   // free + per-CPU list pages at the start
    std::uint64_t start_managed = 0;
    std::int64_t net = 0;           // recorded frees and give-backs less allocations and takes
  };
  [[nodiscard]] Zone* zone_of(std::uint64_t pfn);

  const traces::TraceHeader& header_;
  const ModelSetup& setup_;
  std::vector<Zone> zones_;  // by model zone
  unsigned max_order_ = 10;
  // The trace has the very blocks compaction isolates (format 1.2 fentry programs): the
  // scanners' summaries that follow them add nothing.
  bool exact_blocks_ = false;
};

}  // namespace labyrinth::replay::detail
