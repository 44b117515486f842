#include "labyrinth/procfs/cpus.hpp"

#include <unistd.h>

#include <algorithm>

#include "labyrinth/common/text.hpp"
#include "labyrinth/procfs/files.hpp"

namespace labyrinth::procfs {

std::vector<std::uint32_t> parse_cpu_list(std::string_view text) {
  constexpr std::uint32_t kMaxCpus = 65536;
  std::vector<std::uint32_t> cpus;
  for (const std::string_view item : common::split_words(common::trim(text), ",")) {
    const auto dash = item.find('-');
    std::uint32_t lo = 0, hi = 0;
    if (!common::parse_number(item.substr(0, dash), lo)) continue;
    if (dash == std::string_view::npos) {
      hi = lo;
    } else if (!common::parse_number(item.substr(dash + 1), hi)) {
      continue;
    }
    for (std::uint32_t c = lo; c <= hi && c < kMaxCpus; ++c) cpus.push_back(c);
  }
  return cpus;
}

std::uint32_t possible_cpus() {
  if (const auto text = try_read_file("/sys/devices/system/cpu/possible")) {
    const auto cpus = parse_cpu_list(*text);
    if (!cpus.empty()) return *std::max_element(cpus.begin(), cpus.end()) + 1;
  }
  const long n = ::sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? static_cast<std::uint32_t>(n) : 1u;
}

std::vector<std::uint32_t> online_cpus(std::uint32_t possible) {
  std::vector<std::uint32_t> cpus;
  if (const auto text = try_read_file("/sys/devices/system/cpu/online")) cpus = parse_cpu_list(*text);
  if (cpus.empty())
    for (std::uint32_t c = 0; c < possible; ++c) cpus.push_back(c);
  return cpus;
}

}  // namespace labyrinth::procfs
