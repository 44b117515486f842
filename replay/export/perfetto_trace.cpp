#include "labyrinth/replay/perfetto_trace.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <iterator>
#include <optional>

namespace labyrinth::replay {

void ExtfragEvents::add(std::span<const traces::PageEvent> events) {
  for (const auto& e : events) {
    if (e.kind != traces::EventKind::Extfrag) continue;
    ++seen_;
    if (kept_.size() < kMaxInstants) kept_.push_back(e);
  }
}

namespace {

using nlohmann::ordered_json;

// pids and tids of the tracks: one process for the replay, one per zone. Viewers take tids as
// system-wide, as Linux does (Perfetto's process tracker would see a tid shared by two pids
// as one thread moving between them), so a thread's tid is its pid * 100 + its number, and
// counters and names of a process sit on its main thread (tid == pid).
constexpr int kReplayPid = 1;
constexpr int kFirstZonePid = 10;
constexpr int kKeyframeThread = 1;
constexpr int kUnzonedFailureThread = 2;
constexpr int kFailureThread = 1;
constexpr int kExtfragThread = 2;
constexpr int tid_of(int pid, int thread) { return pid * 100 + thread; }

std::uint64_t u64(const ordered_json& j) { return j.is_number_unsigned() ? j.get<std::uint64_t>() : 0; }

struct ZoneTrack {
  std::uint64_t node = 0;
  std::string zone;
  std::uint64_t start_pfn = 0, end_pfn = 0;
  int pid = 0;
};

// The traceEvents array, written as text as it goes: a document tree of tens of thousands of
// small events costs more to build and free than the replay that made them.
class TraceEvents {
 public:
  explicit TraceEvents(std::uint64_t origin_ns) : origin_(origin_ns) {}

  void name_process(int pid, const std::string& name, int sort_index) {
    metadata(pid, pid, "process_name", ordered_json{{"name", name}});
    metadata(pid, pid, "process_sort_index", ordered_json{{"sort_index", sort_index}});
  }
  void name_thread(int pid, int thread, const std::string& name) {
    metadata(pid, tid_of(pid, thread), "thread_name", ordered_json{{"name", name}});
  }
  void counter(int pid, std::string_view name, std::uint64_t ts_ns, const ordered_json& args) {
    event(name, "C", {}, {}, ts_ns, pid, pid, args);
  }
  // scope: "t" on the thread's track, "g" across the whole trace.
  void instant(int pid, int thread, std::string_view name, std::string_view category, std::uint64_t ts_ns,
               std::string_view scope, const ordered_json& args) {
    event(name, "i", category, scope, ts_ns, pid, tid_of(pid, thread), args);
  }
  std::string take() { return std::move(text_); }

 private:
  static std::string quoted(std::string_view s) {
    return ordered_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  void metadata(int pid, int tid, std::string_view what, const ordered_json& args) {
    event(what, "M", {}, {}, std::nullopt, pid, tid, args);
  }
  // ts in microseconds since the origin with nanosecond digits; earlier instants (a start
  // snapshot) are put at 0. Metadata events carry ts 0.
  void event(std::string_view name, std::string_view ph, std::string_view category, std::string_view scope,
             std::optional<std::uint64_t> ts_ns, int pid, int tid, const ordered_json& args) {
    const std::uint64_t rel = ts_ns && *ts_ns > origin_ ? *ts_ns - origin_ : 0;
    text_ += text_.empty() ? "\n" : ",\n";
    fmt::format_to(std::back_inserter(text_), R"({{"name":{},"ph":"{}",)", quoted(name), ph);
    if (!category.empty()) fmt::format_to(std::back_inserter(text_), R"("cat":{},)", quoted(category));
    if (!scope.empty()) fmt::format_to(std::back_inserter(text_), R"("s":"{}",)", scope);
    fmt::format_to(std::back_inserter(text_), R"("ts":{}.{:03},"pid":{},"tid":{},"args":{}}})", rel / 1000, rel % 1000,
                   pid, tid, args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  std::uint64_t origin_;
  std::string text_;
};

std::vector<ZoneTrack> zone_tracks(const ordered_json& doc) {
  std::vector<ZoneTrack> zones;
  for (const auto& z : doc["config"]["zones"]) {
    const std::uint64_t start = u64(z["start_pfn"]);
    zones.push_back(ZoneTrack{u64(z["node"]), z["zone"].get<std::string>(), start, start + u64(z["spanned_pages"]),
                              kFirstZonePid + static_cast<int>(zones.size())});
  }
  return zones;
}

const ZoneTrack* find_zone(const std::vector<ZoneTrack>& zones, std::uint64_t node, const std::string& name) {
  for (const auto& z : zones)
    if (z.node == node && z.zone == name) return &z;
  return nullptr;
}

const ZoneTrack* zone_of_pfn(const std::vector<ZoneTrack>& zones, std::uint64_t pfn) {
  for (const auto& z : zones)
    if (pfn >= z.start_pfn && pfn < z.end_pfn) return &z;
  return nullptr;
}

void watermark_counters(TraceEvents& out, int pid, std::uint64_t ts_ns, std::uint64_t min, std::uint64_t low,
                        std::uint64_t high, std::uint64_t boost) {
  // Separate tracks: chrome://tracing stacks the series of one counter event.
  out.counter(pid, "min watermark", ts_ns, {{"pages", min}});
  out.counter(pid, "low watermark", ts_ns, {{"pages", low}});
  out.counter(pid, "high watermark", ts_ns, {{"pages", high}});
  out.counter(pid, "watermark boost", ts_ns, {{"pages", boost}});
}

// The watermarks in force: the model's at the start; mirror takes the kernel's from every
// keyframe on (replay.hpp, Replayer::set_keyframes).
void write_watermarks(TraceEvents& out, const ordered_json& doc, const std::vector<ZoneTrack>& zones,
                      const std::vector<traces::Snapshot>& keyframes) {
  const std::uint64_t first = u64(doc["capture"]["first_ts_ns"]);
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const auto& z = doc["config"]["zones"][i];
    watermark_counters(out, zones[i].pid, first, u64(z["min_pages"]), u64(z["low_pages"]), u64(z["high_pages"]),
                       u64(z["boost_pages"]));
  }
  if (doc["config"]["mode"] != "mirror") return;
  std::vector<const traces::Snapshot*> sorted;
  for (const auto& k : keyframes)
    if (k.present) sorted.push_back(&k);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->ts_ns < b->ts_ns; });
  for (const auto* k : sorted)
    for (const auto& zs : k->zones) {
      if (zs.high_pages == 0) continue;  // not read: the model keeps its own (model_setup.cpp:follow_zone_levels)
      if (const ZoneTrack* z = find_zone(zones, static_cast<std::uint64_t>(zs.node), zs.zone)) {
        watermark_counters(out, z->pid, std::max(k->ts_ns, first), zs.min_pages, zs.low_pages, zs.high_pages,
                           zs.boost_pages);
      }
    }
}

void write_timeline(TraceEvents& out, const ordered_json& doc, const std::vector<ZoneTrack>& zones) {
  for (const auto& tz : doc["timeline"]["zones"]) {
    const ZoneTrack* z = find_zone(zones, u64(tz["node"]), tz["zone"].get<std::string>());
    if (z == nullptr) continue;
    for (const auto& s : tz["samples"]) {
      const std::uint64_t t = u64(s["ts_ns"]);
      out.counter(z->pid, "free pages", t, {{"pages", s["free_pages"]}});
      out.counter(z->pid, "pcp pages", t, {{"pages", s["pcp_pages"]}});
      out.counter(z->pid, "highatomic free pages", t, {{"pages", s["highatomic_free_pages"]}});
      ordered_json blocks = ordered_json::object();
      const auto& nr = s["free_blocks_by_order"];
      for (std::size_t o = 0; o < nr.size(); ++o) blocks[fmt::format("order {:02}", o)] = nr[o];
      out.counter(z->pid, "free blocks", t, std::move(blocks));
      const auto& ui = s["unusable_index_permille"];
      for (std::size_t o = 0; o < ui.size(); ++o) {
        out.counter(z->pid, fmt::format("unusable index order {:02}", o), t, {{"ratio", ui[o].get<int>() / 1000.0}});
      }
      out.counter(z->pid, "largest free order", t, {{"order", s["largest_free_order"]}});
      out.counter(z->pid, "mixed pageblocks", t, {{"pageblocks", s["mixed_pageblocks"]}});
      out.counter(z->pid, "atomic failures", t, {{"failures", s["atomic_failures"]}});
    }
  }
}

// Failures with their forensics (the report's failure records) as args.
std::uint64_t write_failures(TraceEvents& out, const ordered_json& doc, const std::vector<ZoneTrack>& zones) {
  const bool simulate = doc["config"]["mode"] == "simulate";
  std::uint64_t written = 0;
  for (const auto& f : doc["failures"]["items"]) {
    if (written == kMaxInstants) break;
    const ZoneTrack* z = f["zone"].is_object() ? find_zone(zones, u64(f["zone"]["node"]), f["zone"]["zone"].get<std::string>())
                                               : nullptr;
    ordered_json args = f;
    args.erase("ts_ns");
    args.erase("offset_ns");
    const std::string name = fmt::format("{} order {} {} ({})", simulate ? "predicted failure" : "failure",
                                         u64(f["order"]), f["class"].get<std::string>(), f["cause"].get<std::string>());
    out.instant(z != nullptr ? z->pid : kReplayPid, z != nullptr ? kFailureThread : kUnzonedFailureThread, name, "failure",
                u64(f["ts_ns"]), "t", std::move(args));
    ++written;
  }
  return written;
}

std::string migratetype_name(const ordered_json& names, int mt) {
  if (mt < 0) return "unknown";
  const auto i = static_cast<std::size_t>(mt);
  return i < names.size() ? names[i].get<std::string>() : "type" + std::to_string(mt);
}

std::uint64_t write_extfrag(TraceEvents& out, const ordered_json& doc, const std::vector<ZoneTrack>& zones,
                   const ExtfragEvents& extfrag) {
  std::vector<traces::PageEvent> events = extfrag.kept();
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.ts_ns < b.ts_ns; });
  const ordered_json& names = doc["kernel"]["migratetype_names"];
  const std::uint64_t pageblock_order = u64(doc["kernel"]["pageblock_order"]);
  std::uint64_t written = 0;
  for (const auto& e : events) {
    const ZoneTrack* z = zone_of_pfn(zones, e.pfn);
    if (z == nullptr) continue;  // counted by the replay's data quality (outside_zones)
    const std::string wanted = migratetype_name(names, e.migratetype);
    const std::string taken = migratetype_name(names, e.fallback_migratetype);
    out.instant(z->pid, kExtfragThread, fmt::format("extfrag {} from {}", wanted, taken), "extfrag", e.ts_ns, "t",
                {{"pfn", fmt::format("{:#x}", e.pfn)},
                 {"alloc_order", e.order},
                 {"fallback_order", e.fallback_order},
                 {"alloc_migratetype", wanted},
                 {"fallback_migratetype", taken},
                 {"change_ownership", e.change_ownership},
                 // mm/page_alloc.c: a fallback smaller than a pageblock mixes types in the block
                 {"fragmenting", e.fallback_order < pageblock_order},
                 {"cpu", e.cpu},
                 {"pid", e.pid}});
    ++written;
  }
  return written;
}

void write_keyframes(TraceEvents& out, const ordered_json& doc) {
  for (const auto& k : doc["keyframes"]["series"]) {
    ordered_json args = k;
    args.erase("ts_ns");
    out.instant(kReplayPid, kKeyframeThread, k["passed"].get<bool>() ? "keyframe: model matches" : "keyframe: model differs",
                "keyframe", u64(k["ts_ns"]), "g", std::move(args));
  }
}

}  // namespace

std::string perfetto_trace_json(const ordered_json& doc, const std::vector<traces::Snapshot>& keyframes,
                                const ExtfragEvents& extfrag) {
  const std::uint64_t origin = u64(doc["capture"]["first_ts_ns"]);
  const std::string mode = doc["config"]["mode"].get<std::string>();
  TraceEvents out(origin);
  const std::vector<ZoneTrack> zones = zone_tracks(doc);

  out.name_process(kReplayPid, fmt::format("labyrinth replay ({}): {}", mode, doc["capture"]["trace"].get<std::string>()), 0);
  out.name_thread(kReplayPid, kKeyframeThread, "keyframes");
  out.name_thread(kReplayPid, kUnzonedFailureThread, "failures in no zone");
  for (const auto& z : zones) {
    out.name_process(z.pid, fmt::format("zone {}/{}", z.node, z.zone), z.pid);
    out.name_thread(z.pid, kFailureThread, mode == "simulate" ? "predicted failures" : "failures");
    out.name_thread(z.pid, kExtfragThread, "extfrag (migratetype fallbacks)");
  }
  write_watermarks(out, doc, zones, keyframes);
  write_timeline(out, doc, zones);
  const std::uint64_t failures_written = write_failures(out, doc, zones);
  const std::uint64_t extfrag_written = write_extfrag(out, doc, zones, extfrag);
  write_keyframes(out, doc);

  const ordered_json other{
      {"tool", doc["tool"]},
      {"trace", doc["capture"]["trace"]},
      {"mode", mode},
      {"ts_origin_ns", origin},  // trace clock of ts 0
      {"timeline_kept_interval_ns", doc["timeline"]["kept_interval_ns"]},
      {"failures_total", doc["failures"]["total"]},
      {"failures_written", failures_written},
      {"extfrag_total", extfrag.seen()},
      {"extfrag_written", extfrag_written},
  };
  return "{\"traceEvents\":[" + out.take() + "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":" +
         other.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}\n";
}

}  // namespace labyrinth::replay
