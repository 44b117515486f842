// Where collected events go during `labyrinth record`: process names and kernel stacks are
// resolved once and interned, then each event is appended to the target (a trace file, or
// the flight recorder's ring).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "event_target.hpp"
#include "labyrinth/ebpf/collector.hpp"

namespace labyrinth::ebpf {

class KernelSymbols;

class TraceSink final : public CollectedEventSink {
 public:
  TraceSink(EventTarget& target, const Collector& collector, const KernelSymbols* symbols)
      : target_(target), collector_(collector), symbols_(symbols) {}

  // While the start snapshot is taken the writer must not see events yet: keep them.
  void set_buffering(bool on) { buffering_ = on; }
  void replay_buffered();

  void on_event(const traces::PageEvent& in) override;
  void on_comm(std::uint32_t tid, std::uint32_t tgid, std::string_view comm) override;

  // Writes the pending chunk if events came since the last flush.
  void flush_if_due();

  [[nodiscard]] std::uint64_t events() const { return events_; }
  [[nodiscard]] std::uint64_t first_ts() const { return first_ts_; }
  [[nodiscard]] std::uint64_t last_ts() const { return last_ts_; }
  [[nodiscard]] const std::array<std::uint64_t, traces::kEventKindCount>& by_kind() const { return by_kind_; }
  [[nodiscard]] std::uint64_t comms() const { return comm_ids_.size(); }
  [[nodiscard]] std::uint64_t stacks() const { return defined_stacks_.size(); }
  [[nodiscard]] std::uint64_t stacks_lost() const { return stacks_lost_; }

 private:
  struct PendingComm {
    std::uint32_t tid;
    std::uint32_t tgid;
    std::string comm;
  };

  std::uint32_t intern(std::string_view comm);
  std::uint32_t comm_of(std::uint32_t tid, std::uint32_t tgid);
  std::uint32_t lookup_comm(std::uint32_t tid, std::uint32_t tgid);
  void define_stack(std::uint32_t id);

  EventTarget& target_;
  const Collector& collector_;
  const KernelSymbols* symbols_;
  static constexpr std::uint32_t kNoCache = ~std::uint32_t{0};
  std::uint32_t last_tid_ = 0;           // a one-entry cache in front of tid_comm_
  std::uint32_t last_comm_ = kNoCache;
  bool buffering_ = false;
  std::vector<std::variant<traces::PageEvent, PendingComm>> buffered_;
  std::unordered_map<std::uint32_t, std::uint32_t> tid_comm_;
  std::unordered_map<std::string, std::uint32_t> comm_ids_;
  std::unordered_set<std::uint32_t> defined_stacks_;
  std::uint64_t stacks_lost_ = 0;
  std::uint64_t events_ = 0;
  std::array<std::uint64_t, traces::kEventKindCount> by_kind_{};
  std::uint64_t first_ts_ = 0, last_ts_ = 0;
  bool since_flush_ = false;
};

}  // namespace labyrinth::ebpf
