// Encodes event chunks and snapshots into trace blocks ahead of time, for a writer that keeps
// them in memory and writes them later (the flight recorder's ring). The payload is exactly
// what TraceWriter would write for the same input; TraceWriter::write_encoded() writes it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

// Where an encoded block goes in a trace file.
enum class BlockRole : std::uint8_t { Events, StartSnapshot, Keyframe, EndSnapshot, TaskStates, ZoneCounters, ZoneCounterDiffs };

// Everything of a block but its payload bytes.
struct BlockMeta {
  BlockRole role = BlockRole::Events;
  std::uint32_t count = 0;          // events, or a snapshot's free runs
  std::uint64_t raw_size = 0;       // before compression
  std::uint32_t payload_crc = 0;    // CRC-32C of the stored payload
  bool zstd = false;
  // Events blocks: what the footer totals need.
  std::array<std::uint64_t, kEventKindCount> by_kind{};
  std::uint64_t first_ts_ns = 0, last_ts_ns = 0;
};

struct EncodedBlock {
  BlockMeta meta;
  std::string payload;  // stored bytes; reused from one encode to the next
};

class ChunkEncoder {
 public:
  explicit ChunkEncoder(int compression_level = 3);
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Throws TraceError if compression fails.
  void encode_events(const std::vector<PageEvent>& events, EncodedBlock& out);
  // The task states of a chunk's allocations, for the block written before its events block;
  // false (out untouched) when none has one.
  bool encode_task_states(const std::vector<PageEvent>& events, EncodedBlock& out);
  // Moves a chunk's ZoneCounters events into the block written before its events block,
  // leaving the rest in `events`; false (out untouched) when there are none. `diffs` gets the
  // block that goes right after it, and is left with count 0 when no entry has diffs.
  bool split_zone_counters(std::vector<PageEvent>& events, EncodedBlock& out, EncodedBlock& diffs);
  void encode_snapshot(const Snapshot& snapshot, BlockRole role, EncodedBlock& out);
  // Compresses `raw` (when asked and not empty) into out.payload and fills size, CRC and flag.
  void seal(const std::string& raw, bool compress, EncodedBlock& out);

 private:
  struct Context;
  Context* ctx_;
  int level_;
  std::string raw_;
  std::string diffs_raw_;
  std::vector<PageEvent> rest_;
};

}  // namespace labyrinth::traces
