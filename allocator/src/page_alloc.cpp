// Allocation by choosing (simulate): prepare_alloc_pages, the fast path, the slow-path flags,
// get_page_from_freelist and rmqueue (docs/kernel-rules.md §3.1, §4, §5.4, §8.2, §8.4).
#include <algorithm>
#include <optional>

#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::kNil;
using detail::Zone;

// The preferred block, when it is free in this zone: a free block holding it is split down to
// it (expand()), or it is a per-CPU list block of the very order. Otherwise false: the lists pick.
inline bool Model::Impl::take_preferred(Zone& z, const AllocContext& ac, Hit& h) {
  if ((ac.prefer & ((std::uint64_t{1} << ac.order) - 1)) != 0) {
    return false;
  }
  const std::uint32_t i = z.idx(ac.prefer);
  // The preferred page heads its own block (a pcp page the kernel takes back, the buddy a
  // split left free) about as often as it lies inside a larger one: no head search then.
  const detail::PageState own = z.state_[i];
  const bool heads_own = own.kind() != detail::PageKind::Tail;
  const std::uint32_t head = heads_own ? i : z.find_head(i);
  if (head == kNil) {
    return false;
  }
  const detail::PageState s = heads_own ? own : z.state(head);
  if (s.kind() == detail::PageKind::Free && s.order >= ac.order) {
    z.take_from_free_block(head, s.order, i, ac.order, s.mt());
    h.idx = i;
    h.src = BlockSource::Buddy;
    return true;
  }
  if (s.kind() == detail::PageKind::Pcp && s.order == ac.order) {
    z.pcp_remove(head, s.order);
    h.idx = i;
    h.src = BlockSource::Pcp;
    return true;
  }
  return false;
}

// rmqueue(): the pcp list for pcp orders, else (or when that fails) rmqueue_buddy; then the
// kswapd wake-up for a boosted zone, which in the model may clear the boost.
inline Hit Model::Impl::rmqueue(Zone& z, const AllocContext& ac, AllocFlags flags, bool& from_buddy) {
  Hit h;
  h.zone = z.id_;
  from_buddy = false;
  const PcpMode mode = pcp_mode();
  if (ac.prefer != AllocContext::kNoPreference && z.contains(ac.prefer) && take_preferred(z, ac, h)) {
    from_buddy = h.src == BlockSource::Buddy;
  } else if (mode != PcpMode::Off && z.pcp_allowed_order(ac.order)) {
    // A preference not met on lists that follow the kernel's: their last block, not the one
    // the kernel takes next.
    h.idx = z.rmqueue_pcplist(ac.cpu, ac.order, ac.mt, flags, mode == PcpMode::Auto,
                              mode == PcpMode::Manual && ac.prefer != AllocContext::kNoPreference);
    h.src = BlockSource::Pcp;
  }
  if (h.idx == kNil) {
    h.idx = z.rmqueue_buddy(ac.order, ac.mt, flags, h.src);
    from_buddy = true;
  }
  if ((flags & alloc::kKswapd) != 0 && z.boosted_flag_) {
    z.boosted_flag_ = false;
    if (params.tunables.boost_reset == BoostReset::OnKswapdWake) {
      z.boost_ = 0;
    }
  }
  return h;
}

// get_page_from_freelist(): the zonelist walk with the high-mark probe (ZONE_BELOW_HIGH), the
// watermark of the request, rmqueue, the highatomic reservation, and one retry without
// ALLOC_NOFRAGMENT when every zone failed with it.
inline Hit Model::Impl::walk_zonelist(const AllocContext& ac, AllocFlags flags, Owner owner) {
  for (;;) {
    const bool no_fallback = (flags & alloc::kNoFragment) != 0;
    bool restart = false;
    for (const std::uint16_t id : *ac.zonelist) {
      Zone& z = zones[id];
      if (no_fallback && nr_nodes > 1 && static_cast<int>(id) != ac.preferred &&
          z.node_ != zones[static_cast<std::size_t>(ac.preferred)].node_) {
        flags &= ~alloc::kNoFragment;  // a remote node is no better than fragmenting locally
        restart = true;
        break;
      }
      bool try_zone = false;
      if (!z.below_high_) {
        if (z.watermark_fast(ac.order, static_cast<std::int64_t>(z.wmark_pages(Watermark::High)), ac.highest,
                             flags)) {
          try_zone = true;
        } else {
          z.below_high_ = true;
        }
      }
      if (!try_zone) {
        const auto mark = static_cast<Watermark>(flags & alloc::kWmarkMask);
        try_zone = z.watermark_fast(ac.order, static_cast<std::int64_t>(z.wmark_pages(mark)), ac.highest, flags) ||
                   (flags & alloc::kNoWatermarks) != 0;
      }
      if (!try_zone) {
        continue;
      }
      bool from_buddy = false;
      Hit h = rmqueue(z, ac, flags, from_buddy);
      if (h.idx == kNil) {
        continue;
      }
      z.mark_allocated(h.idx, ac.order, ac.mt, owner, false);
      if ((flags & alloc::kHighAtomic) != 0) {
        const bool k7 = params.rules.k7_highatomic;
        if (!k7 || (from_buddy && (flags & alloc::kWmarkMask) == alloc::kWmarkMin)) {
          z.reserve_highatomic_pageblock(h.idx, ac.order);
        }
      }
      return h;
    }
    if (restart) {
      continue;
    }
    if (no_fallback && !params.rules.defrag_mode) {
      flags &= ~alloc::kNoFragment;
      ++params.counters.nofragment_retries;
      continue;
    }
    return Hit{};
  }
}

Hit Model::Impl::get_page_from_freelist(const AllocContext& ac, AllocFlags flags, Owner owner) {
  return walk_zonelist(ac, flags, owner);
}

// Why the last attempt failed, zone by zone; the zone closest to success decides:
// ReserveOnly > Fragmentation > Watermark.
std::pair<AllocFailure, std::uint16_t> Model::Impl::classify(const AllocContext& ac, AllocFlags flags,
                                                             bool watermarks_ignored) const {
  auto rank = [](AllocFailure f) {
    switch (f) {
      case AllocFailure::ReserveOnly:
        return 3;
      case AllocFailure::Fragmentation:
        return 2;
      default:
        return 1;
    }
  };
  AllocFailure best = AllocFailure::ZoneUnavailable;
  std::uint16_t best_zone = ac.preferred >= 0 ? static_cast<std::uint16_t>(ac.preferred) : 0;
  const std::uint32_t from = ~((1u << ac.order) - 1u);
  for (const std::uint16_t id : *ac.zonelist) {
    const Zone& z = zones[id];
    const std::uint32_t reserve_mask =
        z.area_.mask[index_of(MigrateType::HighAtomic)] | z.area_.mask[index_of(MigrateType::Cma)];
    const std::uint32_t any_mask = z.area_.mask[0] | z.area_.mask[1] | z.area_.mask[2] | reserve_mask;
    AllocFailure cause = AllocFailure::Watermark;
    if (watermarks_ignored) {
      if ((any_mask & from) != 0) {
        cause = AllocFailure::ReserveOnly;
      } else if (z.nr_free_pages() >= (std::uint64_t{1} << ac.order)) {
        cause = AllocFailure::Fragmentation;
      }
    } else {
      WatermarkCheck c =
          z.watermark_ok(ac.order, static_cast<std::int64_t>(z.wmark_pages(Watermark::Min)), ac.highest, flags);
      if (!c.ok && ac.order == 0 && (flags & alloc::kMinReserve) != 0 && z.boost_ != 0) {
        c = z.watermark_ok(0, static_cast<std::int64_t>(z.wm_.min), ac.highest, flags);
      }
      if (c.free_pages - c.unusable <= c.effective_min) {
        const std::int64_t all = c.free_pages - ((std::int64_t{1} << ac.order) - 1);
        cause = all > c.effective_min ? AllocFailure::ReserveOnly : AllocFailure::Watermark;
      } else if (!c.block_available) {
        cause = (reserve_mask & from) != 0 ? AllocFailure::ReserveOnly : AllocFailure::Fragmentation;
      } else {
        cause = AllocFailure::ReserveOnly;  // counted free, but only on lists it may not use
      }
    }
    if (best == AllocFailure::ZoneUnavailable || rank(cause) > rank(best)) {
      best = cause;
      best_zone = id;
    }
  }
  return {best, best_zone};
}

AllocResult Model::Impl::success(const Hit& h, AllocPath path, AllocResult r) {
  r.pfn = Pfn{zones[h.zone].pfn(h.idx)};
  r.zone = h.zone;
  r.path = path;
  r.source = h.src;
  ++params.counters.allocations;
  return r;
}

// __alloc_pages(): the fast path here; the slow path, the __GFP_MEMALLOC retry and the reclaim
// policy in allocate_slowpath().
AllocResult Model::Impl::allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner, std::uint64_t prefer,
                                  const TaskContext& task) {
  AllocResult r;
  r.order = static_cast<std::uint8_t>(std::min(order, 255u));
  if (order > params.max_order || cpu >= cfg.nr_cpus) {
    r.failure = order > params.max_order ? AllocFailure::InvalidOrder : AllocFailure::InvalidCpu;
    ++params.counters.failures;
    return r;
  }
  const GfpMemo& memo = prepare_fast(gfp, cpu);
  AllocContext ac = memo.ac;
  ac.cpu = cpu;
  ac.order = order;
  AllocFlags fast = memo.fast;
  ac.prefer = prefer;
  r.migratetype = ac.mt;
  if (ac.preferred < 0) {
    r.failure = AllocFailure::ZoneUnavailable;
    ++params.counters.failures;
    return r;
  }
  if (params.rules.k7_highatomic) {
    fast |= nonblocking_alloc_flags(gfp, order, cfg.gfp) & alloc::kHighAtomic;
  }
  const Hit h = walk_zonelist(ac, fast, owner);
  if (h.idx != kNil) {
    return success(h, AllocPath::Fast, r);
  }
  return allocate_slowpath(ac, gfp, owner, r, task);
}

// __alloc_pages_slowpath() without compaction: the slow-path flags, the __GFP_MEMALLOC retry
// with ALLOC_NO_WATERMARKS, then the ReclaimPolicy for requests that may direct-reclaim; a
// failure is classified with the last flags tried.
[[gnu::noinline]] AllocResult Model::Impl::allocate_slowpath(const AllocContext& ac, Gfp gfp, Owner owner,
                                                            AllocResult r, const TaskContext& task) {
  AllocFlags slow = slow_path_alloc_flags(gfp, ac.order, cfg.gfp, params.grouping_disabled, task);
  if (params.rules.defrag_mode) {
    slow |= alloc::kNoFragment;
  }
  Hit h = get_page_from_freelist(ac, slow, owner);
  if (h.idx != kNil) {
    return success(h, AllocPath::Slow, r);
  }

  const AllocFlags reserve = pfmemalloc_alloc_flags(gfp, cfg.gfp, task);
  if (reserve != 0) {
    const AllocFlags flags = (slow & alloc::kCma) | reserve | (slow & alloc::kKswapd);
    h = get_page_from_freelist(ac, flags, owner);
    if (h.idx != kNil) {
      r.watermark_missed = true;
      return success(h, AllocPath::NoWatermarks, r);
    }
  }

  const bool can_reclaim = (gfp & cfg.gfp.direct_reclaim) != 0;
  // PF_MEMALLOC tasks do not reclaim: they go to nopage. So do __GFP_MEMALLOC requests here
  // (their callers run under PF_MEMALLOC as a rule); an OOM victim reclaims.
  const bool memalloc = task.memalloc || (reserve & alloc::kNoWatermarks) != 0;
  if (can_reclaim && !memalloc && params.tunables.reclaim == ReclaimPolicy::Kernel) {
    return direct_reclaim_path(ac, gfp, slow, owner, r);
  }
  const auto [cause, zone] = classify(ac, slow, (reserve & alloc::kNoWatermarks) != 0);
  r.failure = cause;
  r.zone = zone;
  ++params.counters.failures;
  return r;
}

// The rest of __alloc_pages_slowpath() for a request that may direct-reclaim
// (docs/kernel-rules.md §4.4):
// - direct compaction (compaction.cpp) first, asynchronous, for costly orders and for order > 0
//   of a non-movable type; a costly __GFP_NORETRY request whose compaction was skipped or
//   deferred gives up there;
// - __alloc_pages_direct_reclaim: __perform_reclaim, and when the retry after it fails, once,
//   unreserve_highatomic_pageblock(ac, false) and drain_all_pages, then retry again; then
//   __alloc_pages_direct_compact at the current priority for order > 0;
// - nopage at once for __GFP_NORETRY, and for costly orders without __GFP_RETRY_MAYFAIL;
// - should_reclaim_retry: progress (non-costly orders only) resets the no-progress count;
//   retry while it is at most MAX_RECLAIM_RETRIES and free + reclaimable pages would pass the
//   min watermark; otherwise, before OOM, a highatomic pageblock is given back (force) and the
//   request retries while there is one;
// - should_compact_retry: once reclaim made progress, one more round with synchronous
//   compaction (the priority raised from COMPACT_PRIO_ASYNC);
// - __alloc_pages_may_oom: no OOM kill for costly orders, __GFP_RETRY_MAYFAIL, __GFP_THISNODE
//   or requests limited to zones below Normal; otherwise the victim's memory lets the request
//   through (served without watermarks; without __GFP_FS the kernel retries instead, with the
//   same outcome);
// - nopage: __GFP_NOFAIL is never failed (__alloc_pages_cpuset_fallback with
//   ALLOC_MIN_RESERVE, then without watermarks, as the kernel loops until it succeeds).
AllocResult Model::Impl::direct_reclaim_path(const AllocContext& ac, Gfp gfp, AllocFlags slow, Owner owner,
                                             AllocResult r) {
  constexpr unsigned kCostlyOrder = 3;         // PAGE_ALLOC_COSTLY_ORDER
  constexpr unsigned kMaxReclaimRetries = 16;  // MAX_RECLAIM_RETRIES
  const GfpLayout& g = cfg.gfp;
  const bool costly = ac.order > kCostlyOrder;
  ++params.counters.direct_reclaims;
  unsigned no_progress_loops = 0;
  unsigned rounds = 0;  // __alloc_pages_direct_reclaim calls
  std::optional<unsigned> kernel_rounds;  // asked once, when a retry needs it
  bool retry_first = false;  // a retry (goto retry) tries the free lists before reclaiming
  bool sync_compaction = false;
  bool give_up = false;
  if (ac.order > 0 && (costly || ac.mt != MigrateType::Movable)) {
    bool compacted = false;
    const Hit h = direct_compact(ac, slow, owner, false, compacted);
    if (h.idx != kNil) {
      return success(h, AllocPath::Compacted, r);
    }
    give_up = costly && (gfp & g.noretry) != 0 && !compacted;  // COMPACT_SKIPPED or _DEFERRED
  }
  while (!give_up) {
    Hit h;
    if (retry_first) {
      h = get_page_from_freelist(ac, slow, owner);
    }
    ReclaimProgress progress;
    if (h.idx == kNil) {
      // __alloc_pages_direct_reclaim: each call drains and unreserves once after a miss.
      ++rounds;
      progress = perform_reclaim(ac);
      if (progress.any()) {
        h = get_page_from_freelist(ac, slow, owner);
        if (h.idx == kNil) {
          if (unreserve_highatomic(ac, false)) {
            ++params.counters.reclaim_unreserves;
          }
          for (Zone& z : zones) {
            for (unsigned cpu = 0; cpu < cfg.nr_cpus; ++cpu) {
              z.drain_pcp(cpu);
            }
          }
          ++params.counters.reclaim_drains;
          h = get_page_from_freelist(ac, slow, owner);
        }
      }
    }
    if (h.idx != kNil) {
      return success(h, AllocPath::Reclaimed, r);
    }
    if (ac.order > 0) {
      bool compacted = false;
      h = direct_compact(ac, slow, owner, sync_compaction, compacted);
      if (h.idx != kNil) {
        return success(h, AllocPath::Compacted, r);
      }
    }
    retry_first = true;
    if ((gfp & g.noretry) != 0 || (costly && (gfp & g.retry_mayfail) == 0)) {
      break;
    }
    // The kernel reclaimed for this retrying request, freed pages, and served it after
    // kernel_rounds reclaims (Reclaimer::kernel_reclaim_rounds; the recording holds their frees
    // already): its should_reclaim_retry reset the count on that progress, so it never reached
    // the forced highatomic give-back, which comes only before OOM. The model reclaims as many
    // rounds (each drains and unreserves as the kernel's did), then serves it as the kernel
    // did: its free count differs from the kernel's by a few pages.
    if (!kernel_rounds) {
      kernel_rounds = reclaimer != nullptr && !costly ? reclaimer->kernel_reclaim_rounds() : 0;
    }
    if (*kernel_rounds != 0 && progress.freed == 0) {
      if (rounds < *kernel_rounds) {
        continue;
      }
      h = get_page_from_freelist(ac, slow | alloc::kNoWatermarks, owner);
      if (h.idx != kNil) {
        ++params.counters.served_after_kernel_reclaim;
        r.watermark_missed = true;
        return success(h, AllocPath::Reclaimed, r);
      }
    }
    // Only pages the model freed reset the count: a retry after progress made outside the
    // model (Reclaimer::progressed) meets an unchanged model, and would retry for ever.
    no_progress_loops = progress.freed != 0 && !costly ? 0 : no_progress_loops + 1;
    // should_reclaim_retry: before OOM (too many loops without progress, or no zone that could
    // pass even with every reclaimable page), one highatomic pageblock is given back with
    // force and the request retries (6.8 on: "unreserve highatomic page blocks before oom").
    if (no_progress_loops <= kMaxReclaimRetries && reclaim_could_pass(ac, slow)) {
      continue;
    }
    if (unreserve_highatomic(ac, true)) {
      ++params.counters.reclaim_unreserves;
      continue;
    }
    const bool may_oom = !costly && (gfp & (g.retry_mayfail | g.thisnode)) == 0 &&
                         index_of(ac.highest) >= index_of(ZoneType::Normal);
    if (may_oom) {
      h = get_page_from_freelist(ac, slow | alloc::kNoWatermarks, owner);
      if (h.idx != kNil) {
        ++params.counters.oom_kills;
        r.watermark_missed = true;
        return success(h, AllocPath::OomKill, r);
      }
    }
    if (ac.order > 0 && progress.any() && !sync_compaction) {
      sync_compaction = true;
      continue;
    }
    break;
  }
  if ((gfp & g.nofail) != 0) {
    Hit h = get_page_from_freelist(ac, alloc::kMinReserve | (slow & alloc::kCma), owner);
    if (h.idx == kNil) {
      h = get_page_from_freelist(ac, alloc::kNoWatermarks | (slow & alloc::kCma), owner);
    }
    if (h.idx != kNil) {
      ++params.counters.nofail_forced;
      r.watermark_missed = true;
      return success(h, AllocPath::NoFail, r);
    }
  }
  ++params.counters.reclaim_failures;
  const auto [cause, zone] = classify(ac, slow, false);
  r.failure = cause;
  r.zone = zone;
  ++params.counters.failures;
  return r;
}

// try_to_free_pages(): SWAP_CLUSTER_MAX pages from the zones of the zonelist, highest first.
// Returns the progress (did_some_progress): the pages the Reclaimer freed, and whether it says
// that reclaim outside the model progressed (Reclaimer::progressed: a replay whose recording
// already holds the kernel's reclaim), so that the rest of __alloc_pages_direct_reclaim (the
// drain and the highatomic unreserve) follows as in the kernel.
ReclaimProgress Model::Impl::perform_reclaim(const AllocContext& ac) {
  constexpr std::uint64_t kSwapClusterMax = 32;
  if (reclaimer == nullptr) {
    return {};
  }
  std::uint64_t got = 0;
  bool progressed = false;
  for (const std::uint16_t id : *ac.zonelist) {
    if (got >= kSwapClusterMax) {
      break;
    }
    got += reclaimer->reclaim(id, kSwapClusterMax - got, ac.cpu);
    progressed = progressed || reclaimer->progressed(id);
  }
  params.counters.direct_reclaimed_pages += got;
  return ReclaimProgress{got, progressed};
}

// unreserve_highatomic_pageblock(ac, force): the first zone of the zonelist that gives a block
// back to the request's type (without force, each zone keeps one pageblock).
bool Model::Impl::unreserve_highatomic(const AllocContext& ac, bool force) {
  if (!is_mergeable(ac.mt)) {
    return false;
  }
  for (const std::uint16_t id : *ac.zonelist) {
    if (zones[id].unreserve_highatomic_pageblock(ac.mt, force)) {
      return true;
    }
  }
  return false;
}

// should_reclaim_retry()'s test: would the request pass __zone_watermark_ok at the min mark in
// some zone if every reclaimable page were free (available = NR_FREE_PAGES + reclaimable)?
bool Model::Impl::reclaim_could_pass(const AllocContext& ac, AllocFlags flags) const {
  for (const std::uint16_t id : *ac.zonelist) {
    const Zone& z = zones[id];
    const WatermarkCheck c =
        z.watermark_ok(ac.order, static_cast<std::int64_t>(z.wmark_pages(Watermark::Min)), ac.highest, flags);
    const std::uint64_t reclaimable = reclaimer != nullptr ? reclaimer->reclaimable_pages(id) : 0;
    const std::int64_t available = c.free_pages + static_cast<std::int64_t>(reclaimable);
    if (available - c.unusable > c.effective_min && (ac.order == 0 || c.block_available)) {
      return true;
    }
  }
  return false;
}

AllocResult Model::allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner, const TaskContext& task) {
  return impl_->allocate(gfp, order, cpu, owner, AllocContext::kNoPreference, task);
}

AllocResult Model::allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner, Pfn prefer,
                            const TaskContext& task) {
  return impl_->allocate(gfp, order, cpu, owner, prefer.value, task);
}

void Model::set_reclaimer(Reclaimer* reclaimer) { impl_->reclaimer = reclaimer; }

RequestCheck Model::check_request(Gfp gfp, unsigned order, unsigned cpu, const TaskContext& task) const {
  const Impl& s = *impl_;
  RequestCheck rc;
  if (order > s.params.max_order || cpu >= s.cfg.nr_cpus) {
    return rc;
  }
  const AllocContext ac = s.prepare(gfp, order, cpu);
  rc.highest = ac.highest;
  if (ac.preferred < 0) {
    return rc;
  }
  rc.zone_available = true;
  rc.fast_flags = alloc::kWmarkLow | s.nofragment_flags(ac, gfp) |
                  (ac.mt == MigrateType::Movable ? alloc::kCma : 0u);
  // An OOM victim's last try (ALLOC_OOM) is the one that decides; PF_MEMALLOC's ignores the
  // watermarks and is not a check.
  rc.slow_flags = slow_path_alloc_flags(gfp, order, s.cfg.gfp, s.params.grouping_disabled, task) |
                  (pfmemalloc_alloc_flags(gfp, s.cfg.gfp, task) & alloc::kOom);
  int slow_zone = -1;
  for (const std::uint16_t id : *ac.zonelist) {
    const Zone& z = s.zones[id];
    if (z.watermark_fast(order, static_cast<std::int64_t>(z.wmark_pages(Watermark::Low)), ac.highest,
                         rc.fast_flags)) {
      rc.fast_ok = true;
    }
    if (z.watermark_fast(order, static_cast<std::int64_t>(z.wmark_pages(Watermark::Min)), ac.highest,
                         rc.slow_flags)) {
      rc.slow_ok = true;
      ++rc.slow_zones_ok;
      if (slow_zone < 0) {
        slow_zone = id;
      }
    }
  }
  const Zone& z = s.zones[static_cast<std::size_t>(slow_zone >= 0 ? slow_zone : ac.preferred)];
  rc.slow = z.watermark_ok(order, static_cast<std::int64_t>(z.wmark_pages(Watermark::Min)), ac.highest,
                           rc.slow_flags);
  if (!rc.slow.ok && order == 0 && (rc.slow_flags & alloc::kMinReserve) != 0 && z.boost_ != 0) {
    rc.slow = z.watermark_ok(0, static_cast<std::int64_t>(z.wm_.min), ac.highest, rc.slow_flags);
  }
  return rc;
}

WatermarkCheck Model::watermark_check(std::uint16_t zone, unsigned order, AllocFlags flags, ZoneType highest) const {
  const Zone& z = impl_->zones.at(zone);
  const auto mark = static_cast<Watermark>(flags & alloc::kWmarkMask);
  WatermarkCheck c = z.watermark_ok(order, static_cast<std::int64_t>(z.wmark_pages(mark)), highest, flags);
  c.ok = z.watermark_fast(order, static_cast<std::int64_t>(z.wmark_pages(mark)), highest, flags);
  return c;
}

}  // namespace labyrinth::allocator
