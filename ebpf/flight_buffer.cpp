#include "flight_buffer.hpp"

namespace labyrinth::ebpf {

std::uint32_t FlightBuffer::intern_comm(std::string_view comm) {
  if (comm.empty()) return traces::kUnknownComm;
  const std::string key(comm);
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(names_.size());
  names_.push_back(key);
  ids_.emplace(key, id);
  return id;
}

void FlightBuffer::define_stack(std::uint32_t stack_id, std::vector<std::string> frames) {
  stacks_[stack_id] = std::move(frames);
}

void FlightBuffer::flush() {
  if (pending_.empty()) return;
  // Side blocks before their events block, as a recording writes them (a dump keeps the
  // ring's order).
  if (encoder_.split_zone_counters(pending_, block_, diffs_block_)) {
    if (!ring_.push(block_, false, drops_)) ++too_large_;
    if (diffs_block_.meta.count != 0 && !ring_.push(diffs_block_, false, drops_)) ++too_large_;
  }
  if (encoder_.encode_task_states(pending_, block_) && !ring_.push(block_, false, drops_)) ++too_large_;
  if (!pending_.empty()) {
    encoder_.encode_events(pending_, block_);
    if (!ring_.push(block_, false, drops_)) ++too_large_;
  }
  pending_.clear();
}

bool FlightBuffer::push_keyframe(const traces::Snapshot& snapshot) {
  flush();
  const std::uint64_t events_from = scan_from_.value_or(ring_.next_seq());
  scan_from_.reset();
  const bool dropped = ring_.first_seq() > events_from;
  if (dropped) ++keyframes_dropped_;
  if (snapshot.present && !dropped) {
    encoder_.encode_snapshot(snapshot, traces::BlockRole::Keyframe, block_);
    if (!ring_.push_keyframe(block_, !snapshot.free_runs.empty(), drops_, events_from)) ++too_large_;
  }
  return !dropped;
}

}  // namespace labyrinth::ebpf
