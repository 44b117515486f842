// Zones from the text of /proc/zoneinfo, for traces that carry none (imports of perf script
// or ftrace text): `labyrinth replay` then replays into this machine's zones and says so.
#pragma once

#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

// Populated zones (spanned > 0) with start pfn, sizes, watermarks without boost, boost,
// protection (lowmem_reserve) and free pages.
std::vector<traces::ZoneInfo> parse_zoneinfo(std::string_view text);

}  // namespace labyrinth::replay
