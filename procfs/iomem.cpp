#include "labyrinth/procfs/iomem.hpp"

#include <algorithm>
#include <charconv>

#include "labyrinth/common/text.hpp"

namespace labyrinth::procfs {
namespace {

bool parse_hex(std::string_view s, std::uint64_t& out) {
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out, 16);
  return r.ec == std::errc() && r.ptr == end && !s.empty();
}

}  // namespace

std::vector<PfnRange> parse_iomem_system_ram(std::string_view text, std::uint64_t page_size) {
  std::vector<PfnRange> ranges;
  common::for_each_line(text, [&](std::string_view line) {
    // "  00100000-bfffffff : System RAM": start and end (inclusive) in hex, then the name
    const auto colon = line.find(" : ");
    if (colon == std::string_view::npos) return;
    const std::string_view name = line.substr(colon + 3);
    if (name.substr(0, 10) != "System RAM") return;
    const std::string_view span = common::trim(line.substr(0, colon));
    const auto dash = span.find('-');
    std::uint64_t first = 0, last = 0;
    if (dash == std::string_view::npos || !parse_hex(span.substr(0, dash), first) ||
        !parse_hex(span.substr(dash + 1), last) || last < first || last == 0)
      return;
    ranges.push_back({first / page_size, last / page_size + 1});
  });
  std::sort(ranges.begin(), ranges.end(), [](const PfnRange& a, const PfnRange& b) { return a.start < b.start; });
  std::vector<PfnRange> joined;
  for (const PfnRange& r : ranges) {
    if (!joined.empty() && r.start <= joined.back().end) {
      joined.back().end = std::max(joined.back().end, r.end);
    } else {
      joined.push_back(r);
    }
  }
  return joined;
}

}  // namespace labyrinth::procfs
