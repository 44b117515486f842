#include "snapshot_task.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <exception>

#include "labyrinth/ebpf/record_session.hpp"

namespace labyrinth::ebpf {

SnapshotTask::SnapshotTask(std::vector<traces::ZoneInfo> zones, SnapshotOptions options)
    : zones_(std::move(zones)), options_(options) {
  // A real-time reader's threads start in the normal class at niceness 0 (SCHED_RESET_ON_FORK):
  // the scan takes the reader's niceness back.
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  thread_ = std::thread([this, nice] {
    if (nice < 0 && ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) != nice) {
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice);
    }
    try {
      snapshot_ = take_snapshot(zones_, options_, &warnings_);
    } catch (const std::exception& e) {
      warnings_.push_back(std::string("no snapshot: ") + e.what());
      snapshot_ = traces::Snapshot{};
    }
    done_.store(true, std::memory_order_release);
  });
}

SnapshotTask::~SnapshotTask() {
  if (thread_.joinable()) thread_.join();
}

traces::Snapshot SnapshotTask::take(RecordObserver& observer) {
  thread_.join();
  for (const auto& w : warnings_) observer.warning(w);
  return std::move(snapshot_);
}

}  // namespace labyrinth::ebpf
