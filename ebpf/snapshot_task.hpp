// Takes a snapshot on a worker thread while the caller keeps the ring buffer drained: a
// free-page map scan takes longer than the ring buffer can hold events.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "labyrinth/ebpf/system_snapshot.hpp"

namespace labyrinth::ebpf {

class RecordObserver;

class SnapshotTask {
 public:
  SnapshotTask(std::vector<traces::ZoneInfo> zones, SnapshotOptions options);
  ~SnapshotTask();
  SnapshotTask(const SnapshotTask&) = delete;
  SnapshotTask& operator=(const SnapshotTask&) = delete;

  [[nodiscard]] bool done() const { return done_.load(std::memory_order_acquire); }
  // Waits for the thread; its warnings go to the observer. A failed snapshot is not present.
  traces::Snapshot take(RecordObserver& observer);

 private:
  std::vector<traces::ZoneInfo> zones_;
  SnapshotOptions options_;
  traces::Snapshot snapshot_;
  std::vector<std::string> warnings_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace labyrinth::ebpf
