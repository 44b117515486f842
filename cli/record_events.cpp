#include "record_events.hpp"

#include <algorithm>

#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/ebpf/record_session.hpp"

namespace labyrinth::cli {
namespace {

std::string known_names() {
  std::string out;
  for (const auto& spec : ebpf::tracepoint_specs()) {
    if (!out.empty()) out += ", ";
    out += spec.short_name;
  }
  return out;
}

}  // namespace

ParsedEvents parse_event_list(std::string_view list) {
  ParsedEvents out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string item(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    std::vector<traces::EventKind> add;
    if (item == "default") {
      add = ebpf::default_record_events();
    } else if (item == "all") {
      for (const auto& s : ebpf::tracepoint_specs()) add.push_back(s.kind);
    } else if (item == "reclaim") {  // a direct reclaim is the pair
      add = {traces::EventKind::ReclaimBegin, traces::EventKind::ReclaimEnd};
    } else if (item == "kswapd") {  // kswapd's passes: wake and sleep
      add = {traces::EventKind::KswapdWake, traces::EventKind::KswapdSleep};
    } else if (const ebpf::TracepointSpec* s = ebpf::find_tracepoint(item)) {
      add.push_back(s->kind);
    } else {
      return {{}, "unknown event '" + item + "' (known: " + known_names() + ", reclaim, kswapd, default, all)"};
    }
    for (const auto k : add)
      if (std::find(out.kinds.begin(), out.kinds.end(), k) == out.kinds.end()) out.kinds.push_back(k);
  }
  if (out.kinds.empty()) out.error = "no event given";
  return out;
}

}  // namespace labyrinth::cli
