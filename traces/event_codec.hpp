// Column encoding of a chunk of events: each field in its own stream, delta and varint
// coded, so that zstd finds the repetition. See labyrinth-trace(5), "Events block".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {

// Appends the encoded chunk to `out` (which is cleared first).
void encode_events(const std::vector<PageEvent>& events, std::string& out);

// Decodes exactly `count` events; false (with a reason) if the bytes are inconsistent.
bool decode_events(const unsigned char* data, std::size_t size, std::uint32_t count,
                   std::vector<PageEvent>& out, std::string& error);

// A task-states block (format 1.4): the PageEvent::task_state of the events of a chunk that
// have one, as (index delta, state) varint pairs, the first delta from 0. A block of its own,
// written before its events block, so that a 1.3 reader skips it and reads the events as
// they were. Returns how many events have a state (nothing is written for none).
std::uint32_t encode_task_states(const std::vector<PageEvent>& events, std::string& out);
// Indices strictly increasing, below kMaxChunkEvents, states within kTaskStateMask.
bool decode_task_states(const unsigned char* data, std::size_t size, std::uint32_t count,
                        std::vector<std::pair<std::uint32_t, std::uint8_t>>& out, std::string& error);

// A zone-counters block (format 1.7): the ZoneCounters events of a chunk, each self-contained
// (zigzag ts delta from the previous entry's, the first from 0, then cpu, node, zone index, free
// pages, highatomic free and reserved, boost and the lists mask, all varints), written before
// the events block of the same chunk; a 1.6 reader skips it. `events` keeps the chunk's other
// events, in order. Returns how many entries were written (nothing for none).
// `diffs` gets the zone-counter diffs block (format 1.9), written right after it: one varint
// per entry, 0 for diffs not read, zigzag(free_diffs) + 1 otherwise; empty when no entry has
// them. A separate block, so that a 1.7 or 1.8 reader skips it and reads the counters.
std::uint32_t split_zone_counters(const std::vector<PageEvent>& chunk, std::vector<PageEvent>& events,
                                  std::string& out, std::string& diffs);
// Sets the free_diffs of `counters`, the entries of the zone-counters block just before it.
bool decode_zone_counter_diffs(const unsigned char* data, std::size_t size, std::uint32_t count,
                               std::span<PageEvent> counters, std::string& error);
// Appends the entries to `out` as ZoneCounters events.
bool decode_zone_counters(const unsigned char* data, std::size_t size, std::uint32_t count,
                          std::vector<PageEvent>& out, std::string& error);

// Decodes a chunk in batches small enough to stay in cache while the caller uses them.
// open() checks the whole chunk first (column sizes, varint counts, tags), so a damaged
// chunk yields no events at all, exactly as decode_events, and decode() needs no bounds
// checks. The bytes must stay alive until the last batch is decoded.
class EventDecoder {
 public:
  static constexpr std::size_t kColumns = 10;

  // unread: columns left undecoded (their fields 0), skipped whole, for a consumer that never
  // reads them.
  bool open(const unsigned char* data, std::size_t size, std::uint32_t count, std::string& error,
            UnreadColumns unread = UnreadColumns::None);
  // Decodes the next min(max, remaining()) events into out[0..n); returns n.
  std::size_t decode(PageEvent* out, std::size_t max);
  [[nodiscard]] std::uint32_t remaining() const { return left_; }
  // Whether the events of the last decode() are in timestamp order, each no older than the
  // event before it in the chunk: a consumer that sorts need not check them again.
  [[nodiscard]] bool in_order() const { return in_order_; }

 private:
  std::size_t decode_narrow(PageEvent* out, std::size_t max);  // a chunk of one or two events
  // kWide: the pfn column is read 8 bytes at a time (a chunk of 3 events or more).
  template <bool kDecodeCpu, bool kDecodeTid, bool kWide>
  std::size_t decode_fields(PageEvent* out, std::size_t max);

  UnreadColumns unread_ = UnreadColumns::None;
  std::array<const unsigned char*, kColumns> col_{};
  std::uint32_t left_ = 0;
  bool in_order_ = true;
  bool wide_ = false;
  std::uint64_t prev_ts_ = 0, prev_pfn_ = 0;
  std::uint32_t prev_pid_ = 0, prev_comm_ = 0;
};

}  // namespace labyrinth::traces
