#include "labyrinth/procfs/zoneinfo.hpp"

#include <algorithm>
#include <string>

#include "labyrinth/common/text.hpp"

namespace labyrinth::procfs {
namespace {

using common::parse_number;

// "Node 0, zone   Normal" and "protection: (0, 3018, 4426)" split on blanks, commas and
// parentheses.
constexpr std::string_view kSeparators = " \t,()";

std::uint64_t less_boost(std::uint64_t v, std::uint64_t boost) { return v >= boost ? v - boost : 0; }

}  // namespace

std::vector<ZoneinfoZone> parse_zoneinfo_detail(std::string_view text) {
  std::vector<ZoneinfoZone> zones;
  ZoneinfoZone* d = nullptr;
  bool in_pagesets = false;
  auto finish = [&] {
    if (d == nullptr) return;
    // zoneinfo_show_print prints min/low/high/promo with the current boost added.
    auto& z = d->zone;
    z.min_pages = less_boost(z.min_pages, z.boost_pages);
    z.low_pages = less_boost(z.low_pages, z.boost_pages);
    z.high_pages = less_boost(z.high_pages, z.boost_pages);
    d->promo_pages = less_boost(d->promo_pages, z.boost_pages);
  };
  common::for_each_line(text, [&](std::string_view line) {
    const auto tok = common::split_words(line, kSeparators);
    if (tok.empty()) return;
    if (tok[0] == "Node" && tok.size() >= 4 && tok[2] == "zone") {
      finish();
      d = &zones.emplace_back();
      parse_number(tok[1], d->zone.node);
      d->zone.name = std::string(tok[3]);
      in_pagesets = false;
      return;
    }
    if (d == nullptr) return;
    auto& z = d->zone;
    const bool first_cpu = d->pagesets == 1;
    std::uint64_t v = 0;
    const bool has_value = tok.size() >= 2 && parse_number(tok[1], v);
    const auto signed_v = static_cast<std::int64_t>(v);
    if (tok[0] == "pages" && tok.size() >= 3 && tok[1] == "free") {
      parse_number(tok[2], z.free_pages);
    } else if (tok[0] == "pagesets") {
      in_pagesets = true;
    } else if (tok[0] == "start_pfn:" && has_value) {
      z.start_pfn = v;
    } else if (in_pagesets) {
      if (tok[0] == "cpu:") {
        ++d->pagesets;
      } else if (!has_value) {
      } else if (tok[0] == "count:") {
        z.pcp_count_pages += v;
      } else if (tok[0] == "high:" && first_cpu) {
        z.pcp_high = v;
      } else if (tok[0] == "batch:" && first_cpu) {
        z.pcp_batch = v;
        d->pcp_batch = signed_v;
      } else if (tok[0] == "high_min:" && first_cpu) {
        d->pcp_high_min = signed_v;
      } else if (tok[0] == "high_max:" && first_cpu) {
        d->pcp_high_max = signed_v;
      }
    } else if (tok[0] == "protection:") {
      z.lowmem_reserve_pages.clear();
      for (std::size_t i = 1; i < tok.size(); ++i)
        if (std::uint64_t p = 0; parse_number(tok[i], p)) z.lowmem_reserve_pages.push_back(p);
    } else if (!has_value) {
    } else if (tok[0] == "boost") {
      z.boost_pages = v;
    } else if (tok[0] == "min") {
      z.min_pages = v;
    } else if (tok[0] == "low") {
      z.low_pages = v;
    } else if (tok[0] == "high") {
      z.high_pages = v;
    } else if (tok[0] == "promo") {
      d->promo_pages = v;
    } else if (tok[0] == "spanned") {
      z.spanned_pages = v;
    } else if (tok[0] == "present") {
      z.present_pages = v;
    } else if (tok[0] == "managed") {
      z.managed_pages = v;
    }
  });
  finish();
  return zones;
}

std::vector<traces::ZoneInfo> parse_zoneinfo(std::string_view text) {
  std::vector<traces::ZoneInfo> zones;
  for (auto& d : parse_zoneinfo_detail(text)) zones.push_back(std::move(d.zone));
  return zones;
}

std::vector<traces::ZoneInfo> populated_zones(std::vector<traces::ZoneInfo> zones) {
  std::erase_if(zones, [](const traces::ZoneInfo& z) { return z.spanned_pages == 0; });
  return zones;
}

}  // namespace labyrinth::procfs
