#include "log.hpp"

namespace labyrinth::cli {
namespace {
int g_verbosity = 0;
}

int verbosity() { return g_verbosity; }
void set_verbosity(int level) { g_verbosity = level; }

void print_error(std::string_view message) { fmt::print(stderr, "labyrinth: error: {}\n", message); }
void print_warning(std::string_view message) { fmt::print(stderr, "labyrinth: warning: {}\n", message); }
void print_hint(std::string_view message) { fmt::print(stderr, "labyrinth: hint: {}\n", message); }
void print_debug(int level, std::string_view message) {
  fmt::print(stderr, "labyrinth: debug{}: {}\n", level, message);
}

}  // namespace labyrinth::cli
