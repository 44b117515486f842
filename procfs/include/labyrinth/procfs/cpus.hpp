// The CPUs the kernel lists in /sys/devices/system/cpu/{possible,online}.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace labyrinth::procfs {

// A kernel CPU list ("0-3,5\n") as CPU ids in the order written; malformed items and ids
// from 65536 up are skipped.
std::vector<std::uint32_t> parse_cpu_list(std::string_view text);

// One more than the highest possible CPU id (ids are below it); sysconf's count when the
// file cannot be read.
std::uint32_t possible_cpus();
// The online CPUs; 0..possible-1 when the file cannot be read.
std::vector<std::uint32_t> online_cpus(std::uint32_t possible);

}  // namespace labyrinth::procfs
