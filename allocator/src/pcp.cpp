// Per-cpu page lists (docs/kernel-rules.md §7.1, §7.2, §7.3; mm/page_alloc.c: rmqueue_pcplist,
// __rmqueue_pcplist, nr_pcp_alloc, rmqueue_bulk, free_unref_page_commit / K7
// free_frozen_page_commit, nr_pcp_high, nr_pcp_free, free_pcppages_bulk, decay_pcp_high).
#include <algorithm>

#include "zone.hpp"

namespace labyrinth::allocator::detail {

namespace {
std::int64_t clamp_k(std::int64_t v, std::int64_t lo, std::int64_t hi) { return std::min(std::max(v, lo), hi); }
}  // namespace

// nr_pcp_alloc(): how many blocks a refill takes. Order-0 refills double (alloc_factor) while
// allocations keep coming without frees.
std::int64_t Zone::nr_pcp_alloc(PerCpuPages& pcp, unsigned order) {
  const std::int64_t base_batch = limits_.batch;
  const std::int64_t high_min = limits_.high_min;
  const std::int64_t high_max = limits_.high_max;
  std::int64_t high = pcp.high = clamp_k(pcp.high, high_min, high_max);
  if (high < base_batch) {
    return 1;
  }
  std::int64_t batch = order != 0 ? base_batch : base_batch << pcp.alloc_factor;
  if (high_min != high_max && !below_high_) {
    high = pcp.high = std::min(high + batch, high_max);
  }
  if (order == 0) {
    const std::int64_t max_nr_alloc = std::max(high - pcp.count - base_batch, base_batch);
    if (batch <= max_nr_alloc && pcp.alloc_factor < static_cast<std::int64_t>(params_->rules.pcp_batch_scale_max)) {
      ++pcp.alloc_factor;
    }
    batch = std::min(batch, max_nr_alloc);
  }
  if (batch > 1) {
    batch = std::max(batch >> order, std::int64_t{2});
  }
  return batch;
}

// rmqueue_bulk(): __rmqueue() count times under one lock hold, each block to the list tail.
std::int64_t Zone::rmqueue_bulk(unsigned order, std::int64_t count, unsigned cpu, MigrateType mt, AllocFlags flags) {
  RmqueueMode mode = RmqueueMode::Normal;
  std::int64_t i = 0;
  for (; i < count; ++i) {
    BlockSource src = BlockSource::Buddy;
    const std::uint32_t idx = rmqueue(order, mt, flags, mode, src);
    if (idx == kNil) {
      break;
    }
    pcp_add(cpu, idx, order, mt, true);
  }
  return i;
}

// The refill half of __rmqueue_pcplist(): the list for (order, mt) is empty.
bool Zone::refill_pcplist(unsigned cpu, unsigned order, MigrateType mt, AllocFlags flags) {
  if (params_->rules.k7_highatomic && (flags & alloc::kHighAtomic) != 0) {
    return false;  // K7: highatomic requests go straight to rmqueue_buddy
  }
  const std::int64_t batch = nr_pcp_alloc(pcp_[cpu], order);
  const std::int64_t got = rmqueue_bulk(order, batch, cpu, mt, flags);
  ++params_->counters.pcp_refills;
  params_->counters.pcp_refill_pages += static_cast<std::uint64_t>(got) << order;
  return got != 0;
}

// nr_pcp_high(): the auto-tuned high limit. While kswapd balances the zone
// (ZONE_RECLAIM_ACTIVE) high shrinks by the pages freed in a row and the list keeps at most
// 4 * batch, so frees go back to the buddy lists where reclaim counts them.
inline std::int64_t Zone::nr_pcp_high(PerCpuPages& pcp, std::int64_t batch, bool free_high) {
  const std::int64_t high_min = limits_.high_min;
  const std::int64_t high_max = limits_.high_max;
  std::int64_t high = pcp.high = clamp_k(pcp.high, high_min, high_max);
  if (high == 0) {
    return 0;
  }
  if (free_high) {
    pcp.high = std::max(high - (batch << params_->rules.pcp_batch_scale_max), high_min);
    return 0;
  }
  if (reclaim_active_) {
    pcp.high = std::max(high - std::max(pcp.free_count, batch), high_min);
    return std::min(batch << 2, pcp.high);
  }
  if (high_min == high_max) {
    return high;
  }
  if (below_high_) {
    const std::int64_t free_count = std::max(pcp.free_count, batch);
    pcp.high = std::max(high - free_count, high_min);
    high = std::max(pcp.count, high_min);
  } else if (pcp.count >= high) {
    const std::int64_t need_high = pcp.free_count + batch;
    if (pcp.high < need_high) {
      pcp.high = clamp_k(need_high, high_min, high_max);
    }
  }
  return high;
}

// nr_pcp_free(): how many pages one over-high free drains.
inline std::int64_t Zone::nr_pcp_free(const PerCpuPages& pcp, std::int64_t batch, std::int64_t high, bool free_high) const {
  if (free_high) {
    return std::min(pcp.count, batch << params_->rules.pcp_batch_scale_max);
  }
  if (high < batch) {
    return 1;
  }
  return clamp_k(pcp.free_count, batch, high - batch);
}

// free_unref_page() / __free_frozen_pages() + the commit: Isolate pageblocks bypass the
// lists, HighAtomic and CMA pages go to the Movable list, then the high/batch rules apply.
bool Zone::free_to_pcp(unsigned cpu, std::uint32_t idx, unsigned order, bool apply_limits) {
  MigrateType mt = pb_type(idx);
  if (mt == MigrateType::Isolate) {
    free_one_page(idx, order);
    return false;
  }
  if (!is_mergeable(mt)) {
    mt = MigrateType::Movable;
  }
  PerCpuPages& pcp = pcp_[cpu];
  if (apply_limits) {
    pcp.alloc_factor >>= 1;
  }
  const unsigned pi = pindex(order, mt);
  pcp_add(cpu, idx, order, mt, false);
  if (!apply_limits) {
    return true;
  }
  const std::int64_t batch = limits_.batch;
  bool free_high = false;
  if (order != 0 && order <= kCostlyOrder) {
    // The free_count threshold is the recorded kernel's (KernelRules::pcp_free_high_half_high_min).
    const std::int64_t threshold = params_->rules.pcp_free_high_half_high_min ? batch + limits_.high_min / 2 : batch;
    free_high = pcp.free_count >= threshold && pcp.prev_free_high_order &&
                (!limits_.free_high_batch || pcp.count >= batch);
    pcp.prev_free_high_order = true;
  } else {
    pcp.prev_free_high_order = false;
  }
  if (pcp.free_count < (batch << params_->rules.pcp_batch_scale_max)) {
    pcp.free_count += std::int64_t{1} << order;
  }
  const std::int64_t high = nr_pcp_high(pcp, batch, free_high);
  if (pcp.count >= high) {
    free_pcppages_bulk(cpu, nr_pcp_free(pcp, batch, high, free_high), pi);
    if (below_high_ &&
        watermark_ok(0, static_cast<std::int64_t>(wmark_pages(Watermark::High)), ZoneType::Movable, 0).ok) {
      below_high_ = false;
    }
  }
  return true;
}

// free_pcppages_bulk(): the list just freed to first, then round-robin; oldest (tail) first;
// each block goes to __free_one_page with its pageblock's current type.
std::uint64_t Zone::free_pcppages_bulk(unsigned cpu, std::int64_t count, unsigned pindex) {
  PerCpuPages& pcp = pcp_[cpu];
  count = std::min(pcp.count, count);
  const auto nlists = static_cast<int>(params_->pcp_lists);
  int pi = static_cast<int>(pindex) - 1;
  std::uint64_t drained = 0;
  while (count > 0) {
    int tries = 0;
    do {
      if (++pi > nlists - 1) {
        pi = 0;
      }
      ++tries;
    } while (pcp.lists[static_cast<unsigned>(pi)].head == kNil && tries <= nlists);
    ListHead& l = pcp.lists[static_cast<unsigned>(pi)];
    if (l.head == kNil) {
      break;  // count disagrees with the lists; cannot happen while invariants hold
    }
    const unsigned order = pindex_to_order(static_cast<unsigned>(pi));
    const auto n = std::int64_t{1} << order;
    do {
      // pcp_remove() of a block known to be on this list, with the counts taken once below.
      const std::uint32_t idx = l.tail;
      with_block(idx, order, [&](PageState& st, auto m) {
        list_unlink(m, l, idx);
        st = PageState{};
      });
      count -= n;
      drained += static_cast<std::uint64_t>(n);
      free_one_page_piece(idx, order, pb_type(idx));
    } while (count > 0 && l.head != kNil);
  }
  pcp.count -= static_cast<std::int64_t>(drained);
  pcp_pages_ -= drained;
  params_->counters.pcp_drained_pages += drained;
  return drained;
}

// decay_pcp_high(), run by vmstat's refresh_cpu_vm_stats each stat interval: high falls by an
// eighth (never below high_min, nor below count - (batch << PCP_BATCH_SCALE_MAX), which bounds
// one drain), then the list is drained down to high. True while there is more to do.
bool Zone::decay_pcp_high(unsigned cpu) {
  PerCpuPages& pcp = pcp_[cpu];
  const std::int64_t high_min = limits_.high_min;
  const std::int64_t batch = limits_.batch;
  bool todo = false;
  if (pcp.high > high_min) {
    pcp.high = std::max({pcp.count - (batch << params_->rules.pcp_batch_scale_max), pcp.high - (pcp.high >> 3),
                         high_min});
    todo = pcp.high > high_min;
  }
  const std::int64_t to_drain = pcp.count - pcp.high;
  if (to_drain > 0) {
    params_->counters.pcp_decay_drained_pages += free_pcppages_bulk(cpu, to_drain, 0);
    todo = true;
  }
  return todo;
}

std::uint64_t Zone::drain_pcp(unsigned cpu) {
  if (pcp_[cpu].count == 0) {
    return 0;
  }
  return free_pcppages_bulk(cpu, pcp_[cpu].count, 0);
}

}  // namespace labyrinth::allocator::detail
