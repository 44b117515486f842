#include "labyrinth/traces/trace_metadata.hpp"

#include "labyrinth/traces/metadata_json.hpp"

#include <algorithm>

namespace labyrinth::traces {

using nlohmann::json;

std::vector<std::string> default_migratetype_names() {
  // include/linux/mmzone.h:migratetype_names (Linux >= 4.4, CMA and isolation configured).
  return {"Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"};
}

void to_json(json& j, const GfpTable& table) {
  j = json::array();
  for (const auto& entry : table.entries()) j.push_back({{"mask", entry.mask}, {"name", entry.name}});
}

void from_json(const json& j, GfpTable& table) {
  std::vector<GfpFlagName> entries;
  for (const auto& item : j) entries.push_back({item.at("mask").get<std::uint64_t>(), item.at("name").get<std::string>()});
  table = GfpTable(std::move(entries));
}

void to_json(json& j, const ZoneInfo& z) {
  j = json{{"node", z.node},
           {"name", z.name},
           {"start_pfn", z.start_pfn},
           {"spanned_pages", z.spanned_pages},
           {"present_pages", z.present_pages},
           {"managed_pages", z.managed_pages},
           {"min_pages", z.min_pages},
           {"low_pages", z.low_pages},
           {"high_pages", z.high_pages},
           {"boost_pages", z.boost_pages},
           {"lowmem_reserve_pages", z.lowmem_reserve_pages},
           {"pcp_high", z.pcp_high},
           {"pcp_batch", z.pcp_batch},
           {"pcp_count_pages", z.pcp_count_pages},
           {"free_pages", z.free_pages}};
}

void from_json(const json& j, ZoneInfo& z) {
  z.node = j.value("node", 0);
  z.name = j.value("name", std::string{});
  z.start_pfn = j.value("start_pfn", std::uint64_t{0});
  z.spanned_pages = j.value("spanned_pages", std::uint64_t{0});
  z.present_pages = j.value("present_pages", std::uint64_t{0});
  z.managed_pages = j.value("managed_pages", std::uint64_t{0});
  z.min_pages = j.value("min_pages", std::uint64_t{0});
  z.low_pages = j.value("low_pages", std::uint64_t{0});
  z.high_pages = j.value("high_pages", std::uint64_t{0});
  z.boost_pages = j.value("boost_pages", std::uint64_t{0});
  z.lowmem_reserve_pages = j.value("lowmem_reserve_pages", std::vector<std::uint64_t>{});
  z.pcp_high = j.value("pcp_high", std::uint64_t{0});
  z.pcp_batch = j.value("pcp_batch", std::uint64_t{0});
  z.pcp_count_pages = j.value("pcp_count_pages", std::uint64_t{0});
  z.free_pages = j.value("free_pages", std::uint64_t{0});
}

void to_json(json& j, const ZoneSnapshot& z) {
  j = json{{"node", z.node},
           {"zone", z.zone},
           {"buddyinfo", z.buddyinfo},
           {"pagetype_free", z.pagetype_free},
           {"pageblocks_by_type", z.pageblocks_by_type},
           {"free_pages", z.free_pages},
           {"pcp_pages", z.pcp_pages},
           {"min_pages", z.min_pages},
           {"low_pages", z.low_pages},
           {"high_pages", z.high_pages},
           {"boost_pages", z.boost_pages},
           {"managed_pages", z.managed_pages}};
}

void from_json(const json& j, ZoneSnapshot& z) {
  z.node = j.value("node", 0);
  z.zone = j.value("zone", std::string{});
  z.buddyinfo = j.value("buddyinfo", std::vector<std::uint64_t>{});
  z.pagetype_free = j.value("pagetype_free", std::vector<std::vector<std::uint64_t>>{});
  z.pageblocks_by_type = j.value("pageblocks_by_type", std::vector<std::uint64_t>{});
  z.free_pages = j.value("free_pages", std::uint64_t{0});
  z.pcp_pages = j.value("pcp_pages", std::uint64_t{0});
  z.min_pages = j.value("min_pages", std::uint64_t{0});
  z.low_pages = j.value("low_pages", std::uint64_t{0});
  z.high_pages = j.value("high_pages", std::uint64_t{0});
  z.boost_pages = j.value("boost_pages", std::uint64_t{0});
  z.managed_pages = j.value("managed_pages", std::uint64_t{0});
}

void to_json(json& j, const TraceHeader& h) {
  j = json{{"tool", h.tool},
           {"tool_version", h.tool_version},
           {"source", h.source},
           {"kernel_release", h.kernel_release},
           {"machine", h.machine},
           {"hostname", h.hostname},
           {"page_size", h.page_size},
           {"max_order", h.max_order},
           {"pageblock_order", h.pageblock_order},
           {"nr_cpus", h.nr_cpus},
           {"clock", h.clock},
           {"start_time_unix_ns", h.start_time_unix_ns},
           {"start_ts_ns", h.start_ts_ns},
           {"gfp_table", h.gfp_table},
           {"gfp_table_source", std::string(to_string(h.gfp_table_source))},
           {"migratetype_names", h.migratetype_names},
           {"zones", h.zones},
           {"vm_sysctls", h.vm_sysctls},
           {"command", h.command},
           {"events", h.events},
           {"missing_events", h.missing_events},
           {"options", h.options}};
}

void from_json(const json& j, TraceHeader& h) {
  h.tool = j.value("tool", std::string{"labyrinth"});
  h.tool_version = j.value("tool_version", std::string{});
  h.source = j.value("source", std::string{});
  h.kernel_release = j.value("kernel_release", std::string{});
  h.machine = j.value("machine", std::string{});
  h.hostname = j.value("hostname", std::string{});
  h.page_size = j.value("page_size", 4096u);
  h.max_order = j.value("max_order", 10u);
  h.pageblock_order = j.value("pageblock_order", 9u);
  h.nr_cpus = j.value("nr_cpus", 0u);
  h.clock = j.value("clock", std::string{"boot"});
  h.start_time_unix_ns = j.value("start_time_unix_ns", std::uint64_t{0});
  h.start_ts_ns = j.value("start_ts_ns", std::uint64_t{0});
  if (j.contains("gfp_table")) j.at("gfp_table").get_to(h.gfp_table);
  const auto source = j.value("gfp_table_source", std::string{"built-in"});
  h.gfp_table_source = source == "format-file"      ? GfpTableSource::FormatFile
                       : source == "running-kernel" ? GfpTableSource::RunningKernel
                       : source == "trace"          ? GfpTableSource::Trace
                                                    : GfpTableSource::BuiltIn;
  h.migratetype_names = j.value("migratetype_names", default_migratetype_names());
  if (j.contains("zones")) j.at("zones").get_to(h.zones);
  h.vm_sysctls = j.value("vm_sysctls", std::map<std::string, std::string>{});
  h.command = j.value("command", std::vector<std::string>{});
  h.events = j.value("events", std::vector<std::string>{});
  h.missing_events = j.value("missing_events", std::vector<std::string>{});
  h.options = j.value("options", std::map<std::string, std::string>{});
}

void to_json(json& j, const CaptureLosses& l) {
  j = json{{"ringbuf_drops", l.ringbuf_drops},         {"recursion_misses", l.recursion_misses},
           {"lost_events", l.lost_events},             {"lines_skipped", l.lines_skipped},
           {"lines_other_events", l.lines_other_events}, {"stacks_lost", l.stacks_lost}};
}

void from_json(const json& j, CaptureLosses& l) {
  l.ringbuf_drops = j.value("ringbuf_drops", std::uint64_t{0});
  l.recursion_misses = j.value("recursion_misses", std::uint64_t{0});
  l.lost_events = j.value("lost_events", std::uint64_t{0});
  l.lines_skipped = j.value("lines_skipped", std::uint64_t{0});
  l.lines_other_events = j.value("lines_other_events", std::uint64_t{0});
  l.stacks_lost = j.value("stacks_lost", std::uint64_t{0});
}

void to_json(json& j, const TraceFooter& f) {
  j = json{{"events", f.events},
           {"events_by_kind", f.events_by_kind},
           {"first_ts_ns", f.first_ts_ns},
           {"last_ts_ns", f.last_ts_ns},
           {"end_time_unix_ns", f.end_time_unix_ns},
           {"losses", f.losses},
           {"exit_status", f.exit_status},
           {"stop_reason", f.stop_reason}};
}

void from_json(const json& j, TraceFooter& f) {
  f.present = true;
  f.events = j.value("events", std::uint64_t{0});
  // Older traces count fewer kinds, newer ones may count more.
  const auto by_kind = j.value("events_by_kind", std::vector<std::uint64_t>{});
  f.events_by_kind = {};
  for (std::size_t k = 0; k < std::min(by_kind.size(), f.events_by_kind.size()); ++k) f.events_by_kind[k] = by_kind[k];
  f.first_ts_ns = j.value("first_ts_ns", std::uint64_t{0});
  f.last_ts_ns = j.value("last_ts_ns", std::uint64_t{0});
  f.end_time_unix_ns = j.value("end_time_unix_ns", std::uint64_t{0});
  if (j.contains("losses")) j.at("losses").get_to(f.losses);
  f.exit_status = j.value("exit_status", 0);
  f.stop_reason = j.value("stop_reason", std::string{});
}

std::vector<std::uint64_t> decompose_free_runs(const std::vector<FreeRun>& runs, unsigned max_order,
                                               std::uint64_t first_pfn, std::uint64_t end_pfn) {
  std::vector<std::uint64_t> blocks(max_order + 1, 0);
  for (const auto& r : runs) {
    std::uint64_t p = std::max(r.start_pfn, first_pfn);
    const std::uint64_t e = std::min(r.start_pfn + r.pages, end_pfn);
    while (p < e) {
      unsigned k = 0;
      while (k < max_order && (p & ((std::uint64_t{1} << (k + 1)) - 1)) == 0 &&
             p + (std::uint64_t{1} << (k + 1)) <= e)
        ++k;
      ++blocks[k];
      p += std::uint64_t{1} << k;
    }
  }
  return blocks;
}

}  // namespace labyrinth::traces
