// `labyrinth record --flight-recorder`: record all the time into a bounded in-memory ring of
// compressed chunks, and write a trace (the ring, a short post-trigger window, a start and an
// end snapshot) when a trigger fires: a failed allocation, SIGUSR1, a zone's free pages
// falling below a floor. Runs until a stop signal or -d.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/ebpf/record_session.hpp"
#include "labyrinth/traces/failure_class.hpp"

namespace labyrinth::ebpf {

struct FlightTrigger {
  enum class Kind : std::uint8_t { Failure, Signal, FreeBelow };
  Kind kind = Kind::Failure;
  std::string text;  // as given on the command line: logs and file names use it
  // Failure: every condition given must hold.
  std::vector<traces::FailureClass> classes;  // any of these (empty: any class)
  std::optional<std::uint32_t> min_order;     // order>=N
  std::string gfp_flags;                      // "__GFP_HIGH|__GFP_NOWARN" or "0x20": all of these bits
  // FreeBelow: a keyframe shows fewer free pages than this in the zone (any zone if empty).
  std::uint64_t free_pages = 0;
  std::string zone;
};

struct FlightOptions {
  std::uint64_t ring_bytes = 64ull << 20;                  // the ring's fixed memory
  std::optional<std::chrono::nanoseconds> window;          // keep at most this much time
  std::vector<FlightTrigger> triggers;                     // empty: "failure"
  std::uint32_t max_dumps = 16;                            // 0: no limit
  std::chrono::nanoseconds rate_limit = std::chrono::seconds(10);    // between two dumps at least
  std::chrono::nanoseconds post_trigger = std::chrono::milliseconds(200);  // recorded after the trigger
  std::string openmetrics;                                 // file rewritten every metrics_interval
  std::chrono::nanoseconds metrics_interval = std::chrono::seconds(5);
};

struct FlightResult {
  StopReason stop_reason = StopReason::None;
  bool interrupted_before_start = false;
  std::uint64_t events = 0;          // went through the ring
  std::uint64_t triggers = 0;        // trigger hits (a failure storm counts each failure)
  std::uint64_t dumps = 0;           // written
  std::uint64_t dump_failures = 0;   // could not be written (logged)
  std::uint64_t suppressed = 0;      // triggers that found the rate limit or the dump limit
  std::vector<std::string> dump_paths;
  std::uint64_t ring_capacity = 0, ring_footprint = 0;
  double seconds = 0;
  double recorder_cpu_seconds = 0;
  CollectorCounters counters;
};

// Like run_record: throws RecordError for what stops it before recording starts (including
// a trigger that cannot work on this kernel); after that, failed dumps are logged and counted.
FlightResult run_flight_recorder(const RecordOptions& record, const FlightOptions& flight, RecordObserver& observer);

// The file name of a dump: PATTERN with %t (UTC time, 20261202T031500Z), %r (the trigger,
// made safe for a file name) and %n (the dump's number) replaced. Without %t or %n, "-%t-%r-%n"
// goes before the extension; the name always ends in ".trace".
std::string dump_file_name(const std::string& pattern, std::uint64_t unix_ns, const std::string& trigger,
                           std::uint64_t number);

}  // namespace labyrinth::ebpf
