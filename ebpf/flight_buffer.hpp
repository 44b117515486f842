// The flight recorder's event target: events are checked against the triggers, gathered into
// chunks, encoded as the trace file would store them and pushed into the ring. Process names
// and stacks are kept whole (a dump needs the ones its chunks use, whenever they were first
// seen); they grow with distinct names and stacks, not with time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
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
  // `hold_limit_bytes`: the most encoded bytes held back during a free-page map scan.
  FlightBuffer(ChunkRing& ring, TriggerWatch& triggers, std::uint32_t chunk_events, std::size_t hold_limit_bytes)
      : ring_(ring), triggers_(triggers), chunk_events_(chunk_events), hold_limit_(hold_limit_bytes) {
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

  // A keyframe goes into the ring after the events before it (flush first), then what was
  // held back; an absent snapshot (it could not be read) only releases what was held.
  // False if the keyframe was dropped because the hold overflowed (see hold_for_keyframe).
  bool push_keyframe(const traces::Snapshot& snapshot);
  // While a free-page map is scanned: the events before the scan go into the ring now, the
  // ones that come during it are encoded but held back, to follow the keyframe (a dump that
  // starts at the keyframe must have them). Encoded, they take a few bytes an event. The hold
  // is memory outside the ring, so it is bounded: a scan that outlasts the limit (a starved
  // recorder on a loaded machine took minutes) releases what was held into the ring, and its
  // keyframe, which those events would precede, is dropped.
  void hold_for_keyframe() {
    flush();
    holding_ = true;
  }
  // The ring-buffer drops so far, stored with each block (a dump reports its own losses).
  void set_drops(std::uint64_t drops) { drops_ = drops; }

  // Names by id (index 0 is the unknown name) and stacks by id, for a dump.
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
  [[nodiscard]] const std::map<std::uint32_t, std::vector<std::string>>& stacks() const { return stacks_; }
  [[nodiscard]] std::uint64_t events() const { return events_; }
  [[nodiscard]] std::uint64_t blocks_too_large() const { return too_large_; }
  // Encoded bytes held back now (memory outside the ring), and keyframes dropped so far.
  [[nodiscard]] std::size_t held_bytes() const { return held_bytes_; }
  [[nodiscard]] std::uint64_t keyframes_dropped() const { return keyframes_dropped_; }

 private:
  void release_held();  // the held blocks into the ring, in order; holding stops

  ChunkRing& ring_;
  TriggerWatch& triggers_;
  std::uint32_t chunk_events_;
  std::size_t hold_limit_;
  std::vector<traces::PageEvent> pending_;
  traces::ChunkEncoder encoder_;
  traces::EncodedBlock block_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::map<std::uint32_t, std::vector<std::string>> stacks_;
  bool holding_ = false;
  std::vector<traces::EncodedBlock> held_;
  std::size_t held_bytes_ = 0;
  bool hold_overflowed_ = false;  // the keyframe being scanned will be dropped
  std::uint64_t keyframes_dropped_ = 0;
  std::uint64_t drops_ = 0;
  std::uint64_t events_ = 0;
  std::uint64_t too_large_ = 0;
};

}  // namespace labyrinth::ebpf
