#include "labyrinth/traces/trace_metadata.hpp"

#include "labyrinth/traces/metadata_json.hpp"

#include <algorithm>

namespace labyrinth::traces {

using nlohmann::json;

std::vector<std::string> default_migratetype_names() {
  // include/linux/mmzone.h:migratetype_names (Linux >= 4.4, CMA and isolation configured).
  return {"Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"};
}

std::string node_zone_name(const TraceHeader& header, unsigned index) {
  // include/linux/mmzone.h:enum zone_type on x86-64 (ZONE_DMA, ZONE_DMA32, ZONE_NORMAL,
  // ZONE_MOVABLE, ZONE_DEVICE).
  static const std::vector<std::string> x86_64 = {"DMA", "DMA32", "Normal", "Movable", "Device"};
  const auto& names = header.node_zone_names.empty() ? x86_64 : header.node_zone_names;
  return index < names.size() ? names[index] : std::string();
}

json parse_metadata(std::string_view text) {
  return json::parse(text.begin(), text.end(), [](int, json::parse_event_t event, json& value) {
    if (event == json::parse_event_t::value && value.is_number_float()) {
      throw json::out_of_range::create(406, "a number with a fraction or exponent, where only integers belong", nullptr);
    }
    return true;
  });
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
  f.losses = j.value("losses", CaptureLosses{});
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
