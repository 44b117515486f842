// Parsing sizes ("512M", "2G", "4096", "1.5GiB") and durations ("100ms", "2s", "1m", "500us",
// "250000ns") given on the command line. Strict: no sign, no trailing garbage, no overflow;
// every error says what was wrong and what is accepted. Header-only so that fuzz targets and
// tests can use it without linking the command.
#pragma once

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labyrinth::cli {

struct ParsedUnit {
  std::uint64_t value = 0;
  std::string error;  // empty on success
  [[nodiscard]] bool ok() const { return error.empty(); }
};

namespace units_detail {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "1.5GiB" into the number "1.5" and the suffix "gib" (lower case, spaces trimmed).
inline bool split(std::string_view text, std::string_view& number, std::string& suffix) {
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  text = text.substr(b, e - b);
  std::size_t i = 0;
  bool dot = false;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !dot))) {
    dot = dot || text[i] == '.';
    ++i;
  }
  number = text.substr(0, i);
  std::string_view rest = text.substr(i);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  suffix = lower(rest);
  return !number.empty() && number != ".";
}

// number * multiplier, exactly for integers, rounded for fractions; nullopt on overflow.
inline std::optional<std::uint64_t> scale(std::string_view number, std::uint64_t multiplier) {
  const auto dot = number.find('.');
  std::uint64_t whole = 0;
  const std::string_view w = number.substr(0, dot);
  if (!w.empty()) {
    const auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), whole);
    if (ec != std::errc() || p != w.data() + w.size()) return std::nullopt;
  }
  if (multiplier != 0 && whole > UINT64_MAX / multiplier) return std::nullopt;
  std::uint64_t result = whole * multiplier;
  if (dot != std::string_view::npos) {
    const std::string_view frac = number.substr(dot + 1);
    if (frac.size() > 18) return std::nullopt;
    std::uint64_t f = 0, den = 1;
    for (const char c : frac) {
      f = f * 10 + static_cast<std::uint64_t>(c - '0');
      den *= 10;
    }
    const long double add = static_cast<long double>(f) * static_cast<long double>(multiplier) / static_cast<long double>(den);
    const auto extra = static_cast<std::uint64_t>(std::llround(add));
    if (result > UINT64_MAX - extra) return std::nullopt;
    result += extra;
  }
  return result;
}

}  // namespace units_detail

// Bytes: a number with an optional binary suffix K, M, G, T (also KB/KiB/...: all powers of
// 1024, as memory sizes are) or B. "512M" = 536870912.
inline ParsedUnit parse_size(std::string_view text) {
  std::string_view number;
  std::string suffix;
  const std::string shown(text);
  if (!units_detail::split(text, number, suffix)) {
    return {0, "'" + shown + "' is not a size: use a number with an optional K, M, G or T suffix (e.g. 512M, 2G)"};
  }
  std::uint64_t mult = 0;
  if (suffix.empty() || suffix == "b") mult = 1;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib") mult = 1ull << 10;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib") mult = 1ull << 20;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib") mult = 1ull << 30;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib") mult = 1ull << 40;
  else return {0, "'" + shown + "': unknown size suffix '" + suffix + "' (use K, M, G or T)"};
  const auto v = units_detail::scale(number, mult);
  if (!v) return {0, "'" + shown + "' is too large"};
  return {*v, {}};
}

// Nanoseconds: a number with a unit ns, us, ms, s, m (minutes), h. A bare number is seconds.
inline ParsedUnit parse_duration(std::string_view text) {
  std::string_view number;
  std::string suffix;
  const std::string shown(text);
  if (!units_detail::split(text, number, suffix)) {
    return {0, "'" + shown + "' is not a duration: use a number with a unit ns, us, ms, s, m or h (e.g. 100ms, 2s)"};
  }
  std::uint64_t mult = 0;
  if (suffix == "ns") mult = 1;
  else if (suffix == "us" || suffix == "\xc2\xb5s") mult = 1'000;
  else if (suffix == "ms") mult = 1'000'000;
  else if (suffix.empty() || suffix == "s" || suffix == "sec") mult = 1'000'000'000;
  else if (suffix == "m" || suffix == "min") mult = 60'000'000'000;
  else if (suffix == "h") mult = 3'600'000'000'000;
  else return {0, "'" + shown + "': unknown duration unit '" + suffix + "' (use ns, us, ms, s, m or h)"};
  const auto v = units_detail::scale(number, mult);
  if (!v) return {0, "'" + shown + "' is too long"};
  return {*v, {}};
}

}  // namespace labyrinth::cli
