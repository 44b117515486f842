// Internal to laby_replay: the kernel's kswapd passes, from the recorded
// vmscan:mm_vmscan_kswapd_wake and vmscan:mm_vmscan_kswapd_sleep (trace format 1.8).
#pragma once

#include <cstdint>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::replay::detail {

// mm/vmscan.c:kswapd traces a wake before each balance_pgdat pass and loops without sleeping
// while the node stays unbalanced, so a pass ends where the next one starts or where kswapd
// goes to sleep. At its end balance_pgdat takes off each zone's watermark_boost the boost it
// found at its start (zone_boosts[]); boosts raised during the pass stay for the next one. The
// wake's highest zone is not kept: every zone of the node counts as balanced by the pass.
class KswapdPasses {
 public:
  // A pass starts on `node`; the one before it, if any, ended.
  void wake(allocator::Model& model, int node);
  // kswapd of `node` sleeps: its pass, if any, ended.
  void sleep(allocator::Model& model, int node);

 private:
  void end_pass(allocator::Model& model, int node);
  std::vector<std::uint64_t> start_boost_;  // per zone: its boost when the running pass began
  std::vector<bool> running_;               // per node
};

// The node a KswapdWake or KswapdSleep names; -1 for one no machine has (a damaged trace).
[[nodiscard]] inline int kswapd_node(const traces::PageEvent& e) {
  return e.gfp < 1024 ? static_cast<int>(e.gfp) : -1;
}

}  // namespace labyrinth::replay::detail
