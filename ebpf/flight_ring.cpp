#include "flight_ring.hpp"

#include <cstring>

namespace labyrinth::ebpf {

ChunkRing::ChunkRing(std::size_t capacity_bytes)
    : capacity_(capacity_bytes), arena_(std::make_unique<char[]>(capacity_bytes)) {
  // make_unique value-initialises: every page is written now, so the resident size is
  // reached at start and stays there.
}

std::size_t ChunkRing::footprint() const { return capacity_ + entries_.size() * sizeof(Entry); }

void ChunkRing::drop_front() {
  const Entry& e = entries_.front();
  used_ -= e.size;
  ++dropped_blocks_;
  if (e.meta.role == traces::BlockRole::Events) dropped_events_ += e.meta.count;
  entries_.pop_front();
}

bool ChunkRing::push(const traces::EncodedBlock& block, bool free_map, std::uint64_t drops_before) {
  const std::size_t size = block.payload.size();
  if (size > capacity_) return false;
  if (next_ + size > capacity_) {
    // Skip the tail: the blocks still there are the oldest, and would come after newer ones.
    while (!entries_.empty() && entries_.front().offset >= next_) drop_front();
    next_ = 0;
  }
  // The oldest blocks are the ones right after next_ in the arena.
  while (!entries_.empty()) {
    const Entry& f = entries_.front();
    const bool overlaps = f.offset < next_ + size && next_ < f.offset + f.size;
    if (!overlaps) break;
    drop_front();
  }
  std::memcpy(arena_.get() + next_, block.payload.data(), size);
  entries_.push_back(Entry{block.meta, next_, size, free_map, drops_before, next_seq_, next_seq_});
  ++next_seq_;
  next_ += size;
  used_ += size;
  return true;
}

bool ChunkRing::push_keyframe(const traces::EncodedBlock& block, bool free_map, std::uint64_t drops_before,
                              std::uint64_t events_from) {
  if (!push(block, free_map, drops_before)) return false;
  entries_.back().events_from = events_from;
  return true;
}

void ChunkRing::drop_older_than(std::uint64_t ts_ns) {
  while (!entries_.empty() && entries_.front().meta.last_ts_ns < ts_ns) drop_front();
}

}  // namespace labyrinth::ebpf
