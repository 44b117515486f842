#include "labyrinth/common/text.hpp"

#include <cstring>

namespace labyrinth::common {

std::string_view trim_left(std::string_view s, std::string_view chars) {
  const auto first = s.find_first_not_of(chars);
  return first == std::string_view::npos ? std::string_view{} : s.substr(first);
}

std::string_view trim_right(std::string_view s, std::string_view chars) {
  const auto last = s.find_last_not_of(chars);
  return last == std::string_view::npos ? std::string_view{} : s.substr(0, last + 1);
}

std::string_view trim(std::string_view s, std::string_view chars) { return trim_right(trim_left(s, chars), chars); }

std::vector<std::string_view> split_words(std::string_view line, std::string_view separators) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    i = line.find_first_not_of(separators, i);
    if (i == std::string_view::npos) break;
    std::size_t j = line.find_first_of(separators, i);
    if (j == std::string_view::npos) j = line.size();
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace labyrinth::common
