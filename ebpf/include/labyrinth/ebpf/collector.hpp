// The BPF side of record: loads page_recorder.bpf.o (CO-RE), attaches one tracepoint
// program per wanted event kind, and hands the ring buffer's records out as PageEvents.
// No libbpf type crosses this header.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::ebpf {

struct CollectorConfig {
  std::vector<traces::EventKind> kinds;       // tracepoints to attach
  std::uint32_t ring_bytes = 32u << 20;       // power of two, >= page size
  std::uint32_t wakeup_bytes = 256u << 10;    // wake the consumer at this much unread data; 0 = per record
  std::uint32_t target_tgid = 0;              // 0 = every process
  std::uint32_t min_order = 0;
  bool stacks = false;                        // kernel call stacks (-g)
  std::uint32_t stack_entries = 16384;        // distinct stacks kept
  bool comm = true;                           // thread names
  bool task_rename = true;                    // follow renames (exec, prctl)
  std::optional<std::int64_t> preempt_delta;  // from KernelBtf::locate_preempt_count()
  // libbpf's messages: level 0 warning, 1 info, 2 debug.
  std::function<void(int level, std::string_view message)> log;
};

struct CollectorCounters {
  std::array<std::uint64_t, traces::kEventKindCount> seen{};  // passed the filters, per kind
  std::uint64_t drops = 0;             // events lost to a full ring buffer
  std::uint64_t comm_drops = 0;        // thread names lost to a full ring buffer
  std::uint64_t stack_errors = 0;      // events recorded without their stack
  std::uint64_t recursion_misses = 0;  // program runs the kernel skipped (bpf_prog_active)
  [[nodiscard]] std::uint64_t seen_total() const;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const traces::PageEvent& event) = 0;
  // A thread's name; tgid 0 when unknown.
  virtual void on_comm(std::uint32_t tid, std::uint32_t tgid, std::string_view comm) = 0;
};

class Collector {
 public:
  // Opens and loads the BPF object. Throws RecordError.
  explicit Collector(CollectorConfig config);
  ~Collector();  // detaches and unloads
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  void attach();  // throws RecordError
  void detach();  // no new events after this; the ring keeps what it has

  // Waits up to timeout_ms for the wake-up threshold, then consumes everything available
  // (also below the threshold). Returns the records consumed; 0 on timeout or signal.
  int poll(int timeout_ms, EventSink& sink);
  // Consumes everything available now.
  int drain(EventSink& sink);

  [[nodiscard]] CollectorCounters counters() const;
  // The kernel frames (innermost first) of a stack id as found in PageEvent::stack_id.
  [[nodiscard]] bool stack(std::uint32_t stack_id, std::vector<std::uint64_t>& addresses) const;
  [[nodiscard]] const std::vector<traces::EventKind>& attached_kinds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::ebpf
