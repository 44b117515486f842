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
  if (holding_) {
    encoder_.encode_events(pending_, held_.emplace_back());
    held_bytes_ += held_.back().payload.size();
    if (held_bytes_ > hold_limit_) {
      hold_overflowed_ = true;
      release_held();
    }
  } else {
    encoder_.encode_events(pending_, block_);
    if (!ring_.push(block_, false, drops_)) ++too_large_;
  }
  pending_.clear();
}

void FlightBuffer::release_held() {
  holding_ = false;
  for (const auto& b : held_)
    if (!ring_.push(b, false, drops_)) ++too_large_;
  held_.clear();
  held_bytes_ = 0;
}

bool FlightBuffer::push_keyframe(const traces::Snapshot& snapshot) {
  if (!holding_) flush();
  const bool dropped = hold_overflowed_;
  hold_overflowed_ = false;
  if (dropped) ++keyframes_dropped_;
  if (snapshot.present && !dropped) {
    encoder_.encode_snapshot(snapshot, traces::BlockRole::Keyframe, block_);
    if (!ring_.push(block_, !snapshot.free_runs.empty(), drops_)) ++too_large_;
  }
  release_held();
  return !dropped;
}

}  // namespace labyrinth::ebpf
