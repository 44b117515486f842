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

namespace {

ordered_json reclaim_tally_json(const ReclaimTally& t) {
  return ordered_json{{"stalls", t.stalls},
                      {"reclaimed_pages", t.reclaimed_pages},
                      {"stall_ns", t.stall_ns},
                      {"longest_ns", t.longest_ns},
                      {"fruitless", t.fruitless}};
}

// null when the trace cannot hold direct reclaims (older recordings, imports without them).
ordered_json direct_reclaim_json(const DirectReclaimSummary& d) {
  if (!d.recorded) return nullptr;
  ordered_json doc = reclaim_tally_json(d.total);
  doc["begun_before_trace"] = d.begun_before;
  doc["unfinished"] = d.unfinished;
  ordered_json histogram = ordered_json::array();
  for (std::size_t k = 0; k < d.histogram.size(); ++k) {
    if (d.histogram[k] != 0) histogram.push_back(ordered_json{{"from_us", k == 0 ? 0 : std::uint64_t{1} << k}, {"stalls", d.histogram[k]}});
  }
  doc["histogram"] = histogram;
  ordered_json rows = ordered_json::array();
  for (const ReclaimRow& row : d.by_process) {
    ordered_json j{{"pid", row.pid}, {"comm", row.comm}};
    j.update(reclaim_tally_json(row.tally));
    rows.push_back(j);
  }
  doc["by_process"] = rows;
  return doc;
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
      {"extfrag_ownership_changes", r.extfrag_ownership_changes},
      {"pageblock_moves", r.pageblock_moves},
      {"highatomic_reserved", r.highatomic_reserved},
      {"highatomic_given_back", r.highatomic_given_back},
      {"kswapd_passes", r.kswapd_passes},
      {"kswapd_sleeps", r.kswapd_sleeps}};
  doc["breakdowns"] = ordered_json{{"order_migratetype", rows_json(r.by_order_migratetype, ps, "order_mt")},
                                   {"gfp", rows_json(r.by_gfp, ps, "gfp")},
                                   {"context", rows_json(r.by_context, ps, "context")},
                                   {"process", rows_json(r.by_process, ps, "process")},
                                   {"callsite", rows_json(r.by_callsite, ps, "callsite")}};
  doc["failures"] = ordered_json{{"by_order", rows_json(r.failures_by_order, ps, "order")},
                                 {"by_gfp", rows_json(r.failures_by_gfp, ps, "gfp")},
                                 {"by_context", rows_json(r.failures_by_context, ps, "context")},
                                 {"by_process", rows_json(r.failures_by_process, ps, "process")}};
  doc["direct_reclaim"] = direct_reclaim_json(r.direct_reclaim);
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

// drsnoop's question (who stalled in direct reclaim, how long, for how much) over the whole trace.
void print_direct_reclaim(std::FILE* out, const DirectReclaimSummary& d, std::uint32_t page_size) {
  if (!d.recorded) return;
  const ReclaimTally& t = d.total;
  fmt::print(out, "\nDirect reclaim\n");
  if (t.stalls == 0 && d.unfinished == 0 && d.begun_before == 0) {
    fmt::print(out, "  none: no allocating task had to reclaim memory itself\n");
    return;
  }
  fmt::print(out, "  stalls {}, {} in all, longest {}; {} reclaimed ({} stalls freed nothing)\n", t.stalls,
             format_duration_ns(t.stall_ns), format_duration_ns(t.longest_ns),
             format_bytes(t.reclaimed_pages * page_size), t.fruitless);
  if (d.unfinished != 0 || d.begun_before != 0) {
    fmt::print(out, "  {} still running when the trace stopped, {} begun before it started (not counted)\n",
               d.unfinished, d.begun_before);
  }
  std::uint64_t most = 0;
  for (const std::uint64_t n : d.histogram) most = std::max(most, n);
  for (std::size_t k = 0; k < d.histogram.size(); ++k) {
    if (d.histogram[k] == 0) continue;
    const std::string from = k == 0 ? "0" : fmt::format("{}", std::uint64_t{1} << k);
    const std::size_t bar = static_cast<std::size_t>((d.histogram[k] * 40 + most - 1) / most);
    fmt::print(out, "  {:>9} us .. {:<9} {:>8} |{}\n", from, std::uint64_t{2} << k, d.histogram[k], std::string(bar, '*'));
  }
  if (d.by_process.empty()) return;
  std::size_t pid_width = 3;
  for (const ReclaimRow& row : d.by_process) pid_width = std::max(pid_width, std::to_string(row.pid).size());
  fmt::print(out, "  {:>8} {:>12} {:>12} {:>12}  {:<{}}  {}\n", "stalls", "stalled", "longest", "reclaimed", "pid",
             pid_width, "comm");
  for (const ReclaimRow& row : d.by_process) {
    fmt::print(out, "  {:>8} {:>12} {:>12} {:>12}  {:<{}}  {}\n", row.tally.stalls,
               format_duration_ns(row.tally.stall_ns), format_duration_ns(row.tally.longest_ns),
               format_bytes(row.tally.reclaimed_pages * page_size), row.pid, pid_width, row.comm);
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
  if (r.pageblock_moves != 0) {
    fmt::print(out, "  pageblock moves   {:>12}  ({} into the highatomic reserve, {} given back)\n", r.pageblock_moves,
               r.highatomic_reserved, r.highatomic_given_back);
  }
  if (r.kswapd_passes + r.kswapd_sleeps != 0) {
    fmt::print(out, "  kswapd passes     {:>12}  (balance_pgdat runs; {} times to sleep)\n", r.kswapd_passes,
               r.kswapd_sleeps);
  }

  print_direct_reclaim(out, r.direct_reclaim, ps);

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
