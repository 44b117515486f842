#include "labyrinth/replay/zoneinfo.hpp"

#include <charconv>
#include <string>

namespace labyrinth::replay {

namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == ',' || line[i] == '(' || line[i] == ')')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != ',' && line[j] != '(' && line[j] != ')') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool num(std::string_view s, std::uint64_t& v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::vector<traces::ZoneInfo> parse_zoneinfo(std::string_view text) {
  std::vector<traces::ZoneInfo> zones;
  traces::ZoneInfo* z = nullptr;
  bool in_pagesets = false;
  auto finish = [&] {
    if (z == nullptr) return;
    const std::uint64_t b = z->boost_pages;
    z->min_pages -= std::min(z->min_pages, b);
    z->low_pages -= std::min(z->low_pages, b);
    z->high_pages -= std::min(z->high_pages, b);
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const auto w = words(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (w.empty()) continue;
    std::uint64_t v = 0;
    if (w[0] == "Node" && w.size() >= 4 && w[2] == "zone") {
      finish();
      zones.emplace_back();
      z = &zones.back();
      num(w[1], v);
      z->node = static_cast<int>(v);
      z->name = std::string(w[3]);
      in_pagesets = false;
      continue;
    }
    if (z == nullptr) continue;
    const bool has = w.size() >= 2 && num(w[1], v);
    if (w[0] == "start_pfn:" && has) {
      z->start_pfn = v;
    } else if (w[0] == "pagesets") {
      in_pagesets = true;
    } else if (w[0] == "pages" && w.size() >= 3 && w[1] == "free" && num(w[2], v)) {
      z->free_pages = v;
    } else if (in_pagesets) {
      continue;
    } else if (w[0] == "boost" && has) {
      z->boost_pages = v;
    } else if (w[0] == "min" && has) {
      z->min_pages = v;
    } else if (w[0] == "low" && has) {
      z->low_pages = v;
    } else if (w[0] == "high" && has) {
      z->high_pages = v;
    } else if (w[0] == "spanned" && has) {
      z->spanned_pages = v;
    } else if (w[0] == "present" && has) {
      z->present_pages = v;
    } else if (w[0] == "managed" && has) {
      z->managed_pages = v;
    } else if (w[0] == "protection:") {
      z->lowmem_reserve_pages.clear();
      for (std::size_t i = 1; i < w.size(); ++i) {
        if (num(w[i], v)) z->lowmem_reserve_pages.push_back(v);
      }
    }
  }
  finish();
  std::vector<traces::ZoneInfo> populated;
  for (auto& zone : zones) {
    if (zone.spanned_pages > 0) populated.push_back(std::move(zone));
  }
  return populated;
}

}  // namespace labyrinth::replay
