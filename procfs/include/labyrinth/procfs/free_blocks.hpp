// Free blocks per order: /proc/buddyinfo (per zone, mm/vmstat.c:frag_show_print) and
// /proc/pagetypeinfo (per zone and migratetype, with pageblocks per migratetype;
// mm/vmstat.c:pagetypeinfo_showfree_print, pagetypeinfo_showblockcount_print).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace labyrinth::procfs {

struct BuddyinfoRow {
  int node = 0;
  std::string zone;
  std::vector<std::uint64_t> free_blocks;  // per order 0..max_order
};
std::vector<BuddyinfoRow> parse_buddyinfo(std::string_view text);

struct PagetypeZone {
  int node = 0;
  std::string zone;
  std::vector<std::vector<std::uint64_t>> free_blocks;  // [migratetype][order]; ">100000" reads as 100000
  std::vector<std::uint64_t> pageblocks;                // per migratetype
};
struct PagetypeInfo {
  std::uint32_t pageblock_order = 0;  // 0 = not found
  std::vector<std::string> migratetype_names;
  std::vector<PagetypeZone> zones;
};
PagetypeInfo parse_pagetypeinfo(std::string_view text);

}  // namespace labyrinth::procfs
