// Deciding when the flight recorder writes a dump: each event is checked against the failure
// triggers, each keyframe against the free-page floors; SIGUSR1 is a trigger of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/ebpf/flight_recorder.hpp"
#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

struct TriggerHit {
  std::string trigger;  // the trigger's text
  std::uint64_t ts_ns = 0;
  std::string detail;   // logfmt fields: what fired it
};

class TriggerWatch {
 public:
  // Throws RecordError(Usage) for GFP flag names this kernel does not have.
  TriggerWatch(const std::vector<FlightTrigger>& triggers, const traces::GfpTable& gfp_table);

  // Cheap for the common case (not a failed allocation).
  void on_event(const traces::PageEvent& event) {
    if (event.failed() && !failure_.empty()) check_failure(event);
  }
  void on_signal(std::uint64_t ts_ns);
  // Fires when a zone goes below its floor (not again until it has been above it).
  void on_keyframe(const traces::Snapshot& snapshot);

  // The first hit since the last take(); later ones are only counted.
  std::optional<TriggerHit> take();
  [[nodiscard]] std::uint64_t hits() const { return hits_; }
  [[nodiscard]] bool wants_signal() const { return signal_ != nullptr; }

 private:
  struct Failure {
    const FlightTrigger* spec;
    std::uint64_t gfp_bits;
  };
  void check_failure(const traces::PageEvent& event);
  void hit(const FlightTrigger& spec, std::uint64_t ts_ns, std::string detail);

  std::vector<Failure> failure_;
  std::vector<const FlightTrigger*> floors_;
  std::vector<bool> below_;  // per floor and zone index: already below
  const FlightTrigger* signal_ = nullptr;
  traces::GfpBits bits_;
  const traces::GfpTable& table_;
  std::optional<TriggerHit> pending_;
  std::uint64_t hits_ = 0;
};

}  // namespace labyrinth::ebpf
