// The kernel's own zone counters at failed allocations (traces::EventKind::ZoneCounters,
// format 1.7), kept from their block until the replay meets the failure they were read at
// (same timestamp and CPU). Not a public header.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::replay::detail {

class KernelCounterLog {
 public:
  void add(const std::vector<traces::PageEvent>& events) {
    for (const traces::PageEvent& e : events) {
      if (e.zone_counters()) by_failure_[{e.ts_ns, e.cpu}].push_back(traces::zone_counters_of(e));
    }
  }
  // The counters read at the failure at (ts_ns, cpu), left in the log; nullptr if none.
  [[nodiscard]] const std::vector<traces::ZoneCounters>* find(std::uint64_t ts_ns, std::uint16_t cpu) const {
    const auto it = by_failure_.find({ts_ns, cpu});
    return it == by_failure_.end() ? nullptr : &it->second;
  }
  // The counters read at the failure at (ts_ns, cpu), taken out of the log; empty if none.
  std::vector<traces::ZoneCounters> take(std::uint64_t ts_ns, std::uint16_t cpu) {
    const auto it = by_failure_.find({ts_ns, cpu});
    if (it == by_failure_.end()) return {};
    std::vector<traces::ZoneCounters> out = std::move(it->second);
    by_failure_.erase(it);
    return out;
  }

 private:
  std::map<std::pair<std::uint64_t, std::uint16_t>, std::vector<traces::ZoneCounters>> by_failure_;
};

}  // namespace labyrinth::replay::detail
