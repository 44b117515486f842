#include "labyrinth/replay/validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "labyrinth/common/text.hpp"

namespace labyrinth::replay {

namespace {

double rel_error(std::uint64_t model, std::uint64_t kernel) {
  if (model == kernel) return 0;
  if (kernel == 0) return 1;
  return std::fabs(static_cast<double>(model) - static_cast<double>(kernel)) / static_cast<double>(kernel);
}

// Free pages agree when what the blocks free page reporting may hold leaves explains all but
// kFreePagesTolerance of the difference.
bool free_within(std::uint64_t model, std::uint64_t kernel, std::int64_t page_reporting_pages) {
  const double residual = static_cast<double>(model) - static_cast<double>(kernel) - static_cast<double>(page_reporting_pages);
  return std::fabs(residual) <= kFreePagesTolerance * static_cast<double>(kernel == 0 ? 1 : kernel);
}

// The lowest order free page reporting took while the trace was recorded, if it ran.
std::optional<unsigned> page_reporting_order(const traces::TraceHeader& header) {
  const auto it = header.kernel_params.find("page_reporting.page_reporting_order");
  if (it == header.kernel_params.end()) return std::nullopt;
  unsigned order = 0;
  if (!common::parse_number(it->second, order) || order > header.max_order) return std::nullopt;
  return order;
}

using Runs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // [first, second), sorted

// Page by page: the pages free in both maps, in one only, and the ranges free in one only (all
// counted, the first kFreeMapDifferencesKept kept). Both lists are sorted and disjoint, so their
// edges merge in one pass.
void compare_free_maps(const Runs& mine, const Runs& theirs, ZoneValidation& z,
                       std::size_t keep = kFreeMapDifferencesKept) {
  // Edge k of a list: the start of run k/2 (even k) or its end (odd k).
  auto edge = [](const Runs& runs, std::size_t k) { return k % 2 == 0 ? runs[k / 2].first : runs[k / 2].second; };
  std::size_t a = 0, b = 0;  // next edge of mine, of theirs
  int state = 0;             // bit 0: free in the model, bit 1: free in the kernel
  std::uint64_t since = 0;
  while (a < 2 * mine.size() || b < 2 * theirs.size()) {
    const std::uint64_t pfn = std::min(a < 2 * mine.size() ? edge(mine, a) : ~std::uint64_t{0},
                                       b < 2 * theirs.size() ? edge(theirs, b) : ~std::uint64_t{0});
    int next = state;
    for (; a < 2 * mine.size() && edge(mine, a) == pfn; ++a) next ^= 1;
    for (; b < 2 * theirs.size() && edge(theirs, b) == pfn; ++b) next ^= 2;
    if (next == state) continue;  // one run ends where the next begins
    const std::uint64_t pages = pfn - since;
    if (state == 3) z.free_both_pages += pages;
    if (state == 1) z.free_only_model_pages += pages;
    if (state == 2) z.free_only_kernel_pages += pages;
    if ((state == 1 || state == 2) && pages != 0) {
      ++z.free_map_difference_ranges;
      if (z.free_map_differences.size() < keep) z.free_map_differences.push_back({since, pages, state == 1});
    }
    since = pfn;
    state = next;
  }
}

// A free-page map's runs within [lo, hi).
Runs clip_runs(const std::vector<traces::FreeRun>& map, std::uint64_t lo, std::uint64_t hi) {
  Runs out;
  for (const auto& r : map) {
    const std::uint64_t a = std::max(lo, r.start_pfn);
    const std::uint64_t b = std::min(hi, r.start_pfn + r.pages);
    if (a < b) out.emplace_back(a, b);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::uint64_t, std::uint64_t>> model_free_runs(const allocator::Model& model, std::uint16_t zone) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  const allocator::ZoneConfig& zc = model.zone_config(zone);
  const std::uint64_t end = zc.start_pfn.value + zc.spanned_pages;
  // A pageblock without free pages holds no run: skip it whole, so the walk costs what the
  // free pages need, not a block lookup for every allocated page of the machine.
  const std::vector<allocator::PageblockState> pageblocks = model.pageblocks(zone);
  const unsigned pbo = model.config().pageblock_order;
  const std::uint64_t first_pageblock = pageblocks.empty() ? 0 : pageblocks.front().start_pfn >> pbo;
  for (std::uint64_t p = zc.start_pfn.value; p < end;) {
    const std::uint64_t pb = (p >> pbo) - first_pageblock;
    if (pb < pageblocks.size() && pageblocks[pb].free_pages == 0) {
      p = ((p >> pbo) + 1) << pbo;
      continue;
    }
    const auto b = model.block_containing(allocator::Pfn{p});
    if (!b) {
      ++p;
      continue;
    }
    const std::uint64_t head = b->head.value;
    const std::uint64_t next = std::max(p + 1, head + (std::uint64_t{1} << b->order));
    if (b->state == allocator::BlockState::Free) {
      const std::uint64_t lo = std::max(head, p);
      if (!runs.empty() && runs.back().second >= lo) {
        runs.back().second = std::max(runs.back().second, next);
      } else {
        runs.emplace_back(lo, next);
      }
    }
    p = next;
  }
  return runs;
}

std::vector<FreeMapDifference> free_map_differences(const allocator::Model& model, const ModelSetup& setup,
                                                    const traces::TraceHeader& header,
                                                    const std::vector<traces::FreeRun>& map) {
  std::vector<FreeMapDifference> out;
  for (std::size_t mz = 0; mz < model.zone_count(); ++mz) {
    const traces::ZoneInfo& hz = header.zones[setup.header_zone_of_model[mz]];
    ZoneValidation z;
    compare_free_maps(model_free_runs(model, static_cast<std::uint16_t>(mz)),
                      clip_runs(map, hz.start_pfn, hz.start_pfn + hz.spanned_pages), z,
                      std::numeric_limits<std::size_t>::max());
    out.insert(out.end(), z.free_map_differences.begin(), z.free_map_differences.end());
  }
  return out;
}

std::uint64_t snapshot_free_pages(const traces::ZoneSnapshot& z) {
  // buddyinfo's blocks, read at the snapshot's instant under each zone's lock, exactly;
  // zoneinfo's NR_FREE_PAGES is read later and lags by the per-CPU counter drift, so it
  // serves only a snapshot without buddyinfo.
  if (z.buddyinfo.empty()) return z.free_pages;
  std::uint64_t pages = 0;
  for (std::size_t o = 0; o < z.buddyinfo.size() && o < 64; ++o) pages += z.buddyinfo[o] << o;
  return pages;
}

KeyframeCheck keyframe_check(const Validation& v, std::uint64_t ts_ns) {
  KeyframeCheck k;
  k.ts_ns = ts_ns;
  k.model_free_pages = v.model_free_pages;
  k.kernel_free_pages = v.kernel_free_pages;
  k.free_relative_error = v.free_relative_error;
  k.passed = v.passed;
  for (const auto& z : v.zones) {
    k.zones.push_back({z.node, z.zone, z.model_free_pages, z.kernel_free_pages, z.model_pcp_pages, z.kernel_pcp_pages, std::nullopt});
    if (z.pageblocks_known) {
      const unsigned ha = allocator::index_of(allocator::MigrateType::HighAtomic);
      k.highatomic_known = true;
      k.model_highatomic_pageblocks += z.model_pageblocks[ha];
      k.kernel_highatomic_pageblocks += z.kernel_pageblocks[ha];
      k.model_highatomic_free_pages += z.model_highatomic_free_pages;
      k.kernel_highatomic_free_pages += z.kernel_highatomic_free_pages;
    }
    for (const auto& o : z.orders) {
      if (o.checked && o.relative_error > k.worst_order_error) {
        k.worst_order_error = o.relative_error;
        k.worst_order_zone = z.zone;
        k.worst_order = o.order;
      }
    }
  }
  return k;
}

Validation validate_end_state(const allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                              const traces::Snapshot& end) {
  Validation v;
  if (!end.present || end.zones.empty()) {
    v.reason = "the trace has no end snapshot";
    return v;
  }
  v.available = true;
  v.orders_within = true;
  const std::optional<unsigned> reporting = page_reporting_order(header);
  for (std::size_t mz = 0; mz < model.zone_count(); ++mz) {
    const traces::ZoneInfo& hz = header.zones[setup.header_zone_of_model[mz]];
    const traces::ZoneSnapshot* ks = nullptr;
    for (const auto& s : end.zones) {
      if (s.node == hz.node && s.zone == hz.name) ks = &s;
    }
    if (ks == nullptr) continue;
    const allocator::ZoneMetrics m = model.metrics(static_cast<std::uint16_t>(mz));
    ZoneValidation z;
    z.node = hz.node;
    z.zone = hz.name;
    z.model_free_pages = m.nr_free_pages;
    z.kernel_free_pages = snapshot_free_pages(*ks);
    z.free_relative_error = rel_error(z.model_free_pages, z.kernel_free_pages);
    z.model_pcp_pages = m.pcp_pages;
    z.kernel_pcp_pages = ks->pcp_pages;
    for (unsigned o = 0; o < m.orders; ++o) {
      OrderValidation ov;
      ov.order = o;
      ov.model_blocks = m.nr_free[o];
      ov.kernel_blocks = o < ks->buddyinfo.size() ? ks->buddyinfo[o] : 0;
      ov.relative_error = rel_error(ov.model_blocks, ov.kernel_blocks);
      ov.checked = ov.kernel_blocks >= kOrderMinBlocks;
      ov.within = !ov.checked || ov.relative_error <= kOrderTolerance;
      if (reporting && o >= *reporting) {
        const auto diff = static_cast<std::int64_t>(ov.model_blocks) - static_cast<std::int64_t>(ov.kernel_blocks);
        if (static_cast<std::uint64_t>(diff < 0 ? -diff : diff) <= kPageReportingCapacity) {
          z.page_reporting_pages += diff * (std::int64_t{1} << o);
          if (!ov.within) ov.within = ov.page_reporting = true;
        }
      }
      z.orders_within = z.orders_within && ov.within;
      z.orders.push_back(ov);
    }
    if (!ks->pageblocks_by_type.empty()) {
      z.pageblocks_known = true;
      for (std::size_t recorded = 0; recorded < ks->pageblocks_by_type.size() && recorded < setup.migratetype_of.size(); ++recorded) {
        if (const auto mt = setup.migratetype_of[recorded]) z.kernel_pageblocks[allocator::index_of(*mt)] += ks->pageblocks_by_type[recorded];
      }
      for (const allocator::PageblockState& pb : model.pageblocks(static_cast<std::uint16_t>(mz))) {
        ++z.model_pageblocks[allocator::index_of(pb.type)];
      }
      z.model_highatomic_free_pages = m.nr_free_highatomic;
      for (std::size_t recorded = 0; recorded < ks->pagetype_free.size() && recorded < setup.migratetype_of.size(); ++recorded) {
        if (setup.migratetype_of[recorded] != allocator::MigrateType::HighAtomic) continue;
        const auto& row = ks->pagetype_free[recorded];
        for (std::size_t o = 0; o < row.size() && o < 64; ++o) z.kernel_highatomic_free_pages += row[o] << o;
      }
    }
    if (!end.free_runs.empty()) {
      z.free_map = true;
      const std::uint64_t lo = hz.start_pfn;
      const std::uint64_t hi = hz.start_pfn + hz.spanned_pages;
      compare_free_maps(model_free_runs(model, static_cast<std::uint16_t>(mz)), clip_runs(end.free_runs, lo, hi), z);
      v.free_map_pages_compared += hi - lo;
      v.free_both_pages += z.free_both_pages;
      v.free_only_model_pages += z.free_only_model_pages;
      v.free_only_kernel_pages += z.free_only_kernel_pages;
    }
    z.free_within = free_within(z.model_free_pages, z.kernel_free_pages, z.page_reporting_pages);
    v.model_free_pages += z.model_free_pages;
    v.kernel_free_pages += z.kernel_free_pages;
    v.page_reporting_pages += z.page_reporting_pages;
    v.orders_within = v.orders_within && z.orders_within;
    v.zones.push_back(std::move(z));
  }
  if (v.zones.empty()) {
    v.available = false;
    v.reason = "the end snapshot names none of the replayed zones";
    return v;
  }
  v.free_relative_error = rel_error(v.model_free_pages, v.kernel_free_pages);
  v.free_within = free_within(v.model_free_pages, v.kernel_free_pages, v.page_reporting_pages);
  v.passed = v.free_within && v.orders_within;
  return v;
}

KernelCounterCheck check_kernel_counters(const traces::Snapshot& start, const traces::Snapshot& end,
                                         std::uint64_t trace_allocated_pages, std::uint64_t trace_freed_pages) {
  KernelCounterCheck c;
  if (start.vmstat.empty() || end.vmstat.empty() || end.vmstat_ts_ns <= start.vmstat_ts_ns) return c;
  bool rose = true;
  auto delta = [&](std::string_view name) -> std::uint64_t {
    const auto a = start.vmstat.find(std::string(name));
    const auto b = end.vmstat.find(std::string(name));
    if (a == start.vmstat.end() || b == end.vmstat.end()) return 0;
    if (b->second < a->second) rose = false;  // not a counter since boot: no comparison
    return b->second - a->second;
  };
  for (const char* zone : {"pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_movable", "pgalloc_high",
                           "pgalloc_device"}) {
    c.kernel_allocated_pages += delta(zone);
  }
  c.kernel_freed_pages = delta("pgfree");
  c.compact_stall = delta("compact_stall");
  c.compact_success = delta("compact_success");
  c.compact_fail = delta("compact_fail");
  c.compact_isolated = delta("compact_isolated");
  for (const char* zone : {"allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_movable",
                           "allocstall_high", "allocstall_device"}) {
    c.allocstall += delta(zone);
  }
  c.pgsteal_direct = delta("pgsteal_direct");
  c.pageoutrun = delta("pageoutrun");
  c.available = rose && end.vmstat.contains("pgfree") && start.vmstat.contains("pgfree");
  c.ns = end.vmstat_ts_ns - start.vmstat_ts_ns;
  c.trace_allocated_pages = trace_allocated_pages;
  c.trace_freed_pages = trace_freed_pages;
  return c;
}

}  // namespace labyrinth::replay
