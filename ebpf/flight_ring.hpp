// The flight recorder's memory: a fixed arena of encoded blocks (event chunks and keyframes)
// in the order they were made. A new block that does not fit pushes out the oldest ones
// whole; the arena is allocated and touched once, so the memory used never changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>

#include "labyrinth/traces/chunk_encoder.hpp"

namespace labyrinth::ebpf {

class ChunkRing {
 public:
  struct Entry {
    traces::BlockMeta meta;
    std::size_t offset = 0;  // in the arena
    std::size_t size = 0;    // stored payload bytes
    bool free_map = false;   // a keyframe with the free-page map: a dump may start here
    std::uint64_t drops_before = 0;  // ring-buffer drops counted before this block was made
    std::uint64_t seq = 0;           // the block's number in push order
    // A keyframe: the first block whose events follow it. Its free-page map was scanned while
    // the blocks from there on were made, so a dump that starts at it writes them after it.
    std::uint64_t events_from = 0;
  };

  explicit ChunkRing(std::size_t capacity_bytes);

  // Copies the block in, dropping the oldest entries whole to make room. False (nothing
  // dropped) if the block alone is larger than the ring.
  bool push(const traces::EncodedBlock& block, bool free_map, std::uint64_t drops_before);
  // A keyframe (see Entry::events_from); the same as push otherwise.
  bool push_keyframe(const traces::EncodedBlock& block, bool free_map, std::uint64_t drops_before,
                     std::uint64_t events_from);
  // The number the next block will get, and that of the oldest block held (next_seq if none).
  [[nodiscard]] std::uint64_t next_seq() const { return next_seq_; }
  [[nodiscard]] std::uint64_t first_seq() const { return entries_.empty() ? next_seq_ : entries_.front().seq; }
  // Drops entries whose newest timestamp is older than `ts_ns` (the window of a DURATION ring).
  void drop_older_than(std::uint64_t ts_ns);

  [[nodiscard]] const std::deque<Entry>& entries() const { return entries_; }
  [[nodiscard]] std::string_view payload(const Entry& e) const { return {arena_.get() + e.offset, e.size}; }

  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  // Payload bytes of the blocks held now (the ring's fill).
  [[nodiscard]] std::size_t used() const { return used_; }
  // What the ring costs in memory: the arena and the index (at most one entry per 64 bytes).
  [[nodiscard]] std::size_t footprint() const;
  [[nodiscard]] std::uint64_t dropped_blocks() const { return dropped_blocks_; }
  [[nodiscard]] std::uint64_t dropped_events() const { return dropped_events_; }

 private:
  void drop_front();

  std::size_t capacity_;
  std::unique_ptr<char[]> arena_;
  std::deque<Entry> entries_;
  std::size_t next_ = 0;  // where the next block goes
  std::size_t used_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t dropped_blocks_ = 0;
  std::uint64_t dropped_events_ = 0;
};

}  // namespace labyrinth::ebpf
