#include "labyrinth/traces/page_event.hpp"

#include <array>
#include <string>

namespace labyrinth::traces {
namespace {

constexpr std::array<std::string_view, kEventKindCount> kKindNames = {
    "alloc",   "free",          "free_batched", "pcp_refill", "pcp_drain",
    "extfrag", "isolate",       "reclaim_begin", "reclaim_end", "pageblock_move",
    "zone_counters", "kswapd_wake", "kswapd_sleep"};
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
    {"bpf", "zone_counters"},           // read in the failing allocation's own mm_page_alloc
    {"vmscan", "mm_vmscan_kswapd_wake"},
    {"vmscan", "mm_vmscan_kswapd_sleep"},
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

// The counters ride in fields a ZoneCounters event does not otherwise use.
ZoneCounters zone_counters_of(const PageEvent& e) {
  ZoneCounters c;
  c.node = e.migratetype;
  c.zone_index = e.order;
  c.free_pages = e.pfn;
  c.lists = e.gfp;
  c.highatomic_free = e.range_pages;
  c.highatomic_reserved = e.taken_pages;
  c.boost = e.reclaimed_pages;
  if (e.tid != 0) c.free_diffs = static_cast<std::int32_t>(e.pid);
  return c;
}

PageEvent zone_counters_event(std::uint64_t ts_ns, std::uint16_t cpu, const ZoneCounters& c) {
  PageEvent e;
  e.kind = EventKind::ZoneCounters;
  e.ts_ns = ts_ns;
  e.cpu = cpu;
  e.migratetype = static_cast<std::int8_t>(c.node);
  e.order = static_cast<std::uint8_t>(c.zone_index);
  e.pfn = c.free_pages;
  e.gfp = c.lists;
  e.range_pages = c.highatomic_free;
  e.taken_pages = c.highatomic_reserved;
  e.reclaimed_pages = c.boost;
  if (c.free_diffs) {  // tid says the diffs were read
    e.pid = static_cast<std::uint32_t>(*c.free_diffs);
    e.tid = 1;
  }
  return e;
}

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
