// /proc/vmstat: the kernel's memory counters, one "name value" line each
// (mm/vmstat.c:vmstat_show): gauges (nr_free_pages) and event counts since boot
// (pgalloc_normal, pgfree, compact_isolated).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace labyrinth::procfs {

// Every line that is a name and an unsigned number; other lines are skipped.
std::map<std::string, std::uint64_t> parse_vmstat(std::string_view text);

}  // namespace labyrinth::procfs
