// Parsing `labyrinth record -e LIST`: "alloc,free,extfrag", tracepoint names
// ("kmem:mm_page_alloc", "mm_page_free"), "default" or "all". Only with the eBPF recorder.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::cli {

struct ParsedEvents {
  std::vector<traces::EventKind> kinds;  // in the order given, without repeats
  std::string error;                     // empty on success
  [[nodiscard]] bool ok() const { return error.empty(); }
};

ParsedEvents parse_event_list(std::string_view list);

}  // namespace labyrinth::cli
