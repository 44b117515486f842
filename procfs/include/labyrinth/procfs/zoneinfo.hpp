// /proc/zoneinfo: every zone the kernel prints, with its sizes, watermarks, lowmem reserves
// and per-CPU page lists (mm/vmstat.c:zoneinfo_show_print).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::procfs {

// One zone's block. `zone` is what a trace header keeps; the rest is printed by some
// kernels only and read by the cross-checks against the running kernel.
struct ZoneinfoZone {
  traces::ZoneInfo zone;            // watermarks without the boost the kernel adds
  std::uint64_t promo_pages = 0;    // "promo" watermark (Linux >= 6.1), without boost; 0 = absent
  std::int64_t pcp_high_min = -1;   // first CPU's pageset (Linux >= 6.7); -1 = absent
  std::int64_t pcp_high_max = -1;
  std::int64_t pcp_batch = -1;      // first CPU's pageset; -1 = absent
  unsigned pagesets = 0;            // CPUs listed under "pagesets"
};

// Every zone as printed, empty ones (spanned 0) included.
std::vector<ZoneinfoZone> parse_zoneinfo_detail(std::string_view text);
// The same, as trace-header zones.
std::vector<traces::ZoneInfo> parse_zoneinfo(std::string_view text);
// Those zones with pages (spanned > 0): the ones a model can hold.
std::vector<traces::ZoneInfo> populated_zones(std::vector<traces::ZoneInfo> zones);

}  // namespace labyrinth::procfs
