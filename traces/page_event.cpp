#include "labyrinth/traces/page_event.hpp"

#include <array>

namespace labyrinth::traces {
namespace {

constexpr std::array<std::string_view, kEventKindCount> kKindNames = {
    "alloc", "free", "free_batched", "pcp_refill", "pcp_drain", "extfrag", "isolate"};
constexpr std::array<std::string_view, kExecContextCount> kContextNames = {
    "task", "softirq", "hardirq", "nmi", "unknown"};

}  // namespace

std::string_view to_string(EventKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kKindNames.size() ? kKindNames[index] : "invalid";
}

std::string_view to_string(ExecContext ctx) {
  const auto index = static_cast<std::size_t>(ctx);
  return index < kContextNames.size() ? kContextNames[index] : "invalid";
}

bool parse_event_kind(std::string_view name, EventKind& out) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) {
      out = static_cast<EventKind>(i);
      return true;
    }
  }
  return false;
}

bool parse_exec_context(std::string_view name, ExecContext& out) {
  for (std::size_t i = 0; i < kContextNames.size(); ++i) {
    if (kContextNames[i] == name) {
      out = static_cast<ExecContext>(i);
      return true;
    }
  }
  return false;
}

}  // namespace labyrinth::traces
