#include "labyrinth/procfs/vmstat.hpp"

#include <charconv>

namespace labyrinth::procfs {

std::map<std::string, std::uint64_t> parse_vmstat(std::string_view text) {
  std::map<std::string, std::uint64_t> out;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    const std::size_t space = line.find(' ');
    if (space == 0 || space == std::string_view::npos) continue;
    const std::string_view value = line.substr(space + 1);
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size()) continue;
    out.emplace(std::string(line.substr(0, space)), v);
  }
  return out;
}

}  // namespace labyrinth::procfs
