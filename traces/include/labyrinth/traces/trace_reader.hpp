// Streams a trace file chunk by chunk in constant memory. The header, the start snapshot and
// the end snapshot (found by a walk over the block headers) are read on open, so that a
// consumer knows the end snapshot's time before the events recorded after it; the footer
// becomes available once the events are consumed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

inline constexpr std::uint16_t kFormatMajor = 1;
inline constexpr std::uint16_t kFormatMinor = 9;  // 1.1: isolate events, keyframes; 1.2: exact blocks; 1.3: vmstat; 1.4: task state; 1.5: direct reclaim; 1.6: pageblock moves; 1.7: zone counters at failures; 1.8: kswapd passes; 1.9: vmstat diffs of the zone counters

// What went wrong while reading, if anything; the reader stops at the first damage and
// keeps every event before it.
struct ReadDamage {
  bool truncated = false;        // the file ends inside a block, or has no footer
  bool checksum_mismatch = false;
  bool corrupt = false;          // a block that decodes to nonsense
  std::uint64_t offset = 0;      // where the damage starts
  std::string message;           // "<path>: offset N: ..."
  [[nodiscard]] bool any() const { return truncated || checksum_mismatch || corrupt; }
};

class TraceReader {
 public:
  // Opens and reads the header and start snapshot. Throws TraceError (bad magic, newer major
  // version, corrupt header, I/O) naming the path and offset.
  explicit TraceReader(std::string path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  [[nodiscard]] const TraceHeader& header() const;
  [[nodiscard]] const Snapshot& start_snapshot() const;

  // The next chunk of events, in file order; false at the end or at the first damage
  // (see damage()). The span stays valid until the next call.
  bool next(std::span<const PageEvent>& events);
  // From now on next() gives at most `events` events at a time (0, the default: a whole
  // chunk), so that a consumer finds them still in cache. Chunk boundaries are unchanged.
  void set_batch_events(std::size_t events);
  // Whether the events of the last next() are in timestamp order among themselves (found
  // while decoding them): a consumer that sorts can skip its own pass over them.
  [[nodiscard]] bool in_time_order() const;
  // Reading on a second thread, a few chunks ahead in constant memory: the same events, names
  // and damage reports, in less wall time. Blocks: checksums, decompression and the column
  // checks run ahead, the events are decoded by next() in cache-sized batches (for a light
  // consumer such as stat). Events: decoding runs ahead too (for a heavy consumer such as
  // replay). Call before the first next().
  enum class ReadAhead { Off, Blocks, Events };
  void set_read_ahead(ReadAhead mode);
  // For a consumer that never reads PageEvent::cpu or ::tid (stat): their columns are not
  // decoded, and both read as 0. Call before the first next().
  void skip_cpu_and_tid();
  // For a consumer that never reads PageEvent::tid (replay): the tid column is not decoded.
  void skip_tid();

  [[nodiscard]] std::string_view comm(std::uint32_t comm_id) const;  // "" if unknown
  [[nodiscard]] const StackTrace* stack(std::uint32_t stack_id) const;

  // The end snapshot, from open on (present == false if the file has none, or if damage
  // comes before it), and the file offset of its block (0 if none).
  [[nodiscard]] const Snapshot& end_snapshot() const;
  // The keyframes (the kernel's state taken during the recording, without free-page maps),
  // by time, from open on; those after damage are left out.
  [[nodiscard]] const std::vector<Snapshot>& keyframes() const;
  // The free-page map of keyframes()[index] (free_map_in_file), read from the file now;
  // false when it has none or it cannot be read.
  bool keyframe_free_map(std::size_t index, std::vector<FreeRun>& runs) const;
  [[nodiscard]] std::uint64_t end_snapshot_offset() const;
  // The events the file's events blocks declare, summed from their headers on open (before
  // the events are read, unlike the footer); nullopt when the walk met no footer (a recording
  // cut short, damage): the file may hold any number.
  [[nodiscard]] std::optional<std::uint64_t> events_declared() const;
  // The kernel's zone counters read at failed allocations (ZoneCounters events, format 1.7),
  // decoded since the last call: those of a chunk are decoded before next() hands out its first
  // events, and each has the ts_ns and cpu of its failure. Never among next()'s events.
  std::vector<PageEvent> take_zone_counters();
  // Valid after next() returned false.
  [[nodiscard]] const TraceFooter& footer() const;
  [[nodiscard]] bool complete() const;            // footer present and no damage
  [[nodiscard]] const ReadDamage& damage() const;
  [[nodiscard]] std::uint64_t events_read() const;
  [[nodiscard]] std::uint64_t chunks_read() const;
  [[nodiscard]] const std::string& path() const;
  [[nodiscard]] std::uint64_t file_size() const;
  [[nodiscard]] std::uint64_t offset() const;     // bytes consumed so far (for progress bars)

 private:
  void skip_columns(UnreadColumns unread);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::traces
