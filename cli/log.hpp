// Diagnostics on stderr: "labyrinth: error: ...", with -v levels.
#pragma once

#include <fmt/core.h>

#include <cstdio>
#include <string_view>

namespace labyrinth::cli {

int verbosity();
void set_verbosity(int level);

void print_error(std::string_view message);
void print_warning(std::string_view message);
void print_hint(std::string_view message);
void print_debug(int level, std::string_view message);

template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  print_error(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
  print_warning(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void hint(fmt::format_string<Args...> format, Args&&... args) {
  print_hint(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(int level, fmt::format_string<Args...> format, Args&&... args) {
  if (verbosity() >= level) print_debug(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace labyrinth::cli
