#include "labyrinth/replay/report_common.hpp"

#include <fmt/core.h>

#include "labyrinth/version.hpp"

namespace labyrinth::replay {

using nlohmann::ordered_json;

ordered_json tool_json(const std::string& command) {
  return ordered_json{{"name", "labyrinth"}, {"version", LABYRINTH_VERSION}, {"command", command}};
}

ordered_json kernel_json(const traces::TraceHeader& h) {
  return ordered_json{{"release", h.kernel_release},
                      {"machine", h.machine},
                      {"page_size_bytes", h.page_size},
                      {"max_order", h.max_order},
                      {"pageblock_order", h.pageblock_order},
                      {"nr_cpus", h.nr_cpus},
                      {"gfp_table_source", std::string(traces::to_string(h.gfp_table_source))},
                      {"migratetype_names", h.migratetype_names}};
}

ordered_json data_quality_json(const DataQualityCounters& quality) {
  ordered_json out = ordered_json::array();
  for (std::size_t i = 0; i < kDataQualityCount; ++i) {
    const auto& meta = info(static_cast<DataQuality>(i));
    out.push_back(ordered_json{{"name", meta.name},
                               {"severity", std::string(to_string(meta.severity))},
                               {"value", quality.values[i]},
                               {"description", meta.description}});
  }
  return out;
}

void print_data_quality(std::FILE* out, const DataQualityCounters& quality,
                        const std::vector<MissingAttachPoint>& missing) {
  bool any = false;
  for (const Severity severity : {Severity::Error, Severity::DataLoss, Severity::Info}) {
    for (std::size_t i = 0; i < kDataQualityCount; ++i) {
      const auto& meta = info(static_cast<DataQuality>(i));
      if (meta.severity != severity || quality.values[i] == 0) continue;
      if (!any) fmt::print(out, "\nData quality\n");
      any = true;
      fmt::print(out, "  {:<10} {:>12}  {} ({})\n", to_string(meta.severity), quality.values[i], meta.name,
                 meta.description);
      if (static_cast<DataQuality>(i) != DataQuality::missing_attach_points) continue;
      for (const auto& m : missing) {
        fmt::print(out, "      {}{}: {}\n", m.name, m.reason.empty() ? "" : " (" + m.reason + ")", m.cost);
      }
    }
  }
  if (quality.lossy()) {
    fmt::print(out, "  => the trace lost data: counts above are lower bounds\n");
  }
}

std::string format_duration_ns(std::uint64_t ns) {
  if (ns >= 1'000'000'000ull) return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
  if (ns >= 1'000'000ull) return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6);
  if (ns >= 1'000ull) return fmt::format("{:.3f} us", static_cast<double>(ns) / 1e3);
  return fmt::format("{} ns", ns);
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / double(1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / double(1ull << 20));
  if (bytes >= (1ull << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
  return fmt::format("{} B", bytes);
}

nlohmann::ordered_json kernel_counters_json(const KernelCounterCheck& c) {
  if (!c.available) return nullptr;
  return nlohmann::ordered_json{{"seconds", static_cast<double>(c.ns) / 1e9},
                                {"kernel_allocated_pages", c.kernel_allocated_pages},
                                {"trace_allocated_pages", c.trace_allocated_pages},
                                {"untraced_allocated_pages", c.untraced_allocated_pages()},
                                {"kernel_freed_pages", c.kernel_freed_pages},
                                {"trace_freed_pages", c.trace_freed_pages},
                                {"untraced_freed_pages", c.untraced_freed_pages()},
                                {"compact_stall", c.compact_stall},
                                {"compact_success", c.compact_success},
                                {"compact_fail", c.compact_fail},
                                {"compact_isolated", c.compact_isolated},
                                {"allocstall", c.allocstall},
                                {"pgsteal_direct", c.pgsteal_direct},
                                {"pageoutrun", c.pageoutrun}};
}

nlohmann::ordered_json kernel_compaction_json(const KernelCounterCheck& c) {
  if (!c.available) return nullptr;
  return nlohmann::ordered_json{{"compact_stall", c.compact_stall},
                                {"compact_success", c.compact_success},
                                {"compact_fail", c.compact_fail},
                                {"compact_isolated", c.compact_isolated}};
}

void print_kernel_counters(std::FILE* out, const KernelCounterCheck& c, std::string_view indent) {
  if (!c.available) return;
  fmt::print(out, "{}kernel counters (/proc/vmstat over {:.3f} s) against the trace's events:\n", indent, static_cast<double>(c.ns) / 1e9);
  auto row = [out, indent](const char* what, std::uint64_t kernel, std::uint64_t trace, std::int64_t diff,
                           const char* fewer, const char* more) {
    fmt::print(out, "{}  pages {:<10} kernel {:>12}  trace {:>12}  ", indent, what, kernel, trace);
    if (diff > 0) {
      fmt::print(out, "{} with no event ({})\n", diff, fewer);
    } else if (diff < 0) {
      fmt::print(out, "{} more in the trace ({})\n", -diff, more);
    } else {
      fmt::print(out, "all traced\n");
    }
  };
  constexpr const char* kApart = "events while the counters were read";
  row("allocated", c.kernel_allocated_pages, c.trace_allocated_pages, c.untraced_allocated_pages(),
      "alloc_pages_bulk's pages, allocations no tracepoint reports, tasks no BPF program runs in, lost events",
      c.compact_success != 0 ? "blocks direct compaction captured for its caller, which pgalloc does not count" : kApart);
  row("freed", c.kernel_freed_pages, c.trace_freed_pages, c.untraced_freed_pages(),
      "frees no tracepoint reports, tasks no BPF program runs in, lost events", kApart);
  if (c.compact_stall != 0 || c.compact_isolated != 0) {
    fmt::print(out, "{}  compaction: {} direct stalls ({} succeeded, {} failed), {} pages isolated by its two scanners\n",
               indent, c.compact_stall, c.compact_success, c.compact_fail, c.compact_isolated);
  }
  if (c.allocstall != 0) {
    fmt::print(out, "{}  direct reclaim: {} passes (allocstall; a reclaim that retries counts again), {} LRU pages freed "
               "(pgsteal_direct)\n", indent, c.allocstall, c.pgsteal_direct);
  }
  if (c.pageoutrun != 0) fmt::print(out, "{}  kswapd: {} balance_pgdat passes (pageoutrun)\n", indent, c.pageoutrun);
}

}  // namespace labyrinth::replay
