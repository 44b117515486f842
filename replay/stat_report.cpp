#include "labyrinth/replay/stat_report.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "labyrinth/replay/report_common.hpp"

namespace labyrinth::replay {

using nlohmann::ordered_json;

namespace {

ordered_json tally_json(const Tally& t, std::uint32_t page_size) {
  return ordered_json{{"allocations", t.allocations},
                      {"allocated_pages", t.pages},
                      {"allocated_bytes", t.pages * page_size},
                      {"failures", t.failures},
                      {"failed_pages", t.failed_pages},
                      {"frees", t.frees},
                      {"freed_pages", t.freed_pages}};
}

ordered_json rows_json(const std::vector<Row>& rows, std::uint32_t page_size, const char* kind) {
  ordered_json out = ordered_json::array();
  for (const Row& row : rows) {
    ordered_json item;
    const std::string k = kind;
    if (k == "order_mt") {
      item["order"] = row.order;
      item["migratetype"] = row.migratetype;
    } else if (k == "order") {
      item["order"] = row.order;
    } else if (k == "gfp") {
      item["gfp"] = row.key;
      item["gfp_bits"] = row.bits;
    } else if (k == "process") {
      item["pid"] = row.pid;
      item["comm"] = row.key;
    } else {
      item[k] = row.key;
    }
    item.update(tally_json(row.tally, page_size));
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

ordered_json stat_to_json(const StatResult& r) {
  const std::uint32_t ps = r.header.page_size;
  ordered_json doc;
  doc["schema_version"] = kReportSchemaVersion;
  doc["tool"] = tool_json("stat");
  doc["kernel"] = kernel_json(r.header);
  doc["capture"] = capture_json(r);
  doc["config"] = ordered_json{{"callsite_depth", r.callsite_depth}};
  ordered_json classes;
  for (int c = 0; c < kFailureClassCount; ++c) {
    classes[std::string(to_string(static_cast<FailureClass>(c)))] =
        ordered_json{{"failures", r.failures_by_class[static_cast<std::size_t>(c)]},
                     {"failed_pages", r.failed_pages_by_class[static_cast<std::size_t>(c)]}};
  }
  doc["summary"] = ordered_json{
      {"allocations", r.total.allocations},
      {"allocated_pages", r.total.pages},
      {"allocated_bytes", r.total.pages * ps},
      {"frees", r.total.frees},
      {"freed_pages", r.total.freed_pages},
      {"freed_bytes", r.total.freed_pages * ps},
      {"failures", r.total.failures},
      {"failed_pages", r.total.failed_pages},
      {"failed_bytes", r.total.failed_pages * ps},
      {"failures_by_class", classes},
      {"alloc_freed", r.alloc_freed},
      {"alloc_only", r.alloc_only},
      {"free_only", r.free_only},
      {"batched_frees", r.batched_frees},
      {"pcp_refills", r.pcp_refills},
      {"pcp_refill_pages", r.pcp_refill_pages},
      {"pcp_drains", r.pcp_drains},
      {"pcp_drain_pages", r.pcp_drain_pages},
      {"extfrag_events", r.extfrag},
      {"extfrag_fragmenting", r.extfrag_fragmenting},
      {"extfrag_ownership_changes", r.extfrag_ownership_changes}};
  doc["breakdowns"] = ordered_json{{"order_migratetype", rows_json(r.by_order_migratetype, ps, "order_mt")},
                                   {"gfp", rows_json(r.by_gfp, ps, "gfp")},
                                   {"context", rows_json(r.by_context, ps, "context")},
                                   {"process", rows_json(r.by_process, ps, "process")},
                                   {"callsite", rows_json(r.by_callsite, ps, "callsite")}};
  doc["failures"] = ordered_json{{"by_order", rows_json(r.failures_by_order, ps, "order")},
                                 {"by_gfp", rows_json(r.failures_by_gfp, ps, "gfp")},
                                 {"by_context", rows_json(r.failures_by_context, ps, "context")},
                                 {"by_process", rows_json(r.failures_by_process, ps, "process")}};
  doc["kernel_counters"] = kernel_counters_json(r.kernel_counters);
  doc["data_quality"] = data_quality_json(r.quality);
  return doc;
}

namespace {

// Which breakdowns count frees: a free event names its page and order, the task that frees
// and its context, but not the migratetype, GFP flags or call site of the allocation it ends,
// so those tables leave the column out rather than show a column of zeros.
enum class FreesColumn { Shown, Omitted };

void print_rows(std::FILE* out, const std::string& title, const std::string& key_title, const std::vector<Row>& rows,
                std::uint32_t page_size, bool show_pid, FreesColumn frees = FreesColumn::Omitted) {
  if (rows.empty()) return;
  // The pid column is as wide as the widest pid shown (pid_max allows 7 digits), and two
  // spaces keep it apart from the comm.
  std::size_t pid_width = 3;
  for (const Row& row : rows) pid_width = std::max(pid_width, std::to_string(row.pid).size());
  fmt::print(out, "\n{}\n", title);
  const bool with_frees = frees == FreesColumn::Shown;
  fmt::print(out, "  {:>12} {:>12} {:>10}{}  {}{}\n", "allocs", "bytes", "failures",
             with_frees ? fmt::format(" {:>9}", "frees") : std::string(),
             show_pid ? fmt::format("{:<{}}  ", "pid", pid_width) : std::string(), key_title);
  for (const Row& row : rows) {
    const std::string pid = show_pid ? fmt::format("{:<{}}  ", row.pid, pid_width) : std::string();
    fmt::print(out, "  {:>12} {:>12} {:>10}{}  {}{}\n", row.tally.allocations,
               format_bytes(row.tally.pages * page_size), row.tally.failures,
               with_frees ? fmt::format(" {:>9}", row.tally.frees) : std::string(), pid, row.key);
  }
}

}  // namespace

void print_stat_text(std::FILE* out, const StatResult& r) {
  const std::uint32_t ps = r.header.page_size;
  const std::uint64_t duration = r.duration_ns();
  fmt::print(out, "labyrinth stat: {}\n", r.trace_path);
  fmt::print(out, "  kernel {} ({}), {} CPUs, source {}, GFP table {}\n",
             r.header.kernel_release.empty() ? "unknown" : r.header.kernel_release,
             r.header.machine.empty() ? "?" : r.header.machine, r.header.nr_cpus, r.header.source,
             traces::to_string(r.header.gfp_table_source));
  fmt::print(out, "  {} events over {} ({} .. {} ns){}\n", r.events, format_duration_ns(duration), r.first_ts_ns,
             r.last_ts_ns, r.complete ? "" : "  [INCOMPLETE]");
  if (!r.damage.empty()) fmt::print(out, "  damage: {}\n", r.damage);
  print_kernel_counters(out, r.kernel_counters, "  ");

  fmt::print(out, "\nSummary\n");
  fmt::print(out, "  allocations       {:>12}  {:>12}\n", r.total.allocations, format_bytes(r.total.pages * ps));
  fmt::print(out, "  frees             {:>12}  {:>12}\n", r.total.frees, format_bytes(r.total.freed_pages * ps));
  fmt::print(out, "  failures          {:>12}  {:>12}\n", r.total.failures, format_bytes(r.total.failed_pages * ps));
  for (int c = 0; c < kFailureClassCount; ++c) {
    const auto n = r.failures_by_class[static_cast<std::size_t>(c)];
    if (n != 0) fmt::print(out, "    {:<15} {:>12}\n", to_string(static_cast<FailureClass>(c)), n);
  }
  fmt::print(out, "  alloc+freed       {:>12}\n", r.alloc_freed);
  fmt::print(out, "  alloc-only        {:>12}  (still allocated at the end)\n", r.alloc_only);
  fmt::print(out, "  free-only         {:>12}  (freed, never seen allocated)\n", r.free_only);
  if (r.batched_frees != 0) fmt::print(out, "  batched frees     {:>12}  (duplicates of frees, not counted)\n", r.batched_frees);
  if (r.pcp_refills != 0 || r.pcp_drains != 0) {
    fmt::print(out, "  pcp refills       {:>12}  {:>12}\n", r.pcp_refills, format_bytes(r.pcp_refill_pages * ps));
    fmt::print(out, "  pcp drains        {:>12}  {:>12}\n", r.pcp_drains, format_bytes(r.pcp_drain_pages * ps));
  }
  if (r.extfrag != 0) {
    fmt::print(out, "  extfrag fallbacks {:>12}  ({} fragmenting, {} pageblock ownership changes)\n", r.extfrag,
               r.extfrag_fragmenting, r.extfrag_ownership_changes);
  }

  print_rows(out, "By order and migratetype", "order / migratetype", r.by_order_migratetype, ps, false);
  print_rows(out, "By GFP flags", "gfp", r.by_gfp, ps, false);
  print_rows(out, "By execution context", "context", r.by_context, ps, false, FreesColumn::Shown);
  print_rows(out, "By process", "comm", r.by_process, ps, true, FreesColumn::Shown);
  print_rows(out, "By call site", "callsite", r.by_callsite, ps, false);
  if (r.total.failures != 0) {
    print_rows(out, "Failures by order", "order", r.failures_by_order, ps, false);
    print_rows(out, "Failures by GFP flags", "gfp", r.failures_by_gfp, ps, false);
    print_rows(out, "Failures by context", "context", r.failures_by_context, ps, false);
    print_rows(out, "Failures by process", "comm", r.failures_by_process, ps, true);
  }
  print_data_quality(out, r.quality, missing_attach_points(r.header));
}

}  // namespace labyrinth::replay
