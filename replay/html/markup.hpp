// Writing HTML and SVG text: escaping of every string that comes from a trace (process
// names, call sites, paths are attacker-controlled), and compact number formatting for
// coordinates and labels. Not a public header.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace labyrinth::html {

// Text or attribute value safe inside HTML and inline SVG: & < > " ' escaped, control
// characters and invalid UTF-8 replaced by U+FFFD.
std::string escape(std::string_view text);

// A coordinate with at most one decimal ("12", "12.5"): most of an SVG's bytes are these.
std::string px(double v);

// A count for a label: 950, 12.3k, 4.56M, 7.8G.
std::string count(double v);

// A value with a binary unit for pages: "512 MiB".
std::string pages_as_bytes(std::uint64_t pages, std::uint64_t page_size);

// A count as a coordinate factor (the conversion is exact for anything a chart holds).
inline double dbl(std::uint64_t v) { return static_cast<double>(v); }

// An append-only document.
class Markup {
 public:
  template <typename... Args>
  void put(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), format, std::forward<Args>(args)...);
  }
  void raw(std::string_view s) { out_.append(s); }
  void text(std::string_view s) { out_.append(escape(s)); }
  [[nodiscard]] const std::string& str() const { return out_; }
  [[nodiscard]] std::string take() { return std::move(out_); }
  [[nodiscard]] std::size_t size() const { return out_.size(); }

 private:
  std::string out_;
};

}  // namespace labyrinth::html
