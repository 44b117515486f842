// The rules a report is explained with (docs/kernel-rules.md §4 flags, §5 the check): which
// kernel printed it, which GFP table decodes its mask, which generation of the watermark check
// applies, and what the request may do in it.
#include <fmt/core.h>

#include <array>

#include "explain_steps.hpp"

namespace labyrinth::explain::detail {
namespace {

using allocator::WatermarkGeneration;
using allocator::ZoneType;

std::string version_string(const traces::KernelVersion& v) { return fmt::format("{}.{}.{}", v.major, v.minor, v.patch); }

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

}  // namespace

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

bool version_at_least(const std::optional<traces::KernelVersion>& v, unsigned major, unsigned minor) {
  return v && (v->major > major || (v->major == major && v->minor >= minor));
}

void give_up(Explanation& e, Status status, std::string problem) {
  e.status = status;
  e.cause = Cause::Incomplete;
  e.problem = std::move(problem);
  e.verdict = fmt::format("{}: {}", status == Status::Unsupported ? "not modelled" : "incomplete", e.problem);
}

std::optional<RequestRules> request_rules(Explanation& e, const FailureReport& r,
                                          const std::optional<traces::KernelVersion>& forced) {
  // The kernel version: --kernel, else the CPU line, else an assumption that is said so.
  std::optional<traces::KernelVersion> version = forced ? forced : r.version;
  e.version_source = forced ? "--kernel" : (r.version ? "log" : "assumed");
  if (version) {
    if (version->major < 2 || (version->major == 2 && (version->minor < 6 || (version->minor == 6 && version->patch < 24)))) {
      e.kernel_version = version_string(*version);
      give_up(e, Status::Unsupported, fmt::format("kernel {} predates mobility grouping (2.6.24); its allocator "
                                                  "is not modelled", e.kernel_version));
      return std::nullopt;
    }
    if (version->major >= 8) {
      e.kernel_version = version_string(*version);
      give_up(e, Status::Unsupported, fmt::format("kernel {} is newer than the rules read (7.x)", e.kernel_version));
      return std::nullopt;
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
  return RequestRules{version, gen, bits, rights};
}

}  // namespace labyrinth::explain::detail
