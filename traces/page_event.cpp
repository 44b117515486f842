#include "labyrinth/traces/page_event.hpp"

#include <array>
#include <string>

namespace labyrinth::traces {
namespace {

constexpr std::array<std::string_view, kEventKindCount> kKindNames = {
    "alloc",   "free",          "free_batched", "pcp_refill", "pcp_drain",
    "extfrag", "isolate",       "reclaim_begin", "reclaim_end", "pageblock_move"};
struct Tracepoint {
  std::string_view system;
  std::string_view name;
};
constexpr std::array<Tracepoint, kEventKindCount> kTracepoints = {{
    {"kmem", "mm_page_alloc"},
    {"kmem", "mm_page_free"},
    {"kmem", "mm_page_free_batched"},
    {"kmem", "mm_page_alloc_zone_locked"},
    {"kmem", "mm_page_pcpu_drain"},
    {"kmem", "mm_page_alloc_extfrag"},
    {"compaction", "mm_compaction_isolate_freepages"},
    {"vmscan", "mm_vmscan_direct_reclaim_begin"},
    {"vmscan", "mm_vmscan_direct_reclaim_end"},
    {"fexit", "move_freepages_block"},  // a function, not a tracepoint: no capture has it
}};
constexpr std::array<std::string_view, kExecContextCount> kContextNames = {
    "task", "softirq", "hardirq", "nmi", "unknown"};
struct TaskStateName {
  std::uint8_t bit;
  std::string_view name;
};
constexpr std::array<TaskStateName, 3> kTaskStateNames = {
    TaskStateName{kTaskMemalloc, "memalloc"}, TaskStateName{kTaskRealtime, "rt"},
    TaskStateName{kTaskOomVictim, "oom"}};

}  // namespace

std::string_view to_string(EventKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kKindNames.size() ? kKindNames[index] : "invalid";
}

std::string_view tracepoint_system(EventKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kTracepoints.size() ? kTracepoints[index].system : "";
}

std::string_view tracepoint_name(EventKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kTracepoints.size() ? kTracepoints[index].name : "";
}

std::string tracepoint_of(EventKind kind) {
  return std::string(tracepoint_system(kind)) + ":" + std::string(tracepoint_name(kind));
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

std::string task_state_names(std::uint8_t state) {
  std::string out;
  for (const auto& [bit, name] : kTaskStateNames) {
    if ((state & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

bool parse_task_state(std::string_view names, std::uint8_t& out) {
  out = 0;
  while (!names.empty()) {
    const std::size_t comma = names.find(',');
    const std::string_view name = names.substr(0, comma);
    bool known = false;
    for (const auto& [bit, known_name] : kTaskStateNames) {
      if (name == known_name) {
        out = static_cast<std::uint8_t>(out | bit);
        known = true;
      }
    }
    if (!known) return false;
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
  }
  return true;
}

}  // namespace labyrinth::traces
