// What explain concludes from the zone verdicts: the request's verdict, the largest
// vm.min_free_kbytes under which it would pass (docs/kernel-rules.md §6.1 min_free_kbytes ->
// min), the advice, and who asked.
#include <fmt/core.h>

#include <algorithm>
#include <array>

#include "explain_steps.hpp"
#include "labyrinth/allocator/watermarks.hpp"

namespace labyrinth::explain::detail {
namespace {

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

}  // namespace

void conclude(Explanation& e, const FailureReport& r, const std::vector<allocator::ZoneFreeState>& states,
              const RequestRules& rules) {
  const std::int64_t ps = e.page_kb;
  const allocator::WatermarkGeneration gen = rules.gen;
  const Rights& rights = rules.rights;
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
}

void pick_callers(Explanation& e, const FailureReport& r) {
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
}

}  // namespace labyrinth::explain::detail
