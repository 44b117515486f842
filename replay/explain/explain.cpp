// Explaining one warn_alloc() report (docs/kernel-rules.md §3.1 zonelist, §4 flags, §5 the check,
// §6.1 min_free_kbytes -> min). The log is printed after the allocator gave up, so the numbers
// are a later state: every verdict says what it rests on.
#include "labyrinth/explain/explain.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <set>

#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/watermarks.hpp"

namespace labyrinth::explain {
namespace {

using allocator::WatermarkFailure;
using allocator::WatermarkGeneration;
using allocator::ZoneType;

std::optional<ZoneType> zone_type_of(std::string_view name) {
  if (name == "DMA") return ZoneType::Dma;
  if (name == "DMA32") return ZoneType::Dma32;
  if (name == "Normal") return ZoneType::Normal;
  if (name == "HighMem") return ZoneType::HighMem;
  if (name == "Movable") return ZoneType::Movable;
  if (name == "Device") return ZoneType::Device;
  return std::nullopt;
}

std::string_view zone_name(ZoneType t) {
  static constexpr std::array<std::string_view, 6> kNames{"DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"};
  return kNames[allocator::index_of(t)];
}

std::string version_string(const traces::KernelVersion& v) { return fmt::format("{}.{}.{}", v.major, v.minor, v.patch); }

bool version_at_least(const std::optional<traces::KernelVersion>& v, unsigned major, unsigned minor) {
  return v && (v->major > major || (v->major == major && v->minor >= minor));
}

std::vector<std::string> split_flags(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto bar = s.find('|', start);
    out.push_back(s.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

// Frames of the page and slab allocators themselves, and of the stack dump.
bool allocator_frame(std::string_view f) {
  static constexpr std::array<std::string_view, 32> kPrefixes{
      "dump_stack", "__dump_stack", "show_stack", "dump_backtrace", "unwind_backtrace", "warn_alloc",
      "__alloc_pages", "alloc_pages", "__get_free_pages", "get_free_pages", "get_page_from_freelist",
      "__alloc_frozen_pages", "alloc_frozen_pages", "__folio_alloc", "folio_alloc", "alloc_slab_page",
      "allocate_slab", "new_slab", "___slab_alloc", "__slab_alloc", "kmem_cache_alloc", "__kmem_cache_alloc",
      "__kmalloc", "kmalloc", "__do_kmalloc", "slab_alloc", "cache_grow", "cache_alloc_refill",
      "____cache_alloc", "fallback_alloc", "kmem_getpages", "__alloc_pages_node"};
  return std::any_of(kPrefixes.begin(), kPrefixes.end(), [f](std::string_view p) { return f.substr(0, p.size()) == p; });
}

std::uint8_t type_mask_of(std::string_view letters) {
  using allocator::MigrateType;
  std::uint8_t m = 0;
  for (char c : letters) {
    MigrateType t{};
    switch (c) {
      case 'U': t = MigrateType::Unmovable; break;
      case 'M': t = MigrateType::Movable; break;
      case 'E': t = MigrateType::Reclaimable; break;
      case 'H': t = MigrateType::HighAtomic; break;
      case 'C': t = MigrateType::Cma; break;
      case 'I': t = MigrateType::Isolate; break;
      default: continue;  // 'R' (MIGRATE_RESERVE, before 4.4) is never tested by those kernels
    }
    m = static_cast<std::uint8_t>(m | (1u << allocator::index_of(t)));
  }
  return m;
}

struct Rights {
  allocator::WatermarkRights wm;
  bool boost_retry = false;  // zone_watermark_fast's order-0 retry without the boost
  std::string text;
};

Rights rights_for(WatermarkGeneration gen, std::uint64_t gfp, unsigned order, const traces::GfpBits& b,
                  const std::optional<traces::KernelVersion>& version) {
  Rights r;
  const bool nomemalloc = (gfp & b.nomemalloc) != 0;
  const bool movable = (gfp & b.movable) != 0 && (gfp & b.reclaimable) == 0;
  r.wm.high = (gfp & b.high) != 0;
  r.wm.cma = movable && version_at_least(version, 3, 5);
  switch (gen) {
    case WatermarkGeneration::PerOrderLoop:
      // gfp_to_alloc_flags: ALLOC_HARDER for callers that cannot wait.
      r.wm.harder = (gfp & b.wait) == 0 && !nomemalloc;
      r.text = fmt::format("ALLOC_WMARK_MIN{}{}{}", r.wm.high ? "|ALLOC_HIGH" : "", r.wm.harder ? "|ALLOC_HARDER" : "",
                           r.wm.cma ? "|ALLOC_CMA" : "");
      break;
    case WatermarkGeneration::HarderFlag:
      // ALLOC_HARDER is keyed on __GFP_ATOMIC; it also opens the highatomic lists.
      r.wm.harder = (gfp & b.atomic) != 0 && !nomemalloc;
      r.wm.highatomic = r.wm.harder;
      r.boost_retry = order == 0 && (gfp & b.atomic) != 0 && version_at_least(version, 5, 9);
      r.text = fmt::format("ALLOC_WMARK_MIN{}{}{}", r.wm.high ? "|ALLOC_HIGH" : "", r.wm.harder ? "|ALLOC_HARDER" : "",
                           r.wm.cma ? "|ALLOC_CMA" : "");
      break;
    case WatermarkGeneration::ReserveFlags:
      r.wm.harder = (gfp & b.direct_reclaim) == 0 && !nomemalloc;  // ALLOC_NON_BLOCK
      r.wm.highatomic = r.wm.harder && order > 0 && r.wm.high;
      r.boost_retry = order == 0 && r.wm.high;
      r.text = fmt::format("ALLOC_WMARK_MIN{}{}{}{}", r.wm.high ? "|ALLOC_MIN_RESERVE" : "",
                           r.wm.harder ? "|ALLOC_NON_BLOCK" : "", r.wm.highatomic ? "|ALLOC_HIGHATOMIC" : "",
                           r.wm.cma ? "|ALLOC_CMA" : "");
      break;
  }
  return r;
}

Cause cause_of(WatermarkFailure f) {
  switch (f) {
    case WatermarkFailure::None: return Cause::WouldPass;
    case WatermarkFailure::Watermark: return Cause::Watermark;
    case WatermarkFailure::HigherOrderPages:
    case WatermarkFailure::NoBlock:
    case WatermarkFailure::OnlyIsolated: return Cause::Fragmentation;
    case WatermarkFailure::OnlyReserveTypes: return Cause::Reserve;
    case WatermarkFailure::TypesUnknown: return Cause::Incomplete;
  }
  return Cause::Incomplete;
}

std::string describe(const ZoneVerdict& v, unsigned order) {
  const auto& o = v.outcome;
  const std::string zone = fmt::format("Node {} {}", v.node, v.name);
  switch (o.failure) {
    case WatermarkFailure::None:
      return fmt::format("{}: {} counted free pages > {} (min {} + lowmem_reserve {}){}", zone, o.free_counted,
                         o.threshold, o.min, v.lowmem_reserve_pages,
                         order > 0 ? fmt::format(", and a usable block of order >= {}", order) : std::string());
    case WatermarkFailure::Watermark:
      return fmt::format("{}: {} counted free pages <= {} (min {} after reductions + lowmem_reserve {})", zone,
                         o.free_counted, o.threshold, o.min, v.lowmem_reserve_pages);
    case WatermarkFailure::HigherOrderPages:
      return fmt::format("{}: enough free pages ({} > {}), but only {} of them in blocks of order >= {}, not above {}",
                         zone, o.free_counted, o.threshold, o.order_free, o.failed_order, o.order_min);
    case WatermarkFailure::NoBlock:
      return fmt::format("{}: enough free pages ({} > {}), but no free block of order {} or above (largest: {})", zone,
                         o.free_counted, o.threshold, order,
                         o.largest_free_order < 0 ? std::string("none") : fmt::format("order {}", o.largest_free_order));
    case WatermarkFailure::OnlyReserveTypes:
      return fmt::format(
          "{}: enough free pages ({} > {}), but the blocks of order >= {} are only on highatomic/CMA lists this "
          "request may not use",
          zone, o.free_counted, o.threshold, order);
    case WatermarkFailure::OnlyIsolated:
      return fmt::format("{}: enough free pages ({} > {}), but the blocks of order >= {} are all isolated", zone,
                         o.free_counted, o.threshold, order);
    case WatermarkFailure::TypesUnknown:
      return fmt::format("{}: enough free pages ({} > {}) and blocks of order >= {}, but the log printed no "
                         "migratetype letters to tell whether the request may use them",
                         zone, o.free_counted, o.threshold, order);
  }
  return zone;
}

// Which index of lowmem_reserve[] belongs to a zone type: the kernel prints one entry per
// configured zone type (MAX_NR_ZONES), populated or not. Seen zones, Normal and Movable are
// always configured; the rest is filled in the order this arch family configures them.
struct ZoneIndex {
  std::array<bool, allocator::kZoneTypes> configured{};
  bool certain = true;
  [[nodiscard]] std::size_t index(ZoneType t) const {
    std::size_t n = 0;
    for (unsigned i = 0; i < allocator::index_of(t); ++i) if (configured[i]) ++n;
    return n;
  }
};

ZoneIndex zone_index(const FailureReport& r) {
  ZoneIndex zi;
  bool highmem = false;
  std::size_t entries = 0;
  for (const ZoneLines& z : r.zones) {
    if (auto t = zone_type_of(z.name)) {
      zi.configured[allocator::index_of(*t)] = true;
      highmem = highmem || *t == ZoneType::HighMem;
    }
    entries = std::max(entries, z.lowmem_reserve.size());
  }
  zi.configured[allocator::index_of(ZoneType::Normal)] = true;
  zi.configured[allocator::index_of(ZoneType::Movable)] = true;
  // ZONE_DMA32 exists only on 64-bit kernels and ZONE_HIGHMEM only on 32-bit ones: with 32-bit
  // frame addresses an unprinted zone is HighMem (a 6.x report prints only the zones the request
  // may use, so a ppc32 GFP_KERNEL report shows DMA alone: DMA, Normal, HighMem, Movable).
  const bool bits32 = r.narrow_addresses && !r.wide_addresses;
  const std::vector<ZoneType> fill = highmem ? std::vector<ZoneType>{ZoneType::Dma, ZoneType::Device}
                                     : bits32 ? std::vector<ZoneType>{ZoneType::Dma, ZoneType::HighMem, ZoneType::Device}
                                              : std::vector<ZoneType>{ZoneType::Dma32, ZoneType::Dma, ZoneType::Device};
  auto count = [&zi] {
    std::size_t n = 0;
    for (bool c : zi.configured) {
      if (c) ++n;
    }
    return n;
  };
  for (ZoneType t : fill) {
    if (count() >= entries) break;
    zi.configured[allocator::index_of(t)] = true;
  }
  zi.certain = entries == 0 || count() == entries;
  return zi;
}

}  // namespace

std::string_view to_string(Cause cause) {
  switch (cause) {
    case Cause::Watermark: return "watermark";
    case Cause::Fragmentation: return "fragmentation";
    case Cause::Reserve: return "reserve";
    case Cause::WouldPass: return "would_pass";
    case Cause::Incomplete: return "incomplete";
  }
  return "incomplete";
}

std::string_view to_string(Status status) {
  switch (status) {
    case Status::Explained: return "explained";
    case Status::Incomplete: return "incomplete";
    case Status::Unsupported: return "unsupported";
  }
  return "incomplete";
}

Explanation explain_report(const FailureReport& r, const std::optional<traces::KernelVersion>& forced) {
  Explanation e;
  e.line = r.line;
  e.comm = r.comm;
  e.kernel_release = r.release;
  e.gfp_printed_names = r.gfp_names;
  auto give_up = [&e](Status status, std::string problem) {
    e.status = status;
    e.cause = Cause::Incomplete;
    e.problem = std::move(problem);
    e.verdict = fmt::format("{}: {}", status == Status::Unsupported ? "not modelled" : "incomplete", e.problem);
    return e;
  };
  if (!r.order || !r.gfp) {
    return give_up(Status::Incomplete, "the failure line has no order: or mode: value (cut off?)");
  }
  e.order = *r.order;
  e.gfp = *r.gfp;

  // The kernel version: --kernel, else the CPU line, else an assumption that is said so.
  std::optional<traces::KernelVersion> version = forced ? forced : r.version;
  e.version_source = forced ? "--kernel" : (r.version ? "log" : "assumed");
  if (version) {
    if (version->major < 2 || (version->major == 2 && (version->minor < 6 || (version->minor == 6 && version->patch < 24)))) {
      e.kernel_version = version_string(*version);
      return give_up(Status::Unsupported, fmt::format("kernel {} predates mobility grouping (2.6.24); its allocator "
                                                      "is not modelled", e.kernel_version));
    }
    if (version->major >= 8) {
      e.kernel_version = version_string(*version);
      return give_up(Status::Unsupported, fmt::format("kernel {} is newer than the rules read (7.x)", e.kernel_version));
    }
  }
  // The GFP era; the printed names, when there are any, must decode to the same bits.
  std::optional<traces::GfpEra> era;
  if (version) era = traces::gfp_era_of(*version);
  if (!r.gfp_names.empty()) {
    auto consistent = [&r](traces::GfpEra candidate) {
      // Either the names parse to the mask, or the table prints the mask as those names (a
      // composite like GFP_NOWAIT changed its bits within one era).
      const traces::GfpTable t = traces::gfp_table_of(candidate);
      const auto bits = t.parse(r.gfp_names);
      return (bits && *bits == *r.gfp) || t.format(*r.gfp) == r.gfp_names;
    };
    std::optional<traces::GfpEra> newest;
    for (traces::GfpEra candidate : traces::kAllGfpEras) {
      if (consistent(candidate)) newest = candidate;
    }
    if (era && !consistent(*era)) {
      if (newest) {
        e.notes.push_back(fmt::format("the printed names ({}) do not decode to 0x{:x} with the {} GFP table; they do with "
                                      "the {} table, which is used",
                                      r.gfp_names, *r.gfp, traces::to_string(*era), traces::to_string(*newest)));
        era = newest;
      } else {
        e.notes.push_back(fmt::format("the printed names ({}) match no known GFP table; decoding with the {} table",
                                      r.gfp_names, traces::to_string(*era)));
      }
    } else if (!era && newest) {
      era = newest;
      e.notes.push_back(fmt::format("no kernel version in the log: the printed names fit the {} GFP layout (assumed)",
                                    traces::to_string(*era)));
    }
  }
  if (!era) {
    // Masks were printed without names before 4.6; a mask without names is most likely older.
    era = traces::GfpEra::Legacy;
    e.notes.push_back("no kernel version and no flag names in the log: assumed a kernel before 4.4 (use --kernel)");
  }
  WatermarkGeneration gen{};
  if (version) {
    gen = version_at_least(version, 6, 3)   ? WatermarkGeneration::ReserveFlags
          : version_at_least(version, 4, 4) ? WatermarkGeneration::HarderFlag
                                            : WatermarkGeneration::PerOrderLoop;
    e.kernel_version = version_string(*version);
  } else {
    gen = *era == traces::GfpEra::Legacy  ? WatermarkGeneration::PerOrderLoop
          : *era == traces::GfpEra::V6_3 ? WatermarkGeneration::ReserveFlags
                                         : WatermarkGeneration::HarderFlag;
  }
  e.gfp_era = std::string(traces::to_string(*era));
  switch (gen) {
    case WatermarkGeneration::PerOrderLoop: e.rules = "<=4.3 (ALLOC_HIGH/ALLOC_HARDER, per-order loop)"; break;
    case WatermarkGeneration::HarderFlag: e.rules = "4.4-6.2 (ALLOC_HIGH/ALLOC_HARDER, highatomic, per-type block search)"; break;
    case WatermarkGeneration::ReserveFlags: e.rules = "6.3+ (ALLOC_MIN_RESERVE/ALLOC_NON_BLOCK/ALLOC_HIGHATOMIC)"; break;
  }
  const traces::GfpTable table = traces::gfp_table_of(*era);
  e.gfp_flags = split_flags(table.format(e.gfp));
  const traces::GfpBits bits = traces::GfpBits::from(table);
  const Rights rights = rights_for(gen, e.gfp, e.order, bits, version);
  e.request = rights.text;
  if ((e.gfp & bits.memalloc) != 0 && (e.gfp & bits.nomemalloc) == 0) {
    e.notes.push_back("__GFP_MEMALLOC: the kernel may ignore the watermarks for this request; a failure then means "
                      "no free page at all");
  }
  const bool can_reclaim = (e.gfp & (bits.wait | bits.direct_reclaim)) != 0;
  if (can_reclaim) {
    e.notes.push_back("this request could reclaim and compact: the kernel printed the failure after those attempts "
                      "gave up, so the numbers are after reclaim");
  }

  // Zonelist: every printed zone the request may use, highest first, node by node.
  allocator::GfpLayout layout;
  layout.dma = bits.dma;
  layout.highmem = bits.highmem;
  layout.dma32 = bits.dma32;
  layout.movable = bits.movable;
  bool has_highmem = false;
  for (const ZoneLines& z : r.zones) has_highmem = has_highmem || z.name == "HighMem";
  const ZoneType highest = allocator::gfp_zone(e.gfp, layout, has_highmem);
  e.highest_zone = std::string(zone_name(highest));
  std::vector<const ZoneLines*> usable;
  for (const ZoneLines& z : r.zones) {
    const auto t = zone_type_of(z.name);
    if (t && allocator::index_of(*t) <= allocator::index_of(highest)) usable.push_back(&z);
  }
  std::stable_sort(usable.begin(), usable.end(), [](const ZoneLines* a, const ZoneLines* b) {
    if (a->node != b->node) return a->node < b->node;
    return allocator::index_of(*zone_type_of(a->name)) > allocator::index_of(*zone_type_of(b->name));
  });
  if (!r.saw_mem_info) return give_up(Status::Incomplete, "the report has no Mem-Info section (cut off?)");
  if (usable.empty()) {
    return give_up(Status::Incomplete, fmt::format("no zone lines for the zones this request may use ({} and below)",
                                                   e.highest_zone));
  }
  std::set<int> nodes;
  for (const ZoneLines* z : usable) nodes.insert(z->node);
  if (nodes.size() > 1) {
    e.notes.push_back("several NUMA nodes: the zonelist starts on the failing CPU's node, which the log does not "
                      "name; zones are listed node by node");
  }

  // Page size from the free-area lines ("12*4kB": order 0 is one page).
  for (const ZoneLines& z : r.zones) {
    if (z.page_kb > 0) {
      e.page_kb = z.page_kb;
      break;
    }
  }
  if (e.page_kb == 0) {
    e.page_kb = 4;
    e.notes.push_back("no free-area line gives the page size: 4 kB assumed");
  } else if (e.page_kb < 4 || e.page_kb > 1024 || (e.page_kb & (e.page_kb - 1)) != 0) {
    return give_up(Status::Unsupported, fmt::format("a page size of {} kB is not modelled", e.page_kb));
  }
  const std::int64_t ps = e.page_kb;
  const ZoneIndex zi = zone_index(r);
  const std::size_t reserve_index = zi.index(highest);
  if (!zi.certain) {
    e.notes.push_back(fmt::format("lowmem_reserve[] has more or fewer entries than the zones seen suggest; entry {} "
                                  "was read for {} requests", reserve_index, e.highest_zone));
  }

  // Per zone: the inputs in pages, the generation's check, the cause.
  std::vector<allocator::ZoneFreeState> states;
  for (const ZoneLines* zp : usable) {
    const ZoneLines& z = *zp;
    ZoneVerdict v;
    v.node = z.node;
    v.name = z.name;
    v.min_proportional = z.name != "HighMem" && z.name != "Movable";
    std::vector<std::string> missing;
    if (!z.has_stats) missing.push_back("the zone line (free:, min:)");
    if (z.has_stats && !z.free_kb) missing.push_back("free:");
    if (z.has_stats && !z.min_kb) missing.push_back("min:");
    if (!z.has_lowmem_reserve || z.lowmem_reserve.size() <= reserve_index) {
      missing.push_back(fmt::format("lowmem_reserve[{}]", reserve_index));
    } else {
      v.lowmem_reserve_pages = z.lowmem_reserve[reserve_index];
    }
    if (e.order > 0 && (!z.has_free_area || z.blocks.size() <= e.order)) {
      missing.push_back(fmt::format("the free-area line (blocks of order {} and above)", e.order));
    }
    v.free_pages = z.free_kb.value_or(0) / ps;
    v.min_pages = z.min_kb.value_or(0) / ps;
    v.boost_pages = z.boost_kb.value_or(0) / ps;
    v.managed_pages = z.managed_kb.value_or(0) / ps;
    v.free_cma_pages = z.free_cma_kb.value_or(0) / ps;
    if (z.free_area_total_kb) v.free_area_pages = *z.free_area_total_kb / ps;
    v.blocks = z.blocks;
    v.types = z.types;
    bool has_h = false, has_c = false;
    for (const std::string& t : z.types) {
      has_h = has_h || t.find('H') != std::string::npos;
      has_c = has_c || t.find('C') != std::string::npos;
    }
    // Highatomic pages a caller without reserve rights may not count.
    const bool needs_highatomic = gen != WatermarkGeneration::PerOrderLoop && !rights.wm.harder &&
                                  !(gen == WatermarkGeneration::ReserveFlags && rights.wm.high);
    if (gen != WatermarkGeneration::PerOrderLoop) {
      if (gen == WatermarkGeneration::ReserveFlags && version_at_least(version, 6, 12) && z.free_highatomic_kb) {
        v.highatomic_pages = *z.free_highatomic_kb / ps;
      } else if (z.reserved_highatomic_kb) {
        v.highatomic_pages = *z.reserved_highatomic_kb / ps;
        if (needs_highatomic && gen == WatermarkGeneration::ReserveFlags && version_at_least(version, 6, 12)) {
          e.notes.push_back(fmt::format("Node {} {}: 6.12+ subtracts the free highatomic pages, which this log does not "
                                        "print; the whole reserve was used (an upper bound)", z.node, z.name));
        }
      } else if (needs_highatomic && has_h) {
        missing.push_back("reserved_highatomic: (H blocks are present)");
      }
    }
    if (!z.free_cma_kb && has_c && !rights.wm.cma) missing.push_back("free_cma: (C blocks are present)");
    v.mark_pages = v.min_pages;

    allocator::ZoneFreeState s;
    s.free_pages = v.free_pages;
    s.mark = v.mark_pages;
    s.lowmem_reserve = v.lowmem_reserve_pages;
    s.highatomic_pages = v.highatomic_pages;
    s.free_cma_pages = v.free_cma_pages;
    s.orders = static_cast<unsigned>(std::min<std::size_t>(z.blocks.size(), allocator::kOrderSlots));
    for (unsigned o = 0; o < s.orders; ++o) {
      s.nr_free[o] = std::min<std::uint64_t>(z.blocks[o], std::uint64_t{1} << 40);
      s.type_mask[o] = type_mask_of(z.types[o]);
    }
    s.types_known = z.types_printed;
    v.outcome = allocator::zone_watermark_ok_history(gen, s, e.order, rights.wm);
    if (!v.outcome.ok && rights.boost_retry && v.boost_pages > 0) {
      // zone_watermark_fast (5.9+): an order-0 atomic request retries at the unboosted min.
      allocator::ZoneFreeState unboosted = s;
      unboosted.mark = v.min_pages - v.boost_pages;
      const auto retry = allocator::zone_watermark_ok_history(gen, unboosted, e.order, rights.wm);
      // The retry is the kernel's last word, pass or fail: show its numbers.
      v.boost_ignored = true;
      v.outcome = retry;
      s = unboosted;
      v.mark_pages = unboosted.mark;
    }
    if (!missing.empty()) {
      v.cause = Cause::Incomplete;
      std::string list;
      for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
      v.missing = list;
      v.why = fmt::format("Node {} {}: the log lacks {}", z.node, z.name, list);
    } else {
      v.cause = cause_of(v.outcome.failure);
      v.why = describe(v, e.order);
      // The free-area total is a second, later print of the same zone: say when it flips the verdict.
      if (z.free_area_total_kb && v.free_area_pages != v.free_pages) {
        allocator::ZoneFreeState alt = s;
        alt.free_pages = v.free_area_pages;
        const auto other = allocator::zone_watermark_ok_history(gen, alt, e.order, rights.wm);
        if (other.ok != v.outcome.ok) {
          e.notes.push_back(fmt::format(
              "Node {} {}: free: says {} pages, the free-area total {}; with the latter the check would {} (the two "
              "prints differ by per-CPU counter drift and the time between them, so the verdict is borderline)",
              z.node, z.name, v.free_pages, v.free_area_pages, other.ok ? "pass" : "fail"));
        }
      }
    }
    states.push_back(s);
    e.zones.push_back(std::move(v));
  }

  // The request's cause: it failed only if every zone failed, so one passing zone means the
  // printed state is not the failing one; otherwise the preferred (first) zone's cause.
  const auto any = [&e](Cause c) {
    return std::any_of(e.zones.begin(), e.zones.end(), [c](const ZoneVerdict& v) { return v.cause == c; });
  };
  if (any(Cause::WouldPass)) e.cause = Cause::WouldPass;
  else if (any(Cause::Incomplete)) e.cause = Cause::Incomplete;
  else e.cause = e.zones.front().cause;
  e.status = e.cause == Cause::Incomplete ? Status::Incomplete : Status::Explained;

  // Advice: the largest vm.min_free_kbytes under which some zone passes. __setup_per_zone_wmarks
  // gives each lowmem zone min = pages_min * managed / lowmem_pages; boost stays as printed.
  std::int64_t lowmem = 0;
  bool managed_known = true;
  std::int64_t current = 0;
  for (const ZoneLines& z : r.zones) {
    if (z.name == "HighMem" || z.name == "Movable" || z.name == "Device" || !z.has_stats) continue;
    if (!z.managed_kb) managed_known = false;
    lowmem += z.managed_kb.value_or(0) / ps;
    current += (z.min_kb.value_or(0) - z.boost_kb.value_or(0));
  }
  if (lowmem > 0 && managed_known) e.current_min_free_kbytes = current;
  for (std::size_t i = 0; i < e.zones.size(); ++i) {
    ZoneVerdict& v = e.zones[i];
    if (v.cause == Cause::Incomplete || !v.min_proportional || !managed_known || lowmem <= 0) continue;
    const std::int64_t boost = rights.boost_retry ? 0 : v.boost_pages;  // the retry tests the unboosted min
    auto passes = [&](std::int64_t pages_min) {
      allocator::ZoneFreeState s = states[i];
      s.mark = static_cast<std::int64_t>(allocator::mult_frac(static_cast<std::uint64_t>(pages_min),
                                                              static_cast<std::uint64_t>(v.managed_pages),
                                                              static_cast<std::uint64_t>(lowmem))) + boost;
      return allocator::zone_watermark_ok_history(gen, s, e.order, rights.wm).ok;
    };
    if (!passes(0)) continue;
    std::int64_t lo = 0, hi = std::int64_t{1} << 26;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo + 1) / 2;
      if (passes(mid)) lo = mid;
      else hi = mid - 1;
    }
    v.max_min_free_kbytes = lo * ps + (ps - 1);
    if (!e.max_min_free_kbytes || *v.max_min_free_kbytes > *e.max_min_free_kbytes) {
      e.max_min_free_kbytes = v.max_min_free_kbytes;
    }
  }

  const ZoneVerdict& first = e.zones.front();
  const std::string current_text =
      e.current_min_free_kbytes ? fmt::format(" (now about {} kB, the sum of the zones' min)", *e.current_min_free_kbytes)
                                : std::string();
  switch (e.cause) {
    case Cause::WouldPass:
      e.verdict = fmt::format("would_pass: the printed state passes the check ({}); warn_alloc prints Mem-Info after "
                              "the allocator gave up, so memory was freed in between",
                              std::find_if(e.zones.begin(), e.zones.end(), [](const ZoneVerdict& v) {
                                return v.cause == Cause::WouldPass;
                              })->why);
      break;
    case Cause::Watermark:
      e.verdict = fmt::format("watermark: {}", first.why);
      break;
    case Cause::Fragmentation:
      e.verdict = fmt::format("fragmentation: {}", first.why);
      break;
    case Cause::Reserve:
      e.verdict = fmt::format("reserve: {}", first.why);
      break;
    case Cause::Incomplete: {
      const auto it = std::find_if(e.zones.begin(), e.zones.end(), [](const ZoneVerdict& v) {
        return v.cause == Cause::Incomplete;
      });
      e.problem = it->why;
      e.verdict = fmt::format("incomplete: {}", it->why);
      break;
    }
  }
  if (e.max_min_free_kbytes) {
    e.advice = fmt::format("with vm.min_free_kbytes <= {} kB{} this request passes the watermark check on these "
                           "numbers. A lower setting only lets it dig deeper into the reserve kept for atomic "
                           "allocations; raising it makes kswapd keep more memory free ahead of bursts.",
                           *e.max_min_free_kbytes, current_text);
  } else if (e.cause == Cause::Fragmentation) {
    e.advice = fmt::format("no watermark setting helps: {} had no usable free block of order {} (largest free block: "
                           "order {}); compaction or a smaller order would",
                           fmt::format("Node {} {}", first.node, first.name), e.order, first.outcome.largest_free_order);
  } else if (e.cause == Cause::Reserve) {
    e.advice = fmt::format("no watermark setting helps: the free blocks of order {} or above were highatomic or CMA "
                           "blocks, which this request may not take",
                           e.order);
  } else if (e.cause == Cause::Watermark) {
    e.advice = !managed_known ? "the zones' managed: sizes are not printed, so the min_free_kbytes that would pass "
                                "cannot be derived"
                              : "no vm.min_free_kbytes setting makes this request pass: the free pages do not exceed "
                                "lowmem_reserve (vm.lowmem_reserve_ratio) and the order's own pages even at min 0";
  }
  // Kernels unwinding without frame pointers mark every frame "?" (2.6/3.x x86 logs often do):
  // then the "?" frames are all there is, used and said so.
  const bool any_reliable =
      std::any_of(r.frames.begin(), r.frames.end(), [](const CallFrame& f) { return f.reliable; });
  for (const CallFrame& f : r.frames) {
    if ((any_reliable && !f.reliable) || allocator_frame(f.function)) continue;
    if (e.callers.size() >= 6) break;
    e.callers.push_back(f.function);
  }
  if (!any_reliable && !e.callers.empty()) {
    e.notes.push_back("every stack frame is marked \"?\" (unwound without frame pointers): the callers shown may "
                      "include stale return addresses");
  }
  return e;
}

}  // namespace labyrinth::explain
