// The fragmentation timeline: every `interval_ns` of trace time, per zone, the free blocks per
// order, the unusable-free and fragmentation indices per order (x1000, mm/vmstat.c), the largest
// free order, mixed pageblocks, the highatomic reserve and its free pages, pages on per-CPU lists, the watermarks and boost, and the atomic allocations and
// failures of the interval. Rows stream to a CSV sink as they are taken (constant memory);
// the copy kept for the JSON report holds at most `max_points` samples per zone: when it
// would hold more, neighbouring samples are merged (counts summed, state of the later one)
// and the kept interval doubles.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::replay {

struct TimelineSample {
  std::uint64_t ts_ns = 0;    // end of the interval
  std::uint64_t span_ns = 0;  // length of the interval(s) it covers
  std::uint64_t free_pages = 0;
  std::uint64_t pcp_pages = 0;
  int largest_free_order = -1;
  std::uint64_t mixed_pageblocks = 0;
  // The highatomic reserve (nr_reserved_highatomic) and its free pages, which requests without
  // ALLOC_RESERVES may not use: where a non-__GFP_HIGH high-order failure comes from.
  std::uint64_t highatomic_reserved_pages = 0;
  std::uint64_t highatomic_free_pages = 0;
  std::uint64_t min_pages = 0, low_pages = 0, high_pages = 0, boost_pages = 0;  // watermarks in force
  std::uint64_t atomic_allocations = 0;
  std::uint64_t atomic_failures = 0;
  std::array<std::uint64_t, allocator::kOrderSlots> nr_free{};
  std::array<int, allocator::kOrderSlots> unusable_index{};
  std::array<int, allocator::kOrderSlots> fragmentation_index{};
};

struct TimelineZone {
  int node = 0;
  std::string zone;
  std::vector<TimelineSample> samples;
};

class Timeline {
 public:
  // zones: labels of the model's zones, in model order. csv may be null.
  Timeline(std::uint64_t interval_ns, std::size_t max_points, std::vector<TimelineZone> zones, unsigned orders,
           std::FILE* csv);

  void start(std::uint64_t t0_ns);
  [[nodiscard]] bool started() const { return started_; }
  // True when an event at ts_ns lies past the current interval: call sample_until first.
  [[nodiscard]] bool due(std::uint64_t ts_ns) const { return ts_ns >= next_; }
  // Takes a sample at every interval boundary <= ts_ns, from the model's current state.
  void sample_until(std::uint64_t ts_ns, const allocator::Model& model);
  void count_atomic(std::uint16_t zone, bool failed) {
    if (zone < pending_.size()) ++(failed ? pending_[zone].atomic_failures : pending_[zone].atomic_allocations);
  }
  // Closes the last (partial) interval at end_ns.
  void finish(std::uint64_t end_ns, const allocator::Model& model);

  [[nodiscard]] std::uint64_t interval_ns() const { return interval_; }
  [[nodiscard]] std::uint64_t kept_interval_ns() const { return interval_ * factor_; }
  [[nodiscard]] std::uint64_t samples_taken() const { return taken_; }
  [[nodiscard]] const std::vector<TimelineZone>& zones() const { return zones_; }
  [[nodiscard]] unsigned orders() const { return orders_; }

  static void write_csv_header(std::FILE* out, unsigned orders);

 private:
  void take(std::uint64_t ts_ns, std::uint64_t span_ns, const allocator::Model& model);
  void keep(std::size_t zone, const TimelineSample& sample);
  void compact_if_full();

  std::uint64_t interval_;
  std::size_t max_points_;
  std::vector<TimelineZone> zones_;
  unsigned orders_;
  std::FILE* csv_;
  bool started_ = false;
  static constexpr std::uint64_t kEndOfTime = ~std::uint64_t{0};
  std::uint64_t last_ = 0;
  std::uint64_t next_ = ~std::uint64_t{0};
  std::uint64_t taken_ = 0;
  std::uint64_t factor_ = 1;
  std::vector<TimelineSample> pending_;  // counts of the open interval, per zone
  std::vector<TimelineSample> acc_;      // merged samples not yet kept, per zone
  std::vector<std::uint64_t> acc_n_;
};

}  // namespace labyrinth::replay
