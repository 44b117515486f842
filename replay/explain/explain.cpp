// Explaining one warn_alloc() report (docs/kernel-rules.md §3.1 zonelist, §4 flags, §5 the check,
// §6.1 min_free_kbytes -> min). The log is printed after the allocator gave up, so the numbers
// are a later state: every verdict says what it rests on.
#include "labyrinth/explain/explain.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <set>


#include "explain_steps.hpp"
#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/watermarks.hpp"

namespace labyrinth::explain {
namespace {

using allocator::WatermarkFailure;
using allocator::WatermarkGeneration;
using allocator::ZoneType;
using detail::version_at_least;
using detail::zone_name;
using detail::zone_type_of;

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
    detail::give_up(e, status, std::move(problem));
    return e;
  };
  if (!r.order || !r.gfp) {
    return give_up(Status::Incomplete, "the failure line has no order: or mode: value (cut off?)");
  }
  e.order = *r.order;
  e.gfp = *r.gfp;
  const auto rules = detail::request_rules(e, r, forced);
  if (!rules) return e;
  const auto& version = rules->version;
  const WatermarkGeneration gen = rules->gen;
  const traces::GfpBits& bits = rules->bits;
  const detail::Rights& rights = rules->rights;

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

  detail::conclude(e, r, states, *rules);
  detail::pick_callers(e, r);
  return e;
}

}  // namespace labyrinth::explain
