// The flight recorder's event target: events are checked against the triggers, gathered into
// chunks, encoded as the trace file would store them and pushed into the ring. Process names
// and stacks are kept whole (a dump needs the ones its chunks use, whenever they were first
// seen); they grow with distinct names and stacks, not with time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "event_target.hpp"
#include "flight_ring.hpp"
#include "flight_triggers.hpp"
#include "labyrinth/traces/chunk_encoder.hpp"

namespace labyrinth::ebpf {

class FlightBuffer final : public EventTarget {
 public:
  FlightBuffer(ChunkRing& ring, TriggerWatch& triggers, std::uint32_t chunk_events)
      : ring_(ring), triggers_(triggers), chunk_events_(chunk_events) {
    pending_.reserve(chunk_events);
    names_.emplace_back();  // id 0: unknown
  }

  std::uint32_t intern_comm(std::string_view comm) override;
  void define_stack(std::uint32_t stack_id, std::vector<std::string> frames) override;
  void append(const traces::PageEvent& event) override {
    triggers_.on_event(event);
    pending_.push_back(event);
    ++events_;
    if (pending_.size() >= chunk_events_) flush();
  }
  void flush() override;

  // While a free-page map is scanned, events keep going into the ring; the keyframe, pushed
  // after them, names the first block made since the scan began (ChunkRing::Entry::
  // events_from), and a dump that starts at it writes those blocks after it. No memory is held
  // outside the ring however long a scan takes (a starved recorder took minutes).
  void begin_map_scan() {
    flush();
    scan_from_ = ring_.next_seq();
  }
  // A keyframe goes into the ring after the events before it (flush first). False if it was
  // dropped: the ring pushed out blocks made during its scan, so no dump could start at it.
  // An absent snapshot (it could not be read) only ends the scan.
  bool push_keyframe(const traces::Snapshot& snapshot);
  // The ring-buffer drops so far, stored with each block (a dump reports its own losses).
  void set_drops(std::uint64_t drops) { drops_ = drops; }

  // Names by id (index 0 is the unknown name) and stacks by id, for a dump.
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
  [[nodiscard]] const std::map<std::uint32_t, std::vector<std::string>>& stacks() const { return stacks_; }
  [[nodiscard]] std::uint64_t events() const { return events_; }
  [[nodiscard]] std::uint64_t blocks_too_large() const { return too_large_; }
  // Keyframes dropped so far (see push_keyframe).
  [[nodiscard]] std::uint64_t keyframes_dropped() const { return keyframes_dropped_; }

 private:
  // zstd level of the ring's chunks: compression is the largest share of the recorder's own CPU,
  // and level 1 takes about 16 ns an event where level 3 takes 30, for 4% more bytes at equal
  // chunk size (1.84 M recorded events). A trace written by `record` keeps level 3.
  static constexpr int kCompressionLevel = 1;

  ChunkRing& ring_;
  TriggerWatch& triggers_;
  std::uint32_t chunk_events_;
  std::vector<traces::PageEvent> pending_;
  traces::ChunkEncoder encoder_{kCompressionLevel};
  traces::EncodedBlock block_;
  traces::EncodedBlock diffs_block_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::map<std::uint32_t, std::vector<std::string>> stacks_;
  std::optional<std::uint64_t> scan_from_;  // during a map scan: the ring's next block at its start
  std::uint64_t keyframes_dropped_ = 0;
  std::uint64_t drops_ = 0;
  std::uint64_t events_ = 0;
  std::uint64_t too_large_ = 0;
};

}  // namespace labyrinth::ebpf
