#include "labyrinth/procfs/free_blocks.hpp"

#include <algorithm>

#include "labyrinth/common/text.hpp"

namespace labyrinth::procfs {
namespace {

using common::parse_number;

std::vector<std::string_view> words(std::string_view line) { return common::split_words(line, " \t,"); }

// A block count; pagetypeinfo caps large ones as ">100000".
bool count(std::string_view s, std::uint64_t& out) {
  if (!s.empty() && s.front() == '>') s.remove_prefix(1);
  return parse_number(s, out);
}

// The counts in tok[first..]; false when one is not a number (the line is not a table row).
bool counts(const std::vector<std::string_view>& tok, std::size_t first, std::vector<std::uint64_t>& out) {
  out.clear();
  for (std::size_t i = first; i < tok.size(); ++i) {
    std::uint64_t v = 0;
    if (!count(tok[i], v)) return false;
    out.push_back(v);
  }
  return true;
}

}  // namespace

std::vector<BuddyinfoRow> parse_buddyinfo(std::string_view text) {
  std::vector<BuddyinfoRow> rows;
  common::for_each_line(text, [&](std::string_view line) {
    const auto tok = words(line);
    if (tok.size() < 5 || tok[0] != "Node" || tok[2] != "zone") return;
    BuddyinfoRow row;
    if (!parse_number(tok[1], row.node)) return;
    row.zone = std::string(tok[3]);
    if (!counts(tok, 4, row.free_blocks)) return;
    rows.push_back(std::move(row));
  });
  return rows;
}

PagetypeInfo parse_pagetypeinfo(std::string_view text) {
  PagetypeInfo info;
  enum class Section { None, Free, Blocks, Other } section = Section::None;
  auto zone_of = [&](int node, std::string_view name) -> PagetypeZone& {
    for (auto& z : info.zones)
      if (z.node == node && z.zone == name) return z;
    info.zones.push_back({node, std::string(name), {}, {}});
    return info.zones.back();
  };
  common::for_each_line(text, [&](std::string_view line) {
    const auto tok = words(line);
    if (tok.empty()) return;
    if (tok.size() >= 4 && tok[0] == "Page" && tok[1] == "block" && tok[2] == "order:") {
      std::uint64_t v = 0;
      if (count(tok[3], v)) info.pageblock_order = static_cast<std::uint32_t>(v);
      return;
    }
    if (tok[0] == "Free" && line.find("migrate type") != std::string_view::npos) {
      section = Section::Free;
      return;
    }
    if (tok[0] == "Number") {
      section = line.find("blocks type") != std::string_view::npos ? Section::Blocks : Section::Other;
      if (section == Section::Blocks && info.migratetype_names.empty()) {
        for (std::size_t i = 3; i < tok.size(); ++i) info.migratetype_names.emplace_back(tok[i]);
      }
      return;
    }
    if (tok[0] != "Node" || tok.size() < 4 || tok[2] != "zone") return;
    int node = 0;
    if (!parse_number(tok[1], node)) return;
    if (section == Section::Free && tok.size() >= 6 && tok[4] == "type") {
      std::vector<std::uint64_t> row;
      if (!counts(tok, 6, row)) return;
      auto& z = zone_of(node, tok[3]);
      z.free_blocks.push_back(std::move(row));
      if (info.zones.size() == 1) {
        // the first zone's rows name every migratetype in enum order
        const std::string name(tok[5]);
        if (std::find(info.migratetype_names.begin(), info.migratetype_names.end(), name) ==
            info.migratetype_names.end())
          info.migratetype_names.push_back(name);
      }
    } else if (section == Section::Blocks) {
      auto& z = zone_of(node, tok[3]);
      if (!counts(tok, 4, z.pageblocks)) return;
    }
  });
  return info;
}

}  // namespace labyrinth::procfs
