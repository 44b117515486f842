// Direct reclaim stalls: the vmscan:mm_vmscan_direct_reclaim_begin/_end pairs of a trace,
// matched by thread, summed per process (what drsnoop prints one line each for).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {
class TraceReader;
}

namespace labyrinth::replay {

struct ReclaimTally {
  std::uint64_t stalls = 0;           // begin and end both seen
  std::uint64_t reclaimed_pages = 0;  // nr_reclaimed summed over those
  std::uint64_t stall_ns = 0;
  std::uint64_t longest_ns = 0;
  std::uint64_t fruitless = 0;        // stalls that reclaimed nothing
};

struct ReclaimRow {
  std::uint32_t pid = 0;
  std::string comm;
  ReclaimTally tally;
};

// Stall lengths in powers of two of microseconds: bucket k holds [2^k, 2^(k+1)) us, bucket 0
// also everything under 1 us.
inline constexpr std::size_t kReclaimBuckets = 24;

struct DirectReclaimSummary {
  bool recorded = false;  // the trace could hold these events (recorded, or seen in an import)
  ReclaimTally total;
  std::uint64_t begun_before = 0;  // ends whose begin came before the trace started
  std::uint64_t unfinished = 0;    // begins without an end when the trace stopped
  std::array<std::uint64_t, kReclaimBuckets> histogram{};
  std::vector<ReclaimRow> by_process;  // most stall time first
};

// True when `header` says the recorder attached to both direct-reclaim tracepoints.
bool direct_reclaim_recorded(const traces::TraceHeader& header);

class DirectReclaimStats {
 public:
  // Reclaim events; needs their thread ids (the tid column decoded).
  void add(const traces::PageEvent& event);
  [[nodiscard]] DirectReclaimSummary finish(const traces::TraceHeader& header, const traces::TraceReader& reader,
                                            std::size_t top_n) const;

 private:
  std::unordered_map<std::uint32_t, std::uint64_t> began_;  // the open reclaims' begins, by tid
  std::unordered_map<std::uint64_t, ReclaimTally> by_process_;  // pid << 32 | comm_id
  ReclaimTally total_;
  std::uint64_t begun_before_ = 0;
  std::uint64_t seen_ = 0;
  std::array<std::uint64_t, kReclaimBuckets> histogram_{};
};

}  // namespace labyrinth::replay
