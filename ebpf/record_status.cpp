#include "record_status.hpp"

#include <sys/resource.h>

#include <fmt/format.h>

namespace labyrinth::ebpf {

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::string human_count(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string human_bytes(double v) {
  if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
  if (v >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
  if (v >= 1024.0) return fmt::format("{:.1f} KiB", v / 1024.0);
  return fmt::format("{:.0f} B", v);
}

std::string status_line(const StatusFigures& f) {
  return fmt::format("recording {:.1f} s | {} events | {} events/s | {} drops | {} misses | {}", f.elapsed_s,
                     human_count(static_cast<double>(f.events)), human_count(f.events_per_s), f.drops, f.misses,
                     human_bytes(f.bytes));
}

}  // namespace labyrinth::ebpf
