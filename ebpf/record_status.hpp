// The live status line of a recording, and the CPU time it costs.
#pragma once

#include <cstdint>
#include <string>

namespace labyrinth::ebpf {

// User + system CPU seconds of this process so far.
double cpu_seconds();

// "1.23M", "45.6k", "789".
std::string human_count(double v);
// "1.5 MiB", "12.0 KiB", "100 B".
std::string human_bytes(double v);

struct StatusFigures {
  double elapsed_s = 0;
  std::uint64_t events = 0;
  double events_per_s = 0;
  std::uint64_t drops = 0;
  std::uint64_t misses = 0;
  double bytes = 0;
};
// "recording 1.5 s | 12.0k events | 8.0k events/s | 0 drops | 0 misses | 1.2 MiB"
std::string status_line(const StatusFigures& f);

}  // namespace labyrinth::ebpf
