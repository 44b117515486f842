// Writing one flight-recorder dump: a complete trace file (header, start snapshot, names and
// stacks, the ring's blocks from a keyframe on, end snapshot, footer), created as a temporary
// file next to the target and renamed into place, so a reader never sees half a dump.
#pragma once

#include <cstdint>
#include <string>

#include "flight_buffer.hpp"
#include "flight_ring.hpp"
#include "flight_triggers.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

struct DumpRequest {
  std::string path;
  traces::TraceHeader header;  // the recording's, with the trigger added here
  TriggerHit hit;
  traces::Snapshot end;        // taken at the trigger, after the post-trigger window
  std::uint64_t drops_now = 0;
  std::uint64_t recursion_misses = 0;
};

struct DumpResult {
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  std::uint64_t first_ts_ns = 0, last_ts_ns = 0;
  bool started_at_free_map = false;  // the start snapshot has the free-page map
};

// Throws common::OutputError or traces::TraceError; nothing is left at `path` then.
// Throws std::runtime_error when the ring holds no keyframe to start from.
DumpResult write_dump(const DumpRequest& request, const ChunkRing& ring, const FlightBuffer& buffer);

}  // namespace labyrinth::ebpf
