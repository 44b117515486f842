// Keeps the BPF ring buffer drained: polls it, and every `sync_every` (100 ms by default)
// pushes the per-CPU batches out to the sink in time order. A write error of the sink stops
// the pumping and is kept.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/ebpf/collector.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "snapshot_task.hpp"

namespace labyrinth::ebpf {

class CollectorPump {
 public:
  CollectorPump(Collector& collector, CollectedEventSink& sink,
                std::chrono::milliseconds sync_every = std::chrono::milliseconds(100))
      : collector_(collector), sink_(sink), sync_every_(sync_every) {}

  void consume(int timeout_ms) {
    if (write_error_) return;
    collector_.poll(timeout_ms);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_sync_ < sync_every_) return;
    last_sync_ = now;
    sync();
  }
  // Everything collected so far, now.
  void sync() {
    try {
      collector_.sync(sink_);
    } catch (const traces::TraceError& e) {
      write_error_ = e.what();
    }
  }
  // A snapshot on a worker thread while the ring buffer is kept drained.
  traces::Snapshot snapshot(const std::vector<traces::ZoneInfo>& zones, SnapshotOptions options,
                            RecordObserver& observer) {
    SnapshotTask task(zones, options);
    while (!task.done()) consume(20);
    return task.take(observer);
  }

  void fail(std::string message) { write_error_ = std::move(message); }
  [[nodiscard]] const std::optional<std::string>& write_error() const { return write_error_; }

 private:
  Collector& collector_;
  CollectedEventSink& sink_;
  std::chrono::milliseconds sync_every_;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::optional<std::string> write_error_;
};

}  // namespace labyrinth::ebpf
