// Small text jobs every parser needs, written once: trimming, splitting into words and
// lines, whole-string numbers, joining, and the text of an errno value.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace labyrinth::common {

// Blanks: space, tab and the ends of lines (a CRLF line keeps its '\r' otherwise).
inline constexpr std::string_view kBlanks = " \t\r\n";

std::string_view trim_left(std::string_view s, std::string_view chars = kBlanks);
std::string_view trim_right(std::string_view s, std::string_view chars = kBlanks);
std::string_view trim(std::string_view s, std::string_view chars = kBlanks);

// The non-empty pieces of `line` between any of `separators`.
std::vector<std::string_view> split_words(std::string_view line, std::string_view separators = " \t");

// Calls f(line) for every line of `text`, without its '\n'; a last line without '\n' counts.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
}

// The whole of `s` as a decimal number: no blanks, no trailing text, a sign only for signed T.
template <typename T>
bool parse_number(std::string_view s, T& out) {
  static_assert(std::is_integral_v<T>);
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end && !s.empty();
}

// "a<sep>b<sep>c"; numbers are written in decimal.
template <typename Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    first = false;
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(item)>>) {
      out += std::to_string(item);
    } else {
      out += item;
    }
  }
  return out;
}

// strerror's text of an errno value; a negative value (libbpf's -errno) counts as its opposite.
std::string errno_text(int err);

}  // namespace labyrinth::common
