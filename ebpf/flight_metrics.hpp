// The flight recorder's OpenMetrics file (--openmetrics FILE), rewritten every interval so that
// a fleet's Prometheus sees a recorder that is down (the file stops changing) or losing events.
#pragma once

#include <cstdint>
#include <string>

namespace labyrinth::ebpf {

struct FlightFigures {
  std::uint64_t events = 0;            // into the ring
  std::uint64_t ringbuf_drops = 0;     // lost: BPF ring buffer full
  std::uint64_t recursion_misses = 0;  // lost: the kernel skipped the program
  std::uint64_t triggers = 0;
  std::uint64_t dumps = 0, dump_failures = 0, suppressed = 0;
  std::uint64_t ring_capacity = 0, ring_used = 0, ring_footprint = 0;
  std::uint64_t ring_dropped_events = 0;  // aged out of the ring (the expected case)
  double uptime_s = 0;
  double updated_unix_s = 0;
};

// Throws common::OutputError.
void write_flight_metrics(const std::string& path, const FlightFigures& f);

}  // namespace labyrinth::ebpf
