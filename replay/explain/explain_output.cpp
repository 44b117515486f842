// Text and JSON renderings of explanations. The text puts the verdict on the first line of each
// failure and the numbers the check used in one column per zone, so a reader can redo the
// arithmetic; the JSON carries the same numbers under unit-named keys.
#include "labyrinth/explain/explain_output.hpp"

#include <fmt/core.h>

#include "labyrinth/version.hpp"
#include "labyrinth/common/text.hpp"

#include <algorithm>

namespace labyrinth::explain {
namespace {

using common::join;

std::string blocks_from(const ZoneVerdict& v, unsigned order) {
  std::vector<std::string> parts;
  for (std::size_t o = order; o < v.blocks.size(); ++o) {
    if (v.blocks[o] == 0) continue;
    parts.push_back(fmt::format("{}x{}{}", v.blocks[o], o, v.types[o].empty() ? "" : "(" + v.types[o] + ")"));
  }
  return parts.empty() ? std::string("none") : join(parts, " ");
}

void table(std::string& out, const Explanation& e) {
  if (e.zones.empty()) return;
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto row = [&rows, &e](std::string label, auto cell) {
    std::vector<std::string> cells;
    for (const ZoneVerdict& v : e.zones) cells.push_back(cell(v));
    rows.emplace_back(std::move(label), std::move(cells));
  };
  auto num = [](std::int64_t n) { return fmt::format("{}", n); };
  row("zone", [](const ZoneVerdict& v) { return fmt::format("Node {} {}", v.node, v.name); });
  row("free pages (free:)", [&](const ZoneVerdict& v) { return num(v.free_pages); });
  row("  - unusable", [&](const ZoneVerdict& v) {
    return v.cause == Cause::Incomplete ? std::string("?") : num(v.outcome.unusable);
  });
  row("    of which highatomic", [&](const ZoneVerdict& v) { return num(v.highatomic_pages); });
  row("    of which free CMA", [&](const ZoneVerdict& v) { return num(v.free_cma_pages); });
  row("  = counted", [&](const ZoneVerdict& v) {
    return v.cause == Cause::Incomplete ? std::string("?") : num(v.outcome.free_counted);
  });
  row("min (printed, boost incl.)", [&](const ZoneVerdict& v) { return num(v.min_pages); });
  row("  boost", [&](const ZoneVerdict& v) { return num(v.boost_pages) + (v.boost_ignored ? " (ignored)" : ""); });
  row("  min after reductions", [&](const ZoneVerdict& v) {
    return v.cause == Cause::Incomplete ? std::string("?") : num(v.outcome.min);
  });
  row("  + lowmem_reserve", [&](const ZoneVerdict& v) { return num(v.lowmem_reserve_pages); });
  row("  = threshold", [&](const ZoneVerdict& v) {
    return v.cause == Cause::Incomplete ? std::string("?") : num(v.outcome.threshold);
  });
  if (e.order > 0) {
    row(fmt::format("blocks of order >= {}", e.order), [&](const ZoneVerdict& v) { return blocks_from(v, e.order); });
  }
  row("free-area total pages", [&](const ZoneVerdict& v) { return num(v.free_area_pages); });
  row("managed pages", [&](const ZoneVerdict& v) { return num(v.managed_pages); });
  row("passes with min_free_kbytes <=", [&](const ZoneVerdict& v) {
    return v.max_min_free_kbytes ? fmt::format("{} kB", *v.max_min_free_kbytes) : std::string("-");
  });
  row("result", [](const ZoneVerdict& v) { return std::string(to_string(v.cause)); });
  std::size_t label_width = 0;
  for (const auto& r : rows) label_width = std::max(label_width, r.first.size());
  std::vector<std::size_t> widths(e.zones.size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.second.size(); ++i) widths[i] = std::max(widths[i], r.second[i].size());
  }
  for (const auto& r : rows) {
    out += fmt::format("  {:<{}}", r.first, label_width);
    for (std::size_t i = 0; i < r.second.size(); ++i) out += fmt::format("  {:>{}}", r.second[i], widths[i]);
    out += '\n';
  }
}

nlohmann::ordered_json opt(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string explain_to_text(const std::vector<Explanation>& failures) {
  std::string out;
  std::size_t i = 0;
  for (const Explanation& e : failures) {
    ++i;
    if (e.gfp_flags.empty()) {
      out += fmt::format("failure {} of {} (input line {}): {}\n", i, failures.size(), e.line, e.comm.empty() ? "?" : e.comm);
    } else {
      out += fmt::format("failure {} of {} (input line {}): {} order {} ({} kB) mode 0x{:x} = {}\n", i, failures.size(),
                         e.line, e.comm.empty() ? "?" : e.comm, e.order, e.page_kb > 0 ? (e.page_kb << e.order) : 0,
                         e.gfp, join(e.gfp_flags, "|"));
    }
    out += fmt::format("  {}\n", e.verdict);
    if (e.status == Status::Unsupported || (e.zones.empty() && e.status != Status::Explained)) {
      for (const std::string& n : e.notes) out += fmt::format("  note: {}\n", n);
      out += '\n';
      continue;
    }
    out += fmt::format("  kernel {} ({}); GFP table {}; rules {}\n", e.kernel_version.empty() ? "unknown" : e.kernel_version,
                       e.version_source, e.gfp_era, e.rules);
    out += fmt::format("  request: {}; zones {} and below, in zonelist order\n", e.request, e.highest_zone);
    table(out, e);
    for (const ZoneVerdict& v : e.zones) out += fmt::format("  - {}\n", v.why);
    if (!e.advice.empty()) out += fmt::format("  advice: {}\n", e.advice);
    if (!e.callers.empty()) out += fmt::format("  requested by: {}\n", join(e.callers, " <- "));
    for (const std::string& n : e.notes) out += fmt::format("  note: {}\n", n);
    out += '\n';
  }
  return out;
}

nlohmann::ordered_json explain_to_json(const std::vector<Explanation>& failures, const std::string& input) {
  nlohmann::ordered_json doc;
  doc["schema_version"] = kExplainSchemaVersion;
  doc["tool"] = {{"name", "labyrinth"}, {"version", labyrinth::kVersion}, {"command", "explain"}};
  doc["input"] = input;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Explanation& e : failures) {
    nlohmann::ordered_json f;
    f["input_line"] = e.line;
    f["comm"] = e.comm;
    f["status"] = to_string(e.status);
    f["cause"] = to_string(e.cause);
    f["verdict"] = e.verdict;
    f["order"] = e.order;
    f["gfp_mask"] = fmt::format("0x{:x}", e.gfp);
    f["gfp_flags"] = e.gfp_flags;
    f["gfp_printed_names"] = e.gfp_printed_names;
    f["kernel_version"] = e.kernel_version.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.kernel_version);
    f["kernel_release"] = e.kernel_release;
    f["kernel_version_source"] = e.version_source;
    f["gfp_table"] = e.gfp_era;
    f["rules"] = e.rules;
    f["alloc_flags"] = e.request;
    f["highest_zone"] = e.highest_zone;
    f["page_size_kib"] = e.page_kb;
    nlohmann::ordered_json zones = nlohmann::ordered_json::array();
    for (const ZoneVerdict& v : e.zones) {
      nlohmann::ordered_json z;
      z["node"] = v.node;
      z["zone"] = v.name;
      z["cause"] = to_string(v.cause);
      z["why"] = v.why;
      z["missing"] = v.missing;
      z["free_pages"] = v.free_pages;
      z["free_area_total_pages"] = v.free_area_pages;
      z["unusable_pages"] = v.outcome.unusable;
      z["highatomic_pages"] = v.highatomic_pages;
      z["free_cma_pages"] = v.free_cma_pages;
      z["counted_free_pages"] = v.outcome.free_counted;
      z["min_pages"] = v.min_pages;
      z["boost_pages"] = v.boost_pages;
      z["boost_ignored"] = v.boost_ignored;
      z["min_after_reductions_pages"] = v.outcome.min;
      z["lowmem_reserve_pages"] = v.lowmem_reserve_pages;
      z["threshold_pages"] = v.outcome.threshold;
      z["managed_pages"] = v.managed_pages;
      z["largest_free_order"] = v.outcome.largest_free_order;
      z["free_blocks_per_order"] = v.blocks;
      z["migratetypes_per_order"] = v.types;
      z["max_min_free_kbytes"] = opt(v.max_min_free_kbytes);
      zones.push_back(std::move(z));
    }
    f["zones"] = std::move(zones);
    f["advice"] = {{"text", e.advice},
                   {"max_min_free_kbytes", opt(e.max_min_free_kbytes)},
                   {"current_min_free_kbytes", opt(e.current_min_free_kbytes)},
                   {"callers", e.callers}};
    f["notes"] = e.notes;
    if (!e.problem.empty()) f["problem"] = e.problem;
    list.push_back(std::move(f));
  }
  doc["failures"] = std::move(list);
  std::size_t explained = 0;
  for (const Explanation& e : failures) {
    if (e.status == Status::Explained) ++explained;
  }
  doc["summary"] = {{"failures", failures.size()}, {"explained", explained}};
  return doc;
}

}  // namespace labyrinth::explain
