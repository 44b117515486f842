#include "labyrinth/replay/replay_report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <unordered_map>

#include "labyrinth/replay/report_common.hpp"

namespace labyrinth::replay {

using nlohmann::ordered_json;

namespace {

// Pageblock types compared at the end snapshot. Not Movable: the model's zone span includes
// holes without a memory map (their pageblocks are Movable to it), which pagetypeinfo skips
// (pfn_to_online_page), so Movable differs by the holes alone.
bool counted_pageblock_type(const ZoneValidation& z, unsigned type) {
  return static_cast<allocator::MigrateType>(type) != allocator::MigrateType::Movable &&
         z.model_pageblocks[type] + z.kernel_pageblocks[type] != 0;
}

std::string_view pcp_mode_name(allocator::PcpMode m) {
  switch (m) {
    case allocator::PcpMode::Off: return "off";
    case allocator::PcpMode::Auto: return "auto";
    case allocator::PcpMode::Manual: return "manual";
  }
  return "off";
}

struct Names {
  std::unordered_map<std::uint32_t, std::string> comm, callsite;
  explicit Names(const ReplayResult& r) {
    for (const auto& [id, n] : r.comms) comm[id] = n;
    for (const auto& [id, n] : r.callsites) callsite[id] = n;
  }
  [[nodiscard]] std::string comm_of(std::uint32_t id) const {
    const auto it = comm.find(id);
    return it == comm.end() || it->second.empty() ? std::string("[unknown]") : it->second;
  }
  [[nodiscard]] std::optional<std::string> callsite_of(std::uint32_t id) const {
    if (id == traces::kNoStack) return std::nullopt;
    const auto it = callsite.find(id);
    return it == callsite.end() ? std::optional<std::string>("[stack lost]") : std::optional<std::string>(it->second);
  }
};

std::string zone_label(const ReplayResult& r, std::optional<std::uint16_t> zone) {
  if (!zone || *zone >= r.model_config.zones.size()) return "none";
  const auto& z = r.model_config.zones[*zone];
  return fmt::format("{}/{}", z.node, allocator::zone_type_name(z.type));
}

std::string migratetype_name(const ReplayResult& r, int mt) {
  if (mt < 0) return "unknown";
  const auto i = static_cast<std::size_t>(mt);
  return i < r.header.migratetype_names.size() ? r.header.migratetype_names[i] : "type" + std::to_string(mt);
}

ordered_json nullable(const std::optional<std::uint64_t>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); }

// The failures that carry the kernel's counters; with_causes: mirror's, which may take its
// cause from them (simulate keeps its own).
// A row of KernelCounterTally::by_their_cause by name: a failure cause, or "none" (they pass).
std::string_view their_cause_name(std::size_t row) {
  return row == KernelCounterTally::kTheyPass ? "none" : to_string(static_cast<FailureCause>(row));
}

ordered_json kernel_counters_json(const KernelCounterTally& k, bool with_causes) {
  if (k.failures == 0) return nullptr;
  ordered_json out{{"failures", k.failures}};
  if (with_causes) out["model_cause_differed"] = k.model_cause_differed;
  out["their_check_passes"] = k.their_check_passes();
  out["model_free_error_pages"] = ordered_json{
      {"median", k.free_error_quantile(0.5)}, {"p90", k.free_error_quantile(0.9)}, {"max", k.free_error_quantile(1.0)}};
  ordered_json causes = ordered_json::object();
  for (std::size_t i = 0; i < k.by_their_cause.size(); ++i) {
    const KernelCounterTally::TheirCause& row = k.by_their_cause[i];
    if (row.failures == 0) continue;
    ordered_json entry{{"failures", row.failures}};
    if (!with_causes) entry["model_served"] = row.model_served;  // simulate
    causes[their_cause_name(i)] = std::move(entry);
  }
  out["by_their_cause"] = std::move(causes);
  out["with_free_diffs"] = k.with_diffs;
  out["lag_only"] = k.lag_only;
  out["model_exact_free_error_pages"] =
      k.with_diffs == 0 ? ordered_json(nullptr)
                        : ordered_json{{"median", k.exact_free_error_quantile(0.5)},
                                       {"p90", k.exact_free_error_quantile(0.9)},
                                       {"max", k.exact_free_error_quantile(1.0)}};
  return out;
}

// Simulate: the kernel's failures by what failed them on its own counters and free lists, and
// how many of each the model served.
void print_their_causes(std::FILE* out, const KernelCounterTally& k) {
  std::string rows;
  for (std::size_t i = 0; i < k.by_their_cause.size(); ++i) {
    const KernelCounterTally::TheirCause& row = k.by_their_cause[i];
    if (row.failures == 0) continue;
    rows += fmt::format("{}{} {} (the model served {})", rows.empty() ? "" : ", ",
                        i == KernelCounterTally::kTheyPass ? "their check passes" : to_string(static_cast<FailureCause>(i)),
                        row.failures, row.model_served);
  }
  if (rows.empty()) return;
  fmt::print(out, "  by their counters and free lists: {}\n", rows);
  const std::uint64_t no_block = k.by_their_cause[static_cast<std::size_t>(FailureCause::Reserve)].model_served +
                                 k.by_their_cause[static_cast<std::size_t>(FailureCause::Fragmentation)].model_served;
  if (no_block != 0) {
    fmt::print(out, "    ({} served from a free block of the order where the kernel had none it could use: the model's "
               "layout parted from the kernel's, not its count)\n", no_block);
  }
}

// The failures whose per-CPU diffs were read: the zone's exact count against the counter.
void print_exact_counts(std::FILE* out, const KernelCounterTally& k, std::string_view indent) {
  if (k.with_diffs == 0) return;
  fmt::print(out, "{}with the per-CPU changes not yet folded in, at {}: {} failed on the counter's lag alone (the exact "
             "count passes the check); the model's free pages {} from the exact count (median), {} (90%), {} (max)\n",
             indent, k.with_diffs, k.lag_only, k.exact_free_error_quantile(0.5), k.exact_free_error_quantile(0.9),
             k.exact_free_error_quantile(1.0));
}

ordered_json failure_json(const ReplayResult& r, const FailureRecord& f, const Names& names) {
  const ZoneState& s = f.state;
  const auto callsite = names.callsite_of(f.stack_id);
  ordered_json zone = nullptr;
  if (s.zone && *s.zone < r.model_config.zones.size()) {
    const auto& z = r.model_config.zones[*s.zone];
    zone = ordered_json{{"node", z.node}, {"zone", std::string(allocator::zone_type_name(z.type))}};
  }
  ordered_json kernel = nullptr;
  if (f.kernel) {
    const KernelCheck& k = *f.kernel;
    kernel = ordered_json{{"free_pages", k.counters.free_pages},
                          {"highatomic_free_pages", k.counters.highatomic_free},
                          {"highatomic_reserved_pages", k.counters.highatomic_reserved},
                          {"boost_pages", k.counters.boost},
                          {"free_lists", fmt::format("{:#x}", k.counters.lists)},
                          {"free_above_min_pages", k.margin_pages},
                          {"block_available", k.block_available},
                          {"cause", k.cause ? ordered_json(std::string(to_string(*k.cause))) : ordered_json(nullptr)},
                          {"model_free_error_pages", k.model_free_error},
                          {"free_diffs", k.counters.free_diffs ? ordered_json(*k.counters.free_diffs) : ordered_json(nullptr)},
                          {"exact_free_above_min_pages", k.exact_margin_pages ? ordered_json(*k.exact_margin_pages) : ordered_json(nullptr)},
                          {"lag_only", f.kernel_lag_alone}};
  }
  return ordered_json{
      {"ts_ns", f.ts_ns},
      {"offset_ns", f.ts_ns >= r.first_ts_ns ? f.ts_ns - r.first_ts_ns : 0},
      {"cpu", f.cpu},
      {"pid", f.pid},
      {"comm", names.comm_of(f.comm_id)},
      {"context", std::string(traces::to_string(f.context))},
      {"task", traces::task_state_names(f.task_state)},
      {"order", f.order},
      {"gfp", r.header.gfp_table.format(f.gfp)},
      {"gfp_bits", f.gfp},
      {"migratetype", migratetype_name(r, f.migratetype)},
      {"class", std::string(to_string(f.cls))},
      {"cause", std::string(to_string(f.cause))},
      {"model_cause", f.model_cause ? ordered_json(std::string(to_string(*f.model_cause))) : ordered_json(nullptr)},
      {"kernel_failed", f.kernel_failed},
      {"evidence", f.evidence.empty() ? ordered_json(nullptr) : ordered_json(f.evidence)},
      {"callsite", callsite ? ordered_json(*callsite) : ordered_json(nullptr)},
      {"zone", zone},
      {"free_pages", s.free_pages},
      {"unusable_free_pages", s.unusable_pages},
      {"watermark_pages", s.watermark_pages},
      {"effective_min_pages", s.effective_min_pages},
      {"free_above_min_pages", s.margin_pages()},
      {"block_available", s.block_available},
      {"largest_free_order", s.largest_free_order},
      {"unusable_index_permille", s.unusable_index},
      {"fragmentation_index_permille", s.fragmentation_index},
      {"pcp_pages", s.pcp_pages},
      {"kernel_counters", kernel},
  };
}

template <typename Map, typename KeyFn>
ordered_json tally_rows(const Map& map, std::size_t top_n, KeyFn key) {
  std::vector<std::pair<ordered_json, Tallies>> rows;
  for (const auto& [k, t] : map) rows.emplace_back(key(k), t);
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second.failures != b.second.failures) return a.second.failures > b.second.failures;
    return a.first.dump() < b.first.dump();
  });
  if (top_n != 0 && rows.size() > top_n) rows.resize(top_n);
  ordered_json out = ordered_json::array();
  for (auto& [k, t] : rows) {
    ordered_json row = k;
    row["failures"] = t.failures;
    row["failed_pages"] = t.failed_pages;
    out.push_back(std::move(row));
  }
  return out;
}

ordered_json zones_json(const ReplayResult& r) {
  ordered_json out = ordered_json::array();
  for (const auto& z : r.model_config.zones) {
    const allocator::Watermarks wm = z.watermarks.value_or(allocator::Watermarks{});
    ordered_json lr = ordered_json::object();
    if (z.lowmem_reserve) {
      for (unsigned t = 0; t < allocator::kZoneTypes; ++t) {
        lr[std::string(allocator::zone_type_name(static_cast<allocator::ZoneType>(t)))] = (*z.lowmem_reserve)[t];
      }
    }
    const allocator::PcpLimits pcp = z.pcp.value_or(allocator::PcpLimits{});
    out.push_back(ordered_json{{"node", z.node},
                               {"zone", std::string(allocator::zone_type_name(z.type))},
                               {"start_pfn", z.start_pfn.value},
                               {"spanned_pages", z.spanned_pages},
                               {"managed_pages", z.managed_pages},
                               {"min_pages", wm.min},
                               {"low_pages", wm.low},
                               {"high_pages", wm.high},
                               {"boost_pages", z.watermark_boost},
                               {"lowmem_reserve_pages", lr},
                               {"pcp_batch", pcp.batch},
                               {"pcp_high_min", pcp.high_min},
                               {"pcp_high_max", pcp.high_max}});
  }
  return out;
}

ordered_json config_json(const ReplayResult& r) {
  const auto& t = r.model_config.tunables;
  const WhatIf& w = r.what_if;
  return ordered_json{
      {"mode", std::string(to_string(r.mode))},
      {"seeded_from", std::string(to_string(r.seeded_from))},
      {"pcp", std::string(pcp_mode_name(r.pcp_mode))},
      {"min_free_kbytes", nullable(t.min_free_kbytes)},
      {"recorded_min_free_kbytes", r.recorded_min_free_kbytes == 0 ? ordered_json(nullptr) : ordered_json(r.recorded_min_free_kbytes)},
      {"watermark_scale_factor", t.watermark_scale_factor},
      {"watermark_boost_factor", t.watermark_boost_factor},
      {"highatomic", t.highatomic},
      {"watermarks_recomputed", w.changes_watermarks()},
      {"balloon_bytes", w.balloon_bytes},
      {"callsite_depth", r.callsite_depth},
      {"what_if", ordered_json{{"min_free_kbytes", nullable(w.min_free_kbytes)},
                               {"watermark_scale_factor", nullable(w.watermark_scale_factor)},
                               {"watermark_boost_factor", nullable(w.watermark_boost_factor)},
                               {"no_highatomic", w.no_highatomic},
                               {"no_pcp", w.no_pcp},
                               {"compaction", w.compaction},
                               {"model_placement", w.model_placement},
                               {"pcp_decay", w.pcp_decay},
                               {"pcp_reclaim_clamp", w.pcp_reclaim_clamp},
                               {"follow_pcp", w.follow_pcp},
                               {"balloon_bytes", w.balloon_bytes}}},
      {"zones", zones_json(r)},
      {"notes", r.notes},
  };
}

ordered_json summary_json(const ReplayResult& r) {
  const ReplayCounters& c = r.counters;
  const std::uint32_t ps = r.header.page_size;
  ordered_json classes = ordered_json::object();
  for (int k = 0; k < kFailureClassCount; ++k) {
    const auto cls = static_cast<FailureClass>(k);
    ordered_json causes = ordered_json::object();
    for (int j = 0; j < kFailureCauseCount; ++j) {
      causes[std::string(to_string(static_cast<FailureCause>(j)))] =
          r.failures.by_class_cause()[static_cast<std::size_t>(k)][static_cast<std::size_t>(j)];
    }
    classes[std::string(to_string(cls))] = ordered_json{{"failures", r.failures.by_class(cls)}, {"by_cause", causes}};
  }
  ordered_json causes = ordered_json::object();
  for (int j = 0; j < kFailureCauseCount; ++j) {
    const auto cause = static_cast<FailureCause>(j);
    causes[std::string(to_string(cause))] = r.failures.by_cause(cause);
  }
  ordered_json out{
      {"events_replayed", c.events},
      {"allocations", c.allocations},
      {"allocated_pages", c.allocated_pages},
      {"allocated_bytes", c.allocated_pages * ps},
      {"atomic_allocations", c.atomic_allocations},
      {"frees", c.frees},
      {"freed_pages", c.freed_pages},
      {"failures", c.failures},
      {"failed_pages", c.failed_pages},
      {"atomic_failures", c.atomic_failures},
      {"failures_by_class", classes},
      {"failures_by_cause", causes},
      {"kernel_counters", kernel_counters_json(r.failures.kernel_counters(), true)},
      {"pcp_refills", c.pcp_refills},
      {"pcp_direct_takes", c.pcp_direct_takes},
      {"pcp_drains", c.pcp_drains},
      {"extfrag_events", c.extfrag_events},
      {"pageblock_changes", c.pageblock_changes},
      {"highatomic_reservations", c.highatomic_reservations},
      {"zone_resizes", c.zone_resizes},
      {"compaction_isolations", c.isolations},
      {"compaction_isolated_pages", c.isolated_pages},
      {"kernel_internal_events_ignored", c.kernel_internal_ignored},
      {"model_metadata_bytes", r.model_metadata_bytes},
  };
  if (r.mode == ReplayMode::Simulate) {
    out["simulation"] = ordered_json{
        {"kernel_failures", c.kernel_failures},
        {"both_succeeded", c.both_succeeded},
        {"both_failed", c.both_failed},
        {"model_failed_kernel_succeeded", c.model_failed_kernel_succeeded},
        {"model_served_kernel_failed", c.model_served_kernel_failed},
        {"against_recording", agreement_json(r.agreement)},
        {"model_state_at_kernel_failures", kernel_counters_json(r.model_state_at_kernel_failures, false)},
        {"reclaim_stalls", c.reclaim_stalls},
        {"served_after_kernel_reclaim", r.model_counters.served_after_kernel_reclaim},
        {"oom_kills", c.oom_kills},
        {"compaction_needed", c.compaction_needed},
        {"fallback_requests", c.fallback_requests},
        {"fallback_pages", c.fallback_pages},
        {"fallback_failures", c.fallback_failures},
        {"kernel_block_compactions", c.kernel_block_compactions},
        {"compactions", c.compactions},
        {"compaction_successes", c.compaction_successes},
        {"compaction_migrated_pages", c.compaction_migrated_pages},
        {"kernel_compaction", kernel_compaction_json(r.validation.kernel_counters)},
        {"reclaim_runs", c.kswapd_runs},
        {"reclaimed_pages", c.kswapd_reclaimed_pages},
        {"withheld_reclaim_pages", c.withheld_reclaim_pages},
        {"balloon_requested_pages", c.balloon_requested_pages},
        {"balloon_pages", c.balloon_pages},
        {"balloon_bytes", c.balloon_pages * ps},
        {"model_pcp_hits", r.model_counters.pcp_hits},
        {"model_pcp_refills", r.model_counters.pcp_refills},
        {"model_claims", r.model_counters.claims},
        {"model_steals", r.model_counters.steals},
        {"model_boosts", r.model_counters.boosts},
        {"model_highatomic_reservations", r.model_counters.highatomic_reservations},
        {"model_highatomic_unreserves", r.model_counters.reclaim_unreserves},
    };
  }
  return out;
}

ordered_json timeline_json(const ReplayResult& r) {
  ordered_json zones = ordered_json::array();
  for (const auto& z : r.timeline) {
    ordered_json samples = ordered_json::array();
    for (const auto& s : z.samples) {
      ordered_json nr = ordered_json::array(), ui = ordered_json::array(), fi = ordered_json::array();
      for (unsigned o = 0; o < r.orders; ++o) {
        nr.push_back(s.nr_free[o]);
        ui.push_back(s.unusable_index[o]);
        fi.push_back(s.fragmentation_index[o]);
      }
      samples.push_back(ordered_json{{"ts_ns", s.ts_ns},
                                     {"interval_ns", s.span_ns},
                                     {"free_pages", s.free_pages},
                                     {"pcp_pages", s.pcp_pages},
                                     {"free_blocks_by_order", nr},
                                     {"unusable_index_permille", ui},
                                     {"fragmentation_index_permille", fi},
                                     {"largest_free_order", s.largest_free_order},
                                     {"mixed_pageblocks", s.mixed_pageblocks},
                                     {"atomic_allocations", s.atomic_allocations},
                                     {"atomic_failures", s.atomic_failures},
                                     {"highatomic_reserved_pages", s.highatomic_reserved_pages},
                                     {"highatomic_free_pages", s.highatomic_free_pages}});
    }
    zones.push_back(ordered_json{{"node", z.node}, {"zone", z.zone}, {"samples", samples}});
  }
  return ordered_json{{"interval_ns", r.timeline_interval_ns},
                      {"kept_interval_ns", r.timeline_kept_interval_ns},
                      {"samples_taken", r.timeline_samples},
                      {"zones", zones}};
}

// Mirror's validation at every keyframe: the error as a time series.
ordered_json keyframes_json(const ReplayResult& r) {
  std::uint64_t passed = 0;
  double worst_free = 0, worst_order = 0;
  ordered_json series = ordered_json::array();
  for (const auto& k : r.keyframes) {
    passed += k.passed ? 1 : 0;
    worst_free = std::max(worst_free, k.free_relative_error);
    worst_order = std::max(worst_order, k.worst_order_error);
    ordered_json point{{"ts_ns", k.ts_ns},
                       {"model_free_pages", k.model_free_pages},
                       {"kernel_free_pages", k.kernel_free_pages},
                       {"free_relative_error", k.free_relative_error},
                       {"worst_order_error", k.worst_order_error},
                       {"worst_order_zone", k.worst_order_zone.empty() ? ordered_json(nullptr) : ordered_json(k.worst_order_zone)},
                       {"worst_order", k.worst_order},
                       {"passed", k.passed},
                       {"resynced", k.resynced},
                       {"corrected_pages", k.corrected_pages}};
    ordered_json zones = ordered_json::array();
    for (const auto& z : k.zones) {
      zones.push_back(ordered_json{{"zone", z.zone},
                                   {"model_free_pages", z.model_free_pages},
                                   {"kernel_free_pages", z.kernel_free_pages},
                                   {"model_pcp_pages", z.model_pcp_pages},
                                   {"kernel_pcp_pages", z.kernel_pcp_pages},
                                   {"taken_without_events_pages", z.taken_without_events
                                                                      ? ordered_json(*z.taken_without_events)
                                                                      : ordered_json(nullptr)}});
    }
    point["zones"] = std::move(zones);
    if (k.highatomic_known) {
      point["highatomic_pageblocks"] =
          ordered_json{{"model", k.model_highatomic_pageblocks}, {"kernel", k.kernel_highatomic_pageblocks}};
      point["highatomic_free_pages"] =
          ordered_json{{"model", k.model_highatomic_free_pages}, {"kernel", k.kernel_highatomic_free_pages}};
    }
    series.push_back(std::move(point));
  }
  return ordered_json{{"checked", r.keyframes.size()},
                      {"passed", passed},
                      {"worst_free_relative_error", worst_free},
                      {"worst_order_error", worst_order},
                      {"series", std::move(series)}};
}

double seconds_since(const ReplayResult& r, std::uint64_t ts_ns) {
  return ts_ns >= r.first_ts_ns ? static_cast<double>(ts_ns - r.first_ts_ns) / 1e9 : 0.0;
}

// The first ranges where the maps differ, so their pages can be followed in `labyrinth script`.
void print_free_map_differences(std::FILE* out, const ZoneValidation& z) {
  constexpr std::size_t kShown = 8;
  if (z.free_map_differences.empty()) return;
  fmt::print(out, "      differ at (pfn+pages, free in):");
  for (std::size_t i = 0; i < z.free_map_differences.size() && i < kShown; ++i) {
    const FreeMapDifference& d = z.free_map_differences[i];
    fmt::print(out, " {:#x}+{} {}", d.start_pfn, d.pages, d.free_in_model ? "model" : "kernel");
  }
  if (z.free_map_difference_ranges > kShown) fmt::print(out, " ... ({} ranges)", z.free_map_difference_ranges);
  fmt::print(out, "\n");
}

// Per zone, the range over the keyframes of the pages the kernel took with no event: the part
// of the model's error that no model of the recorded events could avoid.
void print_taken_without_events(std::FILE* out, const ReplayResult& r) {
  std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> ranges;  // by zone, in order
  for (const auto& k : r.keyframes) {
    for (const auto& z : k.zones) {
      if (!z.taken_without_events) continue;
      const std::int64_t v = *z.taken_without_events;
      auto it = std::find_if(ranges.begin(), ranges.end(), [&z](const auto& e) { return e.first == z.zone; });
      if (it == ranges.end()) {
        ranges.push_back({z.zone, {v, v}});
      } else {
        it->second = {std::min(it->second.first, v), std::max(it->second.second, v)};
      }
    }
  }
  std::string text;
  for (const auto& [zone, range] : ranges) {
    if (range.first == 0 && range.second == 0) continue;
    text += range.first == range.second ? fmt::format(" {} {}", zone, range.first)
                                        : fmt::format(" {} {} to {}", zone, range.first, range.second);
  }
  if (text.empty()) return;
  fmt::print(out, "  pages the kernel took with no event of their own (its count at each keyframe against the start "
                  "snapshot and the recorded events; alloc_pages_bulk, compaction in flight; negative: freed), per zone:{}\n",
             text);
}

void print_keyframes(std::FILE* out, const ReplayResult& r) {
  if (r.keyframes.empty()) return;
  const auto passed = std::count_if(r.keyframes.begin(), r.keyframes.end(), [](const KeyframeCheck& k) { return k.passed; });
  const auto worst = std::max_element(r.keyframes.begin(), r.keyframes.end(), [](const KeyframeCheck& a, const KeyframeCheck& b) {
    return a.worst_order_error < b.worst_order_error;
  });
  const auto worst_free = std::max_element(r.keyframes.begin(), r.keyframes.end(), [](const KeyframeCheck& a, const KeyframeCheck& b) {
    return a.free_relative_error < b.free_relative_error;
  });
  fmt::print(out, "\n{} at {} keyframes: {} passed; worst free-page error {:.2f}% at {:.3f} s",
             r.mode == ReplayMode::Mirror ? "Validation" : "Against the kernel (simulate, never resynchronised)",
             r.keyframes.size(), passed, 100.0 * worst_free->free_relative_error, seconds_since(r, worst_free->ts_ns));
  if (!worst->worst_order_zone.empty()) {
    fmt::print(out, ", worst order error {:.1f}% ({} order {} at {:.3f} s)", 100.0 * worst->worst_order_error,
               worst->worst_order_zone, worst->worst_order, seconds_since(r, worst->ts_ns));
  }
  fmt::print(out, "\n");
  print_taken_without_events(out, r);
  std::uint64_t corrected = 0, corrections = 0;
  for (const auto& k : r.keyframes) {
    corrected += k.corrected_pages;
    corrections += k.corrected_pages != 0 ? 1 : 0;
  }
  if (corrected != 0) {
    fmt::print(out, "  {} pages off the same way at two keyframes in a row (no event showed them move) set as the "
                    "keyframe's free-page map has them, at {} keyframes\n",
               corrected, corrections);
  }
  std::string highatomic;
  for (const auto& k : r.keyframes) {
    if (!k.highatomic_known) continue;
    highatomic += fmt::format(" {}/{} ({}/{}) at {:.3f} s", k.model_highatomic_pageblocks, k.kernel_highatomic_pageblocks,
                              k.model_highatomic_free_pages, k.kernel_highatomic_free_pages, seconds_since(r, k.ts_ns));
  }
  if (!highatomic.empty()) {
    fmt::print(out, "  HighAtomic pageblocks (and their free pages), model/kernel, at keyframes with pagetypeinfo:{}\n",
               highatomic);
  }
}

ordered_json validation_json(const ReplayResult& r) {
  const Validation& v = r.validation;
  ordered_json out{{"available", v.available}, {"reason", v.reason.empty() ? ordered_json(nullptr) : ordered_json(v.reason)}};
  if (!v.available) return out;
  out["free_pages_tolerance"] = kFreePagesTolerance;
  out["order_tolerance"] = kOrderTolerance;
  out["order_min_blocks"] = kOrderMinBlocks;
  out["model_free_pages"] = v.model_free_pages;
  out["kernel_free_pages"] = v.kernel_free_pages;
  out["free_relative_error"] = v.free_relative_error;
  out["free_within_tolerance"] = v.free_within;
  if (v.page_reporting_pages != 0) out["page_reporting_pages"] = v.page_reporting_pages;
  out["orders_within_tolerance"] = v.orders_within;
  out["passed"] = v.passed;
  out["free_map"] = ordered_json{{"pages_compared", v.free_map_pages_compared},
                                 {"free_both_pages", v.free_both_pages},
                                 {"free_only_model_pages", v.free_only_model_pages},
                                 {"free_only_kernel_pages", v.free_only_kernel_pages}};
  out["kernel_counters"] = kernel_counters_json(v.kernel_counters);
  ordered_json zones = ordered_json::array();
  for (const auto& z : v.zones) {
    ordered_json orders = ordered_json::array();
    for (const auto& o : z.orders) {
      ordered_json order{{"order", o.order},
                         {"model_blocks", o.model_blocks},
                         {"kernel_blocks", o.kernel_blocks},
                         {"relative_error", o.relative_error},
                         {"checked", o.checked},
                         {"within_tolerance", o.within}};
      if (o.page_reporting) order["page_reporting"] = true;  // only where it applied: older reports unchanged
      orders.push_back(std::move(order));
    }
    ordered_json zone{{"node", z.node},
                      {"zone", z.zone},
                      {"model_free_pages", z.model_free_pages},
                      {"kernel_free_pages", z.kernel_free_pages},
                      {"free_relative_error", z.free_relative_error},
                      {"free_within_tolerance", z.free_within},
                      {"model_pcp_pages", z.model_pcp_pages},
                      {"kernel_pcp_pages", z.kernel_pcp_pages},
                      {"orders", orders},
                      {"orders_within_tolerance", z.orders_within}};
    if (z.page_reporting_pages != 0) zone["page_reporting_pages"] = z.page_reporting_pages;
    if (z.pageblocks_known) {
      ordered_json types = ordered_json::object();
      for (unsigned t = 0; t < allocator::kMigrateTypes; ++t) {
        if (!counted_pageblock_type(z, t)) continue;
        types[std::string(allocator::migratetype_name(static_cast<allocator::MigrateType>(t)))] =
            ordered_json{{"model", z.model_pageblocks[t]}, {"kernel", z.kernel_pageblocks[t]}};
      }
      zone["pageblocks"] = std::move(types);
    }
    if (z.free_map) {
      ordered_json differences = ordered_json::array();
      for (const FreeMapDifference& d : z.free_map_differences) {
        differences.push_back(ordered_json{{"start_pfn", d.start_pfn}, {"pages", d.pages}, {"free_in", d.free_in_model ? "model" : "kernel"}});
      }
      zone["free_map"] = ordered_json{{"free_both_pages", z.free_both_pages},
                                      {"free_only_model_pages", z.free_only_model_pages},
                                      {"free_only_kernel_pages", z.free_only_kernel_pages},
                                      {"difference_ranges", z.free_map_difference_ranges},
                                      {"differences", differences}};
    } else {
      zone["free_map"] = nullptr;
    }
    zones.push_back(std::move(zone));
  }
  out["zones"] = zones;
  return out;
}

}  // namespace

ordered_json replay_to_json(const ReplayResult& r, std::size_t top_n) {
  const Names names(r);
  ordered_json doc;
  doc["schema_version"] = kReportSchemaVersion;
  doc["tool"] = tool_json("replay");
  doc["kernel"] = kernel_json(r.header);
  doc["capture"] = capture_json(r);
  doc["config"] = config_json(r);
  doc["summary"] = summary_json(r);
  doc["breakdowns"] = ordered_json{
      {"failures_by_order", tally_rows(r.failures.by_order(), 0, [](unsigned o) { return ordered_json{{"order", o}}; })},
      {"failures_by_gfp", tally_rows(r.failures.by_gfp(), top_n,
                                     [&](std::uint64_t g) {
                                       return ordered_json{{"gfp", r.header.gfp_table.format(g)}, {"gfp_bits", g}};
                                     })},
      {"failures_by_context",
       [&] {
         std::map<int, Tallies> m;
         for (int c = 0; c < traces::kExecContextCount; ++c) {
           if (r.failures.by_context()[static_cast<std::size_t>(c)].failures != 0) {
             m[c] = r.failures.by_context()[static_cast<std::size_t>(c)];
           }
         }
         return tally_rows(m, 0, [](int c) {
           return ordered_json{{"context", std::string(traces::to_string(static_cast<traces::ExecContext>(c)))}};
         });
       }()},
      {"failures_by_process", tally_rows(r.failures.by_process(), top_n,
                                         [&](std::uint64_t k) {
                                           return ordered_json{{"pid", static_cast<std::uint32_t>(k >> 32)},
                                                               {"comm", names.comm_of(static_cast<std::uint32_t>(k))}};
                                         })},
      {"failures_by_callsite",
       [&] {
         std::map<std::string, Tallies> m;
         for (const auto& [id, t] : r.failures.by_stack()) {
           Tallies& x = m[names.callsite_of(id).value_or("[unknown]")];
           x.failures += t.failures;
           x.failed_pages += t.failed_pages;
         }
         return tally_rows(m, top_n, [](const std::string& s) { return ordered_json{{"callsite", s}}; });
       }()},
  };
  const auto failure_list = [&](const FailureLog& log) {
    ordered_json items = ordered_json::array();
    for (const auto& f : log.records()) items.push_back(failure_json(r, f, names));
    return ordered_json{{"total", log.total()}, {"listed", log.records().size()}, {"omitted", log.omitted()}, {"items", items}};
  };
  doc["failures"] = failure_list(r.failures);
  doc["missed"] = r.mode == ReplayMode::Simulate ? failure_list(r.missed) : ordered_json(nullptr);
  doc["timeline"] = timeline_json(r);
  doc["validation"] = validation_json(r);
  doc["keyframes"] = keyframes_json(r);
  doc["model_invariants"] = r.invariant_violation ? ordered_json(*r.invariant_violation) : ordered_json("ok");
  doc["data_quality"] = data_quality_json(r.quality);
  return doc;
}

// One table of failure records: when, the request, the zone's state, then the table's own
// columns (`extra`, aligned by the caller) and the request's flags and process.
struct FailureRow {
  std::string_view cause;
  std::string extra;
  std::string_view suffix;
};
template <typename RowOf>
void print_failure_table(std::FILE* out, const ReplayResult& r, const Names& names, const FailureLog& log,
                         std::size_t top_n, std::string_view title, std::string_view cause_header,
                         std::string_view extra_header, RowOf row_of) {
  fmt::print(out, "\n{} ({} of {} shown)\n", title, std::min<std::uint64_t>(log.records().size(), top_n == 0 ? ~0ull : top_n),
             log.total());
  fmt::print(out, "  {:>14} {:>3} {:>5} {:<13} {:<15} {:<13} {:>9} {:>9} {:>4} {}  {}\n", "offset", "cpu", "order", "class",
             cause_header, "zone", "free", "min_eff", "big", extra_header, "gfp / process / callsite");
  std::size_t shown = 0;
  for (const auto& f : log.records()) {
    if (top_n != 0 && shown++ >= top_n) break;
    const ZoneState& s = f.state;
    const auto site = names.callsite_of(f.stack_id);
    const FailureRow row = row_of(f);
    fmt::print(out, "  {:>14} {:>3} {:>5} {:<13} {:<15} {:<13} {:>9} {:>9} {:>4} {}  {} {} {}[{}] {}{}\n",
               format_duration_ns(f.ts_ns >= r.first_ts_ns ? f.ts_ns - r.first_ts_ns : 0), f.cpu, f.order, to_string(f.cls),
               row.cause, zone_label(r, s.zone), s.free_pages - s.unusable_pages, s.effective_min_pages,
               s.largest_free_order, row.extra, r.header.gfp_table.format(f.gfp), traces::to_string(f.context),
               names.comm_of(f.comm_id), f.pid, site ? *site : std::string(), row.suffix);
  }
}

void print_replay_text(std::FILE* out, const ReplayResult& r, std::size_t top_n) {
  const Names names(r);
  const ReplayCounters& c = r.counters;
  const std::uint32_t ps = r.header.page_size;
  const std::uint64_t duration = r.duration_ns();
  fmt::print(out, "labyrinth replay ({}): {}\n", to_string(r.mode), r.trace_path);
  fmt::print(out, "  kernel {} ({}), {} CPUs; {} events over {}{}\n",
             r.header.kernel_release.empty() ? "unknown" : r.header.kernel_release,
             r.header.machine.empty() ? "?" : r.header.machine, r.header.nr_cpus, c.events, format_duration_ns(duration),
             r.complete ? "" : "  [INCOMPLETE]");
  fmt::print(out, "  model seeded from {}; per-CPU lists {}\n",
             r.seeded_from == SeedSource::StartSnapshot ? "the start snapshot" : "all memory free (no start free-page map)",
             pcp_mode_name(r.pcp_mode));
  const auto& t = r.model_config.tunables;
  fmt::print(out, "  min_free_kbytes {}{}, watermark_scale_factor {}, watermark_boost_factor {}, highatomic {}\n",
             t.min_free_kbytes ? std::to_string(*t.min_free_kbytes) : std::string("computed"),
             r.what_if.min_free_kbytes ? fmt::format(" (recorded {})", r.recorded_min_free_kbytes) : std::string(),
             t.watermark_scale_factor, t.watermark_boost_factor, t.highatomic ? "on" : "off");
  for (const auto& z : r.model_config.zones) {
    const auto wm = z.watermarks.value_or(allocator::Watermarks{});
    fmt::print(out, "  zone {}/{}: {} managed pages, watermarks min {} low {} high {}\n", z.node,
               allocator::zone_type_name(z.type), z.managed_pages, wm.min, wm.low, wm.high);
  }
  for (const auto& n : r.notes) fmt::print(out, "  note: {}\n", n);

  fmt::print(out, "\nSummary\n");
  fmt::print(out, "  allocations       {:>12}  {:>12}  ({} atomic)\n", c.allocations, format_bytes(c.allocated_pages * ps),
             c.atomic_allocations);
  fmt::print(out, "  frees             {:>12}  {:>12}\n", c.frees, format_bytes(c.freed_pages * ps));
  fmt::print(out, "  {:<17} {:>12}  {:>12}  ({} atomic: cannot reclaim)\n",
             r.mode == ReplayMode::Mirror ? "failures" : "predicted fails", c.failures, format_bytes(c.failed_pages * ps),
             c.atomic_failures);
  for (int k = 0; k < kFailureClassCount; ++k) {
    const auto cls = static_cast<FailureClass>(k);
    const std::uint64_t n = r.failures.by_class(cls);
    if (n == 0) continue;
    std::string causes;
    for (int j = 0; j < kFailureCauseCount; ++j) {
      const auto v = r.failures.by_class_cause()[static_cast<std::size_t>(k)][static_cast<std::size_t>(j)];
      if (v != 0) causes += fmt::format("{}{} {}", causes.empty() ? "" : ", ", v, to_string(static_cast<FailureCause>(j)));
    }
    fmt::print(out, "    {:<15} {:>12}  ({})\n", to_string(cls), n, causes);
  }
  if (const KernelCounterTally& k = r.failures.kernel_counters(); k.failures != 0) {
    fmt::print(out, "    the kernel's zone counters at {} of them: the model's state said another cause at {}, their "
               "check passes at {}; the model's free pages {} from their count (median), {} (90%), {} (max)\n",
               k.failures, k.model_cause_differed, k.their_check_passes(), k.free_error_quantile(0.5),
               k.free_error_quantile(0.9), k.free_error_quantile(1.0));
    print_exact_counts(out, k, "    ");
  }
  if (c.pcp_refills + c.pcp_drains != 0) {
    // Simulate (--follow-pcp) follows refills and drains only: its allocations take their own blocks.
    const std::string takes =
        r.mode == ReplayMode::Mirror ? fmt::format(", direct takes {}", c.pcp_direct_takes) : std::string();
    fmt::print(out, "  pcp refills {}{}, drains {}\n", c.pcp_refills, takes, c.pcp_drains);
  }
  if (c.extfrag_events != 0) {
    fmt::print(out, "  extfrag events {}, pageblock type changes {}\n", c.extfrag_events, c.pageblock_changes);
  }
  if (c.highatomic_reservations != 0) {
    fmt::print(out, "  highatomic reservations {} ({})\n", c.highatomic_reservations,
               recorded(r.header, traces::EventKind::PageblockMove) ? "the kernel's, recorded"
                                                                     : "where the kernel makes them: not traced");
  }
  if (c.zone_resizes != 0) {
    fmt::print(out, "  zones resized at {} keyframes (memory initialised lazily or hot-plugged: each zone's new size, "
               "with the watermarks and lowmem_reserve the kernel recomputes for it)\n",
               c.zone_resizes);
  }
  if (c.isolations != 0) {
    fmt::print(out, "  compaction isolations {} ({} pages taken off the free lists)\n", c.isolations, c.isolated_pages);
  }
  if (r.mode == ReplayMode::Simulate) {
    fmt::print(out, "\nAgainst the recording\n");
    print_agreement(out, r.agreement);
    fmt::print(out, "  both succeeded    {:>12}\n  both failed       {:>12}\n", c.both_succeeded, c.both_failed);
    if (const KernelCounterTally& k = r.model_state_at_kernel_failures; k.failures != 0) {
      fmt::print(out, "  the kernel's zone counters at {} of its failures: the model's free pages {} from their count "
                 "(median), {} (90%), {} (max)\n", k.failures, k.free_error_quantile(0.5), k.free_error_quantile(0.9),
                 k.free_error_quantile(1.0));
      print_their_causes(out, k);
      print_exact_counts(out, k, "  ");
    }
    fmt::print(out, "  model failed, kernel succeeded {:>8}\n  model served, kernel failed    {:>8}\n",
               c.model_failed_kernel_succeeded, c.model_served_kernel_failed);
    fmt::print(out, "  reclaim stalls    {:>12}  (requests that direct-reclaimed from the model's reclaimable memory)\n",
               c.reclaim_stalls);
    if (r.model_counters.served_after_kernel_reclaim != 0) {
      fmt::print(out, "  after kernel's reclaim {:>7}  (served below min after as many rounds as the kernel's own reclaims, which freed pages)\n",
                 r.model_counters.served_after_kernel_reclaim);
    }
    if (c.oom_kills != 0) {
      fmt::print(out, "  OOM kills         {:>12}  (nothing left to reclaim: served as the kernel's OOM killer would let them)\n",
                 c.oom_kills);
    }
    fmt::print(out, "  compaction needed {:>12}  (no free block of the order)\n", c.compaction_needed);
    if (c.fallback_requests != 0) {
      fmt::print(out, "  caller fallbacks  {:>12}  (high-order requests the model refused and the kernel served, whose callers "
                 "fall back to order 0: {} pages taken, {} refused)\n", c.fallback_requests, c.fallback_pages,
                 c.fallback_failures);
    }
    fmt::print(out, "  kernel's block compacted {:>5}  (served where the kernel served them after moving the model's pages out)\n",
               c.kernel_block_compactions);
    fmt::print(out, "  direct compaction {:>12}  runs, {} requests served after one, {} pages moved\n", c.compactions,
               c.compaction_successes, c.compaction_migrated_pages);
    if (const KernelCounterCheck& k = r.validation.kernel_counters; k.available) {
      fmt::print(out, "  kernel compaction {:>12}  stalls, {} succeeded, {} pages isolated by its scanners (/proc/vmstat over the recording)\n",
                 k.compact_stall, k.compact_success, k.compact_isolated);
    }
    fmt::print(out, "  kswapd reclaim    {:>12}  pages in {} wake-ups (the model's kswapd, towards the high watermark)\n", c.kswapd_reclaimed_pages,
               c.kswapd_runs);
    fmt::print(out, "  seed pages freed  {:>12}  (held from before the recording, then allocated or drained by the kernel: on a per-CPU list at the start)\n",
               c.seed_pages_released);
    fmt::print(out, "  reclaim allowance {:>12}  pages the model's reclaim may hold free beyond the recording's own reclaim (what the what-if adds)\n",
               c.reclaim_allowance_pages);
    if (c.withheld_reclaim_pages != 0) {
      fmt::print(out, "  reclaim withheld  {:>12}  pages of kswapd's recorded frees left in use (the what-if's high watermark lies below the recorded one)\n",
                 c.withheld_reclaim_pages);
    }
    if (c.balloon_requested_pages != 0) {
      fmt::print(out, "  balloon           {:>12}  of {} requested\n", format_bytes(c.balloon_pages * ps),
                 format_bytes(c.balloon_requested_pages * ps));
    }
  }

  if (r.failures.total() != 0) {
    print_failure_table(out, r, names, r.failures, top_n, "Failures", "cause", fmt::format("{:>5} {:>5}", "unus", "frag"),
                        [&](const FailureRecord& f) {
                          return FailureRow{to_string(f.cause),
                                            fmt::format("{:>5} {:>5}", f.state.unusable_index, f.state.fragmentation_index),
                                            r.mode == ReplayMode::Simulate && !f.kernel_failed ? " (kernel served it)" : ""};
                        });
    fmt::print(out, "  (free: free pages the request may use; min_eff: its effective min watermark + lowmem reserve;\n"
                    "   big: largest free order; unus/frag: unusable and fragmentation index x1000 at its order)\n");
  }
  if (r.mode == ReplayMode::Simulate && r.missed.total() != 0) {
    // The kernel's failures the model served: the model's state before it served each, beside
    // what failed it on the kernel's counters and their free pages above the effective min.
    print_failure_table(out, r, names, r.missed, top_n, "Missed: the kernel's failures the model served", "their cause",
                        fmt::format("{:>11}", "their above"), [](const FailureRecord& f) {
                          const std::string_view cause =
                              !f.kernel ? "-" : f.kernel->cause ? to_string(*f.kernel->cause) : "none (pass)";
                          return FailureRow{cause, fmt::format("{:>11}", f.kernel ? fmt::format("{}", f.kernel->margin_pages) : "-"),
                                            ""};
                        });
    fmt::print(out, "  (free, min_eff, big: the model's, before it served the request; their cause and their above:\n"
                    "   what failed it on the kernel's counters and free lists, and their free pages above the\n"
                    "   effective min, where the recorder read them)\n");
  }

  if (!r.timeline.empty() && r.timeline_samples != 0) {
    fmt::print(out, "\nTimeline: {} samples every {} ({} kept per zone in the JSON)\n", r.timeline_samples,
               format_duration_ns(r.timeline_interval_ns), r.timeline.front().samples.size());
    for (const auto& z : r.timeline) {
      std::uint64_t min_free = ~0ull, max_free = 0, atomic_fail = 0;
      int min_large = 99;
      for (const auto& s : z.samples) {
        min_free = std::min(min_free, s.free_pages);
        max_free = std::max(max_free, s.free_pages);
        min_large = std::min(min_large, s.largest_free_order);
        atomic_fail += s.atomic_failures;
      }
      if (z.samples.empty()) continue;
      fmt::print(out, "  {}/{}: free pages {}..{}, lowest largest-free-order {}, atomic failures {}\n", z.node, z.zone,
                 min_free, max_free, min_large, atomic_fail);
    }
  }

  const Validation& v = r.validation;
  if (r.mode == ReplayMode::Mirror) {
    fmt::print(out, "\nValidation against the end snapshot\n");
    if (!v.available) {
      fmt::print(out, "  not available: {}\n", v.reason);
    } else {
      fmt::print(out, "  free pages: model {} kernel {} ({:+.2f}%) {}\n", v.model_free_pages, v.kernel_free_pages,
                 100.0 * (static_cast<double>(v.model_free_pages) - static_cast<double>(v.kernel_free_pages)) /
                     std::max(1.0, static_cast<double>(v.kernel_free_pages)),
                 v.free_within ? "within 1%" : "NOT within 1%");
      if (v.page_reporting_pages != 0) {
        fmt::print(out, "    of which {:+} pages in blocks free page reporting may hold (~ below)\n", v.page_reporting_pages);
      }
      bool reporting_marks = false;
      for (const auto& z : v.zones) {
        fmt::print(out, "  {}/{}: free {} vs {}; pcp {} vs {}\n    order ", z.node, z.zone, z.model_free_pages,
                   z.kernel_free_pages, z.model_pcp_pages, z.kernel_pcp_pages);
        // " {:>8}": the columns stay 9 wide, and a count of 9 digits or more still has a space before it.
        for (const auto& o : z.orders) fmt::print(out, " {:>8}", o.order);
        fmt::print(out, "\n    model ");
        for (const auto& o : z.orders) fmt::print(out, " {:>8}", o.model_blocks);
        fmt::print(out, "\n    kernel");
        for (const auto& o : z.orders) fmt::print(out, " {:>8}", o.kernel_blocks);
        fmt::print(out, "\n    error ");
        for (const auto& o : z.orders) {
          const char mark = !o.checked ? ' ' : o.page_reporting ? '~' : (o.within ? '%' : '!');
          fmt::print(out, "{:>8.1f}{}", 100.0 * o.relative_error, mark);
          reporting_marks |= o.page_reporting;
        }
        fmt::print(out, "\n");
        if (z.pageblocks_known) {
          fmt::print(out, "    pageblocks (model/kernel; Movable the rest):");
          for (unsigned type = 0; type < allocator::kMigrateTypes; ++type) {
            if (!counted_pageblock_type(z, type)) continue;
            fmt::print(out, " {} {}/{}", allocator::migratetype_name(static_cast<allocator::MigrateType>(type)),
                       z.model_pageblocks[type], z.kernel_pageblocks[type]);
          }
          fmt::print(out, "\n");
        }
        if (z.free_map) {
          fmt::print(out, "    free map: {} pages free in both, {} only in the model, {} only in the kernel\n",
                     z.free_both_pages, z.free_only_model_pages, z.free_only_kernel_pages);
          print_free_map_differences(out, z);
        }
      }
      if (reporting_marks) {
        fmt::print(out, "  ~ within only by the {} blocks free page reporting may hold off the lists at each snapshot\n",
                   kPageReportingCapacity);
      }
      fmt::print(out, "  => {} (orders with >= {} blocks within 5%: {})\n", v.passed ? "PASS" : "FAIL", kOrderMinBlocks,
                 v.orders_within ? "yes" : "no");
      print_kernel_counters(out, v.kernel_counters, "  ");
    }
    print_keyframes(out, r);
  } else {
    print_keyframes(out, r);  // simulate with the recorded watermarks: how far it went from the kernel
  }
  if (r.invariant_violation) fmt::print(out, "\nmodel invariant violated: {}\n", *r.invariant_violation);
  print_data_quality(out, r.quality, missing_attach_points(r.header));
}

}  // namespace labyrinth::replay
