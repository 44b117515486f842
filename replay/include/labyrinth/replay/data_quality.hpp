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
  F(batched_free_duplicates, Info, "mm_page_free_batched events (duplicates of mm_page_free, not counted twice)")

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
};

}  // namespace labyrinth::replay
