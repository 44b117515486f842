#include "labyrinth/replay/openmetrics_report.hpp"

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "labyrinth/allocator/metrics.hpp"

namespace labyrinth::replay {
namespace {

using common::MetricLabels;
using common::MetricsDialect;
using common::MetricsWriter;
using common::MetricType;
using nlohmann::ordered_json;

// One metric family: the same definition whichever command writes it, so that files of
// stat and replay in one textfile directory agree on help and type.
struct Family {
  std::string_view name;
  MetricType type;
  std::string_view unit;
  std::string_view help;
};

constexpr Family kEvents{"labyrinth_trace_events", MetricType::Counter, "", "Page events read from the trace"};
constexpr Family kDuration{"labyrinth_trace_duration_seconds", MetricType::Gauge, "seconds",
                           "Trace time from the first event to the last"};
constexpr Family kComplete{"labyrinth_trace_complete", MetricType::Gauge, "",
                           "1 when the trace was read to its footer, 0 when it is damaged or cut short"};
constexpr Family kAllocations{"labyrinth_allocations", MetricType::Counter, "", "Successful page allocations"};
constexpr Family kAllocatedBytes{"labyrinth_allocated_bytes", MetricType::Counter, "bytes",
                                 "Memory handed out by successful page allocations"};
constexpr Family kFrees{"labyrinth_frees", MetricType::Counter, "", "Page frees"};
constexpr Family kFreedBytes{"labyrinth_freed_bytes", MetricType::Counter, "bytes", "Memory given back by page frees"};
constexpr Family kAllocationsByOrder{"labyrinth_allocations_by_order", MetricType::Counter, "",
                                     "Successful page allocations by order and requested migratetype"};
constexpr Family kAllocatedBytesByOrder{"labyrinth_allocated_by_order_bytes", MetricType::Counter, "bytes",
                                        "Memory handed out by order and requested migratetype"};
constexpr Family kFailuresByOrder{"labyrinth_allocation_failures", MetricType::Counter, "",
                                  "Failed page allocations by order (replay simulate: predicted failures)"};
constexpr Family kFailedBytesByOrder{"labyrinth_allocation_failed_bytes", MetricType::Counter, "bytes",
                                     "Memory asked for by failed page allocations, by order"};
constexpr Family kFailuresByClass{"labyrinth_allocation_failures_by_class", MetricType::Counter, "",
                                  "Failed page allocations by caller class (atomic, opportunistic, costly, other)"};
constexpr Family kFailuresByContext{"labyrinth_allocation_failures_by_context", MetricType::Counter, "",
                                    "Failed page allocations by execution context"};
constexpr Family kFailuresByCause{"labyrinth_allocation_failures_by_cause", MetricType::Counter, "",
                                  "Failed page allocations by caller class and cause found by the replay's forensics"};
constexpr Family kExtfrag{"labyrinth_extfrag_events", MetricType::Counter, "",
                          "Migratetype fallbacks (kmem:mm_page_alloc_extfrag)"};
constexpr Family kDataQuality{"labyrinth_data_quality_events", MetricType::Counter, "",
                              "Imperfections of the trace by data-quality counter; severity data_loss and error "
                              "mean the results miss events"};
constexpr Family kFreeBlocks{"labyrinth_zone_free_blocks", MetricType::Gauge, "",
                             "Free buddy blocks by zone and order at the end (/proc/buddyinfo)"};
constexpr Family kFreeBytes{"labyrinth_zone_free_bytes", MetricType::Gauge, "bytes",
                            "Free memory of the zone at the end (NR_FREE_PAGES)"};
constexpr Family kWatermarks{"labyrinth_zone_watermark_bytes", MetricType::Gauge, "bytes",
                             "The zone's min, low and high watermarks and watermark boost"};
constexpr Family kUnusable{"labyrinth_zone_unusable_free_ratio", MetricType::Gauge, "ratio",
                           "Unusable free index by order at the end: the share of free memory in blocks smaller "
                           "than the order (mm/vmstat.c)"};
constexpr Family kFragmentation{"labyrinth_zone_fragmentation_index", MetricType::Gauge, "",
                                "Fragmentation index by order at the end (/sys/kernel/debug/extfrag/"
                                "extfrag_index): towards 1 a failure would be due to fragmentation, towards 0 to "
                                "lack of memory; -1 when a block of the order is free"};
constexpr Family kMixed{"labyrinth_zone_mixed_pageblocks", MetricType::Gauge, "",
                        "Pageblocks holding pages of another migratetype than their own, at the end"};
constexpr Family kValidationPassed{"labyrinth_validation_passed", MetricType::Gauge, "",
                                   "Mirror: 1 when the model's end state matched the recorded end snapshot"};
constexpr Family kValidationError{"labyrinth_validation_free_error_ratio", MetricType::Gauge, "ratio",
                                  "Mirror: relative error of the model's free pages against the end snapshot"};

std::uint64_t u64(const ordered_json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer()) return j.get<std::int64_t>() < 0 ? 0 : static_cast<std::uint64_t>(j.get<std::int64_t>());
  return 0;
}

// The writer with the `source` label put first on every sample.
class Metrics {
 public:
  Metrics(MetricsDialect dialect, std::string source) : writer_(dialect), source_(std::move(source)) {}
  void family(const Family& f) { writer_.family(f.name, f.type, f.help, f.unit); }
  template <typename Value>
  void add(MetricLabels labels, Value value) {
    labels.insert(labels.begin(), {"source", source_});
    writer_.sample(labels, value);
  }
  std::string finish() { return writer_.finish(); }

 private:
  MetricsWriter writer_;
  std::string source_;
};

// One zone's state at the end, from a snapshot (stat) or the model (replay).
struct ZoneEnd {
  MetricLabels labels;  // node, zone
  std::vector<std::uint64_t> free_blocks;
  std::uint64_t free_pages = 0;
  std::optional<std::array<std::uint64_t, 4>> watermark_pages;  // min, low, high, boost
  std::vector<int> unusable_permille, fragmentation_permille;
  std::optional<std::uint64_t> mixed_pageblocks;
};

MetricLabels zone_labels(const ordered_json& node, const std::string& zone) {
  return {{"node", std::to_string(u64(node))}, {"zone", zone}};
}

MetricLabels with(MetricLabels labels, std::string name, std::string value) {
  labels.emplace_back(std::move(name), std::move(value));
  return labels;
}

void write_capture(Metrics& m, const ordered_json& doc) {
  const ordered_json& capture = doc["capture"];
  m.family(kEvents);
  m.add({}, u64(capture["events"]));
  m.family(kDuration);
  m.add({}, static_cast<double>(u64(capture["duration_ns"])) / 1e9);
  m.family(kComplete);
  m.add({}, std::uint64_t{capture["complete"].get<bool>() ? 1u : 0u});
}

void write_totals(Metrics& m, const ordered_json& summary, std::uint64_t page_size) {
  m.family(kAllocations);
  m.add({}, u64(summary["allocations"]));
  m.family(kAllocatedBytes);
  m.add({}, u64(summary["allocated_bytes"]));
  m.family(kFrees);
  m.add({}, u64(summary["frees"]));
  m.family(kFreedBytes);
  m.add({}, u64(summary["freed_pages"]) * page_size);
  m.family(kExtfrag);
  m.add({}, u64(summary["extfrag_events"]));
}

// Rows with "order", "failures", "failed_pages" (stat's failures.by_order, replay's
// breakdowns.failures_by_order).
void write_failures_by_order(Metrics& m, const ordered_json& rows, std::uint64_t page_size) {
  m.family(kFailuresByOrder);
  for (const auto& row : rows) m.add({{"order", std::to_string(u64(row["order"]))}}, u64(row["failures"]));
  m.family(kFailedBytesByOrder);
  for (const auto& row : rows) m.add({{"order", std::to_string(u64(row["order"]))}}, u64(row["failed_pages"]) * page_size);
}

void write_failures_by_class_and_context(Metrics& m, const ordered_json& by_class, const ordered_json& context_rows) {
  m.family(kFailuresByClass);
  for (const auto& [cls, t] : by_class.items()) m.add({{"class", cls}}, u64(t["failures"]));
  m.family(kFailuresByContext);
  for (const auto& row : context_rows) m.add({{"context", row["context"].get<std::string>()}}, u64(row["failures"]));
}

void write_data_quality(Metrics& m, const ordered_json& quality) {
  m.family(kDataQuality);
  for (const auto& q : quality) {
    m.add({{"counter", q["name"].get<std::string>()}, {"severity", q["severity"].get<std::string>()}}, u64(q["value"]));
  }
}

void write_zones(Metrics& m, const std::vector<ZoneEnd>& zones, std::uint64_t page_size) {
  if (zones.empty()) return;
  m.family(kFreeBlocks);
  for (const auto& z : zones)
    for (std::size_t o = 0; o < z.free_blocks.size(); ++o) m.add(with(z.labels, "order", std::to_string(o)), z.free_blocks[o]);
  m.family(kFreeBytes);
  for (const auto& z : zones) m.add(z.labels, z.free_pages * page_size);
  m.family(kWatermarks);
  static constexpr std::array<const char*, 4> kLevels{"min", "low", "high", "boost"};
  for (const auto& z : zones) {
    if (!z.watermark_pages) continue;
    for (std::size_t i = 0; i < kLevels.size(); ++i) m.add(with(z.labels, "level", kLevels[i]), (*z.watermark_pages)[i] * page_size);
  }
  m.family(kUnusable);
  for (const auto& z : zones)
    for (std::size_t o = 0; o < z.unusable_permille.size(); ++o)
      m.add(with(z.labels, "order", std::to_string(o)), z.unusable_permille[o] / 1000.0);
  m.family(kFragmentation);
  for (const auto& z : zones)
    for (std::size_t o = 0; o < z.fragmentation_permille.size(); ++o)
      m.add(with(z.labels, "order", std::to_string(o)), z.fragmentation_permille[o] / 1000.0);
  bool any_mixed = false;
  for (const auto& z : zones) any_mixed = any_mixed || z.mixed_pageblocks.has_value();
  if (!any_mixed) return;
  m.family(kMixed);
  for (const auto& z : zones)
    if (z.mixed_pageblocks) m.add(z.labels, *z.mixed_pageblocks);
}

// A snapshot's zones, with the indices computed from its buddyinfo by the allocator's
// mm/vmstat.c formulas (the same functions the replay's timeline uses).
std::vector<ZoneEnd> snapshot_zones(const traces::Snapshot& snapshot, const traces::TraceHeader& header) {
  const auto max_order = static_cast<unsigned>(header.max_order);
  std::vector<ZoneEnd> zones;
  if (!snapshot.present) return zones;
  for (const auto& zs : snapshot.zones) {
    if (zs.buddyinfo.empty()) continue;
    ZoneEnd z;
    z.labels = {{"node", std::to_string(zs.node)}, {"zone", zs.zone}};
    z.free_blocks = zs.buddyinfo;
    z.free_pages = zs.free_pages;
    // A snapshot without watermarks (high 0: not read) leaves the header's, from the start.
    if (zs.high_pages != 0) {
      z.watermark_pages = std::array<std::uint64_t, 4>{zs.min_pages, zs.low_pages, zs.high_pages, zs.boost_pages};
    } else {
      for (const auto& hz : header.zones)
        if (hz.node == zs.node && hz.name == zs.zone && hz.high_pages != 0)
          z.watermark_pages = std::array<std::uint64_t, 4>{hz.min_pages, hz.low_pages, hz.high_pages, hz.boost_pages};
    }
    for (unsigned o = 0; o < zs.buddyinfo.size(); ++o) {
      const auto info = allocator::fill_contig_page_info(zs.buddyinfo, o);
      z.unusable_permille.push_back(allocator::unusable_free_index(o, info));
      z.fragmentation_permille.push_back(allocator::fragmentation_index(o, info, max_order));
    }
    zones.push_back(std::move(z));
  }
  return zones;
}

std::vector<int> ints(const ordered_json& array) {
  std::vector<int> out;
  for (const auto& v : array) out.push_back(v.get<int>());
  return out;
}

// The model's zones at the end: the last timeline sample of each, the watermarks in force.
std::vector<ZoneEnd> model_zones(const ordered_json& doc) {
  std::vector<ZoneEnd> zones;
  const ordered_json& config_zones = doc["config"]["zones"];
  for (const auto& tz : doc["timeline"]["zones"]) {
    if (tz["samples"].empty()) continue;
    const ordered_json& last = tz["samples"].back();
    ZoneEnd z;
    z.labels = zone_labels(tz["node"], tz["zone"].get<std::string>());
    for (const auto& v : last["free_blocks_by_order"]) z.free_blocks.push_back(u64(v));
    z.free_pages = u64(last["free_pages"]);
    for (const auto& cz : config_zones) {
      if (cz["node"] == tz["node"] && cz["zone"] == tz["zone"]) {
        z.watermark_pages = std::array<std::uint64_t, 4>{u64(cz["min_pages"]), u64(cz["low_pages"]),
                                                          u64(cz["high_pages"]), u64(cz["boost_pages"])};
      }
    }
    z.unusable_permille = ints(last["unusable_index_permille"]);
    z.fragmentation_permille = ints(last["fragmentation_index_permille"]);
    z.mixed_pageblocks = u64(last["mixed_pageblocks"]);
    zones.push_back(std::move(z));
  }
  return zones;
}

}  // namespace

std::string stat_openmetrics(const ordered_json& doc, const traces::TraceHeader& header, const traces::Snapshot& zones_state,
                             MetricsDialect dialect) {
  const std::uint64_t page_size = u64(doc["kernel"]["page_size_bytes"]);
  Metrics m(dialect, "stat");
  write_capture(m, doc);
  write_totals(m, doc["summary"], page_size);
  m.family(kAllocationsByOrder);
  const ordered_json& rows = doc["breakdowns"]["order_migratetype"];
  const auto order_type = [](const ordered_json& row) {
    return MetricLabels{{"order", std::to_string(u64(row["order"]))}, {"migratetype", row["migratetype"].get<std::string>()}};
  };
  for (const auto& row : rows) m.add(order_type(row), u64(row["allocations"]));
  m.family(kAllocatedBytesByOrder);
  for (const auto& row : rows) m.add(order_type(row), u64(row["allocated_bytes"]));
  write_failures_by_order(m, doc["failures"]["by_order"], page_size);
  write_failures_by_class_and_context(m, doc["summary"]["failures_by_class"], doc["failures"]["by_context"]);
  write_data_quality(m, doc["data_quality"]);
  write_zones(m, snapshot_zones(zones_state, header), page_size);
  return m.finish();
}

std::string replay_openmetrics(const ordered_json& doc, MetricsDialect dialect) {
  const std::uint64_t page_size = u64(doc["kernel"]["page_size_bytes"]);
  Metrics m(dialect, doc["config"]["mode"].get<std::string>());
  write_capture(m, doc);
  const ordered_json& summary = doc["summary"];
  write_totals(m, summary, page_size);
  write_failures_by_order(m, doc["breakdowns"]["failures_by_order"], page_size);
  write_failures_by_class_and_context(m, summary["failures_by_class"], doc["breakdowns"]["failures_by_context"]);
  m.family(kFailuresByCause);
  for (const auto& [cls, t] : summary["failures_by_class"].items())
    for (const auto& [cause, n] : t["by_cause"].items()) m.add({{"class", cls}, {"cause", cause}}, u64(n));
  write_data_quality(m, doc["data_quality"]);
  write_zones(m, model_zones(doc), page_size);
  const ordered_json& validation = doc["validation"];
  if (validation["available"].get<bool>()) {
    m.family(kValidationPassed);
    m.add({}, std::uint64_t{validation["passed"].get<bool>() ? 1u : 0u});
    m.family(kValidationError);
    const ordered_json& error = validation["free_relative_error"];  // a NaN would have been written as null
    if (error.is_number()) m.add({}, error.get<double>());
  }
  return m.finish();
}

}  // namespace labyrinth::replay
