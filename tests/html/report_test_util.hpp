// Helpers of the report tests: counting occurrences in a page, a trace with failures.
#pragma once

#include <string>
#include <string_view>

namespace labyrinth::html::testing {

inline std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Nothing in the page may make a browser fetch or run anything.
inline std::string offline_violation(const std::string& page) {
  std::string lower(page);
  for (char& ch : lower) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  for (const char* bad : {"<script", "src=", "@import", "url(", "<link", "<iframe", "<object", "<embed", "https:",
                          "javascript:", "onload=", "onerror="}) {
    if (lower.find(bad) != std::string::npos) return bad;
  }
  // The only http: is the SVG namespace name, which is never fetched.
  std::size_t http = 0, ns = 0;
  http = occurrences(lower, "http:");
  ns = occurrences(lower, "http://www.w3.org/2000/svg\"");
  return http == ns ? std::string() : std::string("http:");
}

}  // namespace labyrinth::html::testing
