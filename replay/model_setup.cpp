#include "labyrinth/replay/model_setup.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace labyrinth::replay {

using allocator::MigrateType;
using allocator::ZoneType;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::optional<ZoneType> zone_kind(std::string_view name) {
  for (unsigned i = 0; i < allocator::kZoneTypes; ++i) {
    const auto t = static_cast<ZoneType>(i);
    if (iequals(allocator::zone_type_name(t), name)) return t;
  }
  return std::nullopt;
}

std::optional<MigrateType> migratetype_named(std::string_view name) {
  for (unsigned i = 0; i < allocator::kMigrateTypes; ++i) {
    const auto t = static_cast<MigrateType>(i);
    if (iequals(allocator::migratetype_name(t), name)) return t;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::vector<std::uint64_t> parse_list(std::string_view s) {
  std::vector<std::uint64_t> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != ',') ++j;
    if (j > i) {
      const auto v = parse_u64(s.substr(i, j - i));
      if (!v) return {};
      out.push_back(*v);
    }
    i = j;
  }
  return out;
}

std::string zone_text(const traces::ZoneInfo& z) {
  return fmt::format("zone {} of node {} (pfns {:#x}-{:#x})", z.name, z.node, z.start_pfn, z.start_pfn + z.spanned_pages);
}

// The machine the header declares, checked before anything is sized from it: zones that wrap
// around the pfn space or overlap, or that span more than the model takes (16 TiB). The
// allocator refuses these too, without naming the zones.
void check_machine(const traces::TraceHeader& header, std::uint64_t page_size) {
  std::vector<const traces::ZoneInfo*> zones;
  std::uint64_t spanned = 0;
  for (const auto& z : header.zones) {
    if (z.spanned_pages == 0 || z.managed_pages == 0 || !zone_kind(z.name)) continue;  // left out below
    if (z.start_pfn + z.spanned_pages < z.start_pfn) {
      throw std::invalid_argument(fmt::format("the trace declares {} pages from pfn {:#x} in zone {} of node {}: past "
                                              "the end of the pfn space",
                                              z.spanned_pages, z.start_pfn, z.name, z.node));
    }
    spanned = spanned + z.spanned_pages < spanned ? ~std::uint64_t{0} : spanned + z.spanned_pages;
    zones.push_back(&z);
  }
  if (spanned > allocator::kMaxMachineBytes / page_size) {
    throw std::invalid_argument(fmt::format("the trace declares zones of {} page frames of {} bytes ({:.1f} TiB); the "
                                            "model takes machines up to 16 TiB",
                                            spanned, page_size,
                                            static_cast<double>(spanned) * static_cast<double>(page_size) / 0x1p40));
  }
  std::sort(zones.begin(), zones.end(), [](const auto* a, const auto* b) { return a->start_pfn < b->start_pfn; });
  for (std::size_t i = 1; i < zones.size(); ++i) {
    if (zones[i - 1]->start_pfn + zones[i - 1]->spanned_pages > zones[i]->start_pfn) {
      throw std::invalid_argument(fmt::format("the trace declares zones that overlap: {} and {}",
                                              zone_text(*zones[i - 1]), zone_text(*zones[i])));
    }
  }
}

bool is_64bit(const std::string& machine) {
  return machine.empty() || machine.find("64") != std::string::npos || machine == "s390x";
}

}  // namespace

std::optional<std::uint64_t> sysctl_u64(const traces::TraceHeader& header, const std::string& key) {
  const auto it = header.vm_sysctls.find(key);
  if (it == header.vm_sysctls.end()) return std::nullopt;
  return parse_u64(it->second);
}

allocator::GfpLayout gfp_layout_of(const traces::GfpTable& table) {
  if (table.empty()) return allocator::GfpLayout::linux_6_10();
  allocator::GfpLayout l;
  l.dma = table.bits_of("__GFP_DMA");
  l.highmem = table.bits_of("__GFP_HIGHMEM");
  l.dma32 = table.bits_of("__GFP_DMA32");
  l.movable = table.bits_of("__GFP_MOVABLE");
  l.reclaimable = table.bits_of("__GFP_RECLAIMABLE");
  l.high = table.bits_of("__GFP_HIGH");
  l.io = table.bits_of("__GFP_IO");
  l.fs = table.bits_of("__GFP_FS");
  l.direct_reclaim = table.bits_of("__GFP_DIRECT_RECLAIM");
  l.kswapd_reclaim = table.bits_of("__GFP_KSWAPD_RECLAIM");
  l.nowarn = table.bits_of("__GFP_NOWARN");
  l.retry_mayfail = table.bits_of("__GFP_RETRY_MAYFAIL");
  l.nofail = table.bits_of("__GFP_NOFAIL");
  l.noretry = table.bits_of("__GFP_NORETRY");
  l.memalloc = table.bits_of("__GFP_MEMALLOC");
  l.comp = table.bits_of("__GFP_COMP");
  l.nomemalloc = table.bits_of("__GFP_NOMEMALLOC");
  l.hardwall = table.bits_of("__GFP_HARDWALL");
  l.thisnode = table.bits_of("__GFP_THISNODE");
  // A table without single-bit entries (e.g. only composites): fall back to the built-in one.
  if (l.high == 0 && l.direct_reclaim == 0 && l.kswapd_reclaim == 0) return allocator::GfpLayout::linux_6_10();
  return l;
}

std::vector<ZoneType> node_zone_kinds(const traces::TraceHeader& header, int node) {
  std::vector<ZoneType> present;
  std::size_t n = 0;
  for (const auto& z : header.zones) {
    if (z.node != node) continue;
    if (const auto k = zone_kind(z.name)) present.push_back(*k);
    n = std::max(n, z.lowmem_reserve_pages.size());
  }
  auto sorted_unique = [](std::vector<ZoneType> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  std::vector<ZoneType> kinds = present;
  kinds.push_back(ZoneType::Normal);
  kinds.push_back(ZoneType::Movable);
  kinds = sorted_unique(kinds);
  if (n == 0 || kinds.size() > n) return sorted_unique(present);
  // Optional kinds in the order a kernel of this word size most likely configures them.
  const std::vector<ZoneType> candidates =
      is_64bit(header.machine) ? std::vector<ZoneType>{ZoneType::Dma32, ZoneType::Dma, ZoneType::Device, ZoneType::HighMem}
                               : std::vector<ZoneType>{ZoneType::HighMem, ZoneType::Dma, ZoneType::Device, ZoneType::Dma32};
  for (const ZoneType c : candidates) {
    if (kinds.size() >= n) break;
    if (std::find(kinds.begin(), kinds.end(), c) == kinds.end()) {
      kinds.push_back(c);
      kinds = sorted_unique(kinds);
    }
  }
  return kinds;
}

KernelGeneration kernel_generation(const std::string& r) {
  unsigned major = 0, minor = 0, patch = 0;
  const char* end = r.data() + r.size();
  const auto [p1, ec1] = std::from_chars(r.data(), end, major);
  if (ec1 != std::errc() || p1 == end || *p1 != '.') {
    return {true, fmt::format("the kernel version is not recorded{}: the rules of Linux 6.12.95 to 7.x are assumed",
                              r.empty() ? std::string() : fmt::format(" ('{}' is not one)", r))};
  }
  const auto [p2, ec2] = std::from_chars(p1 + 1, end, minor);
  if (ec2 == std::errc() && p2 != end && *p2 == '.') std::from_chars(p2 + 1, end, patch);
  const auto before = [&](unsigned ma, unsigned mi) { return major < ma || (major == ma && minor < mi); };
  if (before(6, 3)) {
    return {false, fmt::format("Linux {}.{} grants reserves with ALLOC_HARDER (__GFP_ATOMIC, before 6.3), not the "
                               "ALLOC_MIN_RESERVE/ALLOC_NON_BLOCK rules the model has",
                               major, minor)};
  }
  if (before(6, 10)) {
    return {false, fmt::format("Linux {}.{} predates the model's watermark and per-CPU list rules (6.10: "
                               "__zone_watermark_unusable_free without the whole nr_reserved_highatomic, the GFP "
                               "layout of 6.10)",
                               major, minor)};
  }
  if (major == 6 && (minor == 13 || minor == 14 || (minor == 12 && patch < 95))) {
    return {false, fmt::format("Linux 6.{}{} falls back with __rmqueue_fallback/steal_suitable_fallback; the model has "
                               "the claim/steal split of 6.15 (and of 6.12.95)",
                               minor, minor == 12 ? fmt::format(".{}", patch) : std::string())};
  }
  if (major > 7 || (major == 7 && minor > 3)) {
    return {true, fmt::format("Linux {}.{} is newer than the rules the model has (up to 7.3): those are assumed", major,
                              minor)};
  }
  return {};
}

allocator::KernelRules kernel_rules_of(const traces::TraceHeader& header) {
  allocator::KernelRules rules = allocator::KernelRules::linux_6_12();
  unsigned major = 0, minor = 0;
  const std::string& r = header.kernel_release;
  const char* p = r.data();
  const char* end = r.data() + r.size();
  auto [p1, ec1] = std::from_chars(p, end, major);
  if (ec1 == std::errc() && p1 < end && *p1 == '.') {
    std::from_chars(p1 + 1, end, minor);
    if (major > 7 || (major == 7 && minor >= 3)) rules = allocator::KernelRules::linux_7_3();
    if (major == 6 && (minor == 10 || minor == 11)) rules.unusable_counts_free_highatomic = false;
    // free_high's threshold rose to batch + high_min / 2 in 6.16 (free_frozen_page_commit).
    if (major < 6 || (major == 6 && minor < 16)) rules.pcp_free_high_half_high_min = false;
  }
  bool dma32 = false;
  for (const auto& z : header.zones) dma32 = dma32 || iequals(z.name, "DMA32");
  rules.zone_dma32 = dma32 || header.machine == "x86_64" || header.machine == "aarch64";
  if (const auto v = sysctl_u64(header, "defrag_mode")) rules.defrag_mode = *v != 0;
  if (header.page_size != 4096 || header.max_order < 9) rules.pcp_pmd_order = std::nullopt;
  return rules;
}

ModelSetup make_model_setup(const traces::TraceHeader& header, allocator::PcpMode pcp, const WhatIf& what_if) {
  ModelSetup s;
  allocator::ModelConfig& c = s.config;
  c.page_size = header.page_size != 0 ? header.page_size : 4096;
  check_machine(header, c.page_size);
  c.max_order = header.max_order;
  c.pageblock_order = header.pageblock_order;
  c.nr_cpus = std::max<std::uint32_t>(header.nr_cpus, 1);
  if (header.nr_cpus == 0) s.notes.emplace_back("the trace does not give the CPU count; assuming 1");
  c.gfp = gfp_layout_of(header.gfp_table);
  s.bits = traces::GfpBits::from(header.gfp_table.empty() ? traces::GfpTable::builtin_linux_6_10() : header.gfp_table);
  c.rules = kernel_rules_of(header);

  allocator::Tunables& t = c.tunables;
  s.recorded_min_free_kbytes = sysctl_u64(header, "min_free_kbytes").value_or(0);
  if (what_if.min_free_kbytes) {
    t.min_free_kbytes = *what_if.min_free_kbytes;
  } else if (s.recorded_min_free_kbytes != 0) {
    t.min_free_kbytes = s.recorded_min_free_kbytes;
  }
  t.watermark_scale_factor =
      what_if.watermark_scale_factor.value_or(sysctl_u64(header, "watermark_scale_factor").value_or(10));
  t.watermark_boost_factor =
      what_if.watermark_boost_factor.value_or(sysctl_u64(header, "watermark_boost_factor").value_or(15000));
  t.percpu_pagelist_high_fraction = sysctl_u64(header, "percpu_pagelist_high_fraction").value_or(0);
  if (const auto it = header.vm_sysctls.find("lowmem_reserve_ratio"); it != header.vm_sysctls.end()) {
    const auto ratios = parse_list(it->second);
    const auto kinds = node_zone_kinds(header, 0);
    if (!ratios.empty() && ratios.size() <= kinds.size()) {
      for (std::size_t i = 0; i < ratios.size(); ++i) t.lowmem_reserve_ratio[allocator::index_of(kinds[i])] = ratios[i];
    }
  }
  t.highatomic = !what_if.no_highatomic;
  t.pcp = what_if.no_pcp ? allocator::PcpMode::Off : pcp;
  t.reclaim = allocator::ReclaimPolicy::Kernel;
  t.compaction = what_if.compaction;
  t.boost_reset = allocator::BoostReset::OnKswapdWake;

  s.model_zone_of_header.assign(header.zones.size(), -1);
  for (std::size_t i = 0; i < header.zones.size(); ++i) {
    const traces::ZoneInfo& h = header.zones[i];
    const auto kind = zone_kind(h.name);
    if (!kind) {
      s.notes.push_back("zone '" + h.name + "' of node " + std::to_string(h.node) + " has an unknown kind; left out");
      continue;
    }
    if (h.spanned_pages == 0 || h.managed_pages == 0) continue;
    allocator::ZoneConfig z;
    z.node = h.node;
    z.type = *kind;
    z.start_pfn = allocator::Pfn{h.start_pfn};
    z.spanned_pages = h.spanned_pages;
    z.present_pages = std::min(h.present_pages, h.spanned_pages);
    z.managed_pages = std::min(h.managed_pages, h.spanned_pages);
    if (!what_if.changes_watermarks() && (h.min_pages | h.low_pages | h.high_pages) != 0) {
      const std::uint64_t d = h.high_pages >= h.low_pages ? h.high_pages - h.low_pages : 0;
      z.watermarks = allocator::Watermarks{h.min_pages, h.low_pages, h.high_pages, h.high_pages + d};
    }
    z.watermark_boost = h.boost_pages;
    if (!h.lowmem_reserve_pages.empty()) {
      z.lowmem_reserve = lowmem_reserve_of(header, h.node, h.lowmem_reserve_pages);
      if (!z.lowmem_reserve) {
        s.notes.push_back("zone " + h.name + ": cannot map its protection: list; lowmem_reserve recomputed");
      }
    }
    s.model_zone_of_header[i] = static_cast<int>(c.zones.size());
    s.header_zone_of_model.push_back(i);
    c.zones.push_back(z);
  }
  if (c.zones.empty()) throw std::invalid_argument("the trace describes no zone with pages; nothing to replay into");

  for (std::size_t v = 0; v < s.migratetype_of.size(); ++v) s.migratetype_of[v] = recorded_migratetype(header, static_cast<int>(v));
  return s;
}

std::optional<allocator::MigrateType> recorded_migratetype(const traces::TraceHeader& header, int value) {
  if (value < 0) return std::nullopt;
  const auto v = static_cast<std::size_t>(value);
  if (header.migratetype_names.empty()) {
    return v < allocator::kMigrateTypes ? std::optional<MigrateType>(static_cast<MigrateType>(v)) : std::nullopt;
  }
  return v < header.migratetype_names.size() ? migratetype_named(header.migratetype_names[v]) : std::nullopt;
}

allocator::Snapshot model_snapshot(const traces::Snapshot& snapshot, const traces::TraceHeader& header,
                                   const ModelSetup& setup) {
  allocator::Snapshot out;
  out.free_runs.reserve(snapshot.free_runs.size());
  for (const auto& r : snapshot.free_runs) out.free_runs.push_back({allocator::Pfn{r.start_pfn}, r.pages});
  for (const auto& zs : snapshot.zones) {
    if (zs.pageblocks_by_type.empty()) continue;
    for (std::size_t h = 0; h < header.zones.size(); ++h) {
      if (header.zones[h].node != zs.node || header.zones[h].name != zs.zone) continue;
      const int model_zone = setup.model_zone_of_header[h];
      if (model_zone < 0) break;
      allocator::ZonePageblockCounts counts;
      counts.zone = static_cast<std::uint16_t>(model_zone);
      for (std::size_t v = 0; v < zs.pageblocks_by_type.size() && v < setup.migratetype_of.size(); ++v) {
        if (const auto mt = setup.migratetype_of[v]) counts.counts[allocator::index_of(*mt)] += zs.pageblocks_by_type[v];
      }
      out.pageblock_counts.push_back(counts);
      break;
    }
  }
  return out;
}

std::optional<allocator::LowmemReserve> lowmem_reserve_of(const traces::TraceHeader& header, int node,
                                                          const std::vector<std::uint64_t>& protection) {
  const auto kinds = node_zone_kinds(header, node);
  if (protection.empty() || kinds.size() != protection.size()) return std::nullopt;
  allocator::LowmemReserve lr{};
  for (std::size_t k = 0; k < kinds.size(); ++k) lr[allocator::index_of(kinds[k])] = protection[k];
  return lr;
}

const traces::ZoneSnapshot* snapshot_zone(const traces::Snapshot& snapshot, const ModelSetup& setup,
                                          const traces::TraceHeader& header, std::uint16_t model_zone) {
  const traces::ZoneInfo& hz = header.zones[setup.header_zone_of_model[model_zone]];
  for (const auto& z : snapshot.zones) {
    if (z.node == hz.node && z.zone == hz.name) return &z;
  }
  return nullptr;
}

bool follow_zone_sizes(allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                       const traces::Snapshot& snapshot) {
  bool changed = false;
  for (std::uint16_t zone = 0; zone < model.zone_count(); ++zone) {
    const traces::ZoneSnapshot* z = snapshot_zone(snapshot, setup, header, zone);
    if (z != nullptr && z->managed_pages != 0) changed = model.set_managed_pages(zone, z->managed_pages) || changed;
  }
  return changed;
}

void follow_zone_levels(allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                        const traces::Snapshot& snapshot, bool boost) {
  for (std::uint16_t zone = 0; zone < model.zone_count(); ++zone) {
    const traces::ZoneSnapshot* z = snapshot_zone(snapshot, setup, header, zone);
    if (z == nullptr) continue;
    if (z->high_pages != 0) {
      allocator::Watermarks wm = model.watermarks(zone);
      wm.min = z->min_pages;
      wm.low = z->low_pages;
      wm.high = z->high_pages;
      model.set_watermarks(zone, wm);
      if (boost) model.set_watermark_boost(zone, z->boost_pages);
    }
    if (const auto lr = lowmem_reserve_of(header, z->node, z->lowmem_reserve_pages)) model.set_lowmem_reserve(zone, *lr);
  }
}

}  // namespace labyrinth::replay
