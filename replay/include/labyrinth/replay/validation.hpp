// End-state validation of a mirror replay: the model's reconstructed buddy state against the
// kernel's recorded end snapshot, per zone and order (/proc/buddyinfo), in free pages
// (NR_FREE_PAGES) and page by page against the /proc/kpageflags free map. The kernel's pcp
// pages are in none of these, and the model in PcpMode::Manual keeps its pcp pages off the
// buddy lists too, so the numbers compare like for like.
#pragma once

#include <cstdint>
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

struct OrderValidation {
  unsigned order = 0;
  std::uint64_t model_blocks = 0;
  std::uint64_t kernel_blocks = 0;
  double relative_error = 0;  // |model - kernel| / kernel (0 when both are 0)
  bool checked = false;       // kernel_blocks >= kOrderMinBlocks
  bool within = true;         // checked and within kOrderTolerance (true when not checked)
};

struct ZoneValidation {
  int node = 0;
  std::string zone;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  double free_relative_error = 0;
  bool free_within = true;
  std::uint64_t model_pcp_pages = 0;
  std::uint64_t kernel_pcp_pages = 0;
  std::vector<OrderValidation> orders;
  bool orders_within = true;
  // Page by page against the kpageflags free map (when the end snapshot has one).
  bool free_map = false;
  std::uint64_t free_both_pages = 0;
  std::uint64_t free_only_model_pages = 0;
  std::uint64_t free_only_kernel_pages = 0;
};

struct Validation {
  bool available = false;
  std::string reason;  // why not available
  std::vector<ZoneValidation> zones;
  std::uint64_t model_free_pages = 0;
  std::uint64_t kernel_free_pages = 0;
  double free_relative_error = 0;
  bool free_within = false;
  bool orders_within = false;
  bool passed = false;  // free_within && orders_within
  std::uint64_t free_map_pages_compared = 0;
  std::uint64_t free_both_pages = 0;
  std::uint64_t free_only_model_pages = 0;
  std::uint64_t free_only_kernel_pages = 0;
};

// One keyframe's validation in a mirror replay: the error over time.
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
};
KeyframeCheck keyframe_check(const Validation& v, std::uint64_t ts_ns);

Validation validate_end_state(const allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                              const traces::Snapshot& end);

// The model's free buddy blocks of one zone as sorted, merged [start, end) runs.
std::vector<std::pair<std::uint64_t, std::uint64_t>> model_free_runs(const allocator::Model& model, std::uint16_t zone);

}  // namespace labyrinth::replay
