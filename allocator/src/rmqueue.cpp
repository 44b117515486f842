// Taking blocks off the buddy lists: __rmqueue_smallest, the 6.15+ fallback split into
// __rmqueue_claim / __rmqueue_steal, rmqueue_buddy, the watermark boost and the highatomic
// reserve (docs/kernel-rules.md §6.5, §8.2, §8.3, §8.5; mm/page_alloc.c).
#include <algorithm>
#include <bit>

#include "labyrinth/allocator/watermarks.hpp"
#include "zone.hpp"

namespace labyrinth::allocator::detail {

// __rmqueue_smallest(): the first block of the smallest order >= order on mt's lists, split
// down with expand(). The non-empty mask finds that order in O(1).
std::uint32_t Zone::rmqueue_smallest(unsigned order, MigrateType mt) {
  const unsigned t = index_of(mt);
  const std::uint32_t usable = area_.mask[t] & ~((1u << order) - 1u);
  if (usable == 0) {
    return kNil;
  }
  const auto current = static_cast<unsigned>(std::countr_zero(usable));
  const std::uint32_t idx = area_.lists[current][t].head;
  take_from_free_block(idx, current, idx, order, mt);
  return idx;
}

// should_try_claim_block() (K6: can_steal_fallback).
bool Zone::should_try_claim_block(unsigned order, MigrateType start_mt) const {
  const unsigned pbo = params_->pageblock_order;
  if (order >= pbo) {
    return true;
  }
  return order >= pbo / 2 || start_mt == MigrateType::Reclaimable || start_mt == MigrateType::Unmovable ||
         params_->grouping_disabled;
}

// find_suitable_fallback(): -2 = may not claim at this order, -1 = nothing, else the type.
int Zone::find_suitable_fallback(unsigned order, MigrateType mt, bool claimable) const {
  if (claimable && !should_try_claim_block(order, mt)) {
    return -2;
  }
  if (area_.nr_free[order] == 0) {
    return -1;
  }
  for (const MigrateType fb : kFallbacks[index_of(mt)]) {
    if (area_.lists[order][index_of(fb)].head != kNil) {
      return static_cast<int>(index_of(fb));
    }
  }
  return -1;
}

// try_to_claim_block() (K6: try_to_steal_block). Whole blocks of pageblock_order or more are
// taken over outright; a smaller block claims its pageblock when at least half of it is free
// or "alike" (movable pages approximated by allocations made with a Movable gfp type, docs/kernel-rules.md §12.3).
std::uint32_t Zone::try_to_claim_block(std::uint32_t idx, unsigned current_order, unsigned order, MigrateType start_mt,
                                       MigrateType block_mt, AllocFlags flags) {
  const unsigned pbo = params_->pageblock_order;
  if (current_order >= pbo) {
    del_from_free_list(idx);
    change_pageblock_range(idx, current_order, start_mt);
    split_to_free_lists(idx, current_order, idx, order, start_mt);
    ++params_->counters.claims;
    return idx;
  }
  if (boost_watermark() && (flags & alloc::kKswapd) != 0) {
    boosted_flag_ = true;
  }
  const std::uint32_t pbi = pb_of(idx);
  const PageblockMeta& b = pb_[pbi];
  if (b.straddles) {
    return kNil;  // prep_move_freepages_block refuses blocks crossing the zone edge
  }
  const auto nr = static_cast<std::int64_t>(pageblock_pages());
  const auto free_pages = static_cast<std::int64_t>(b.free_pages);
  const auto movable_pages = static_cast<std::int64_t>(b.alloc_pages[index_of(MigrateType::Movable)]);
  std::int64_t alike = 0;
  if (start_mt == MigrateType::Movable) {
    alike = movable_pages;
  } else if (block_mt == MigrateType::Movable) {
    alike = nr - (free_pages + movable_pages);
  }
  if (free_pages + alike >= (std::int64_t{1} << (pbo - 1)) || params_->grouping_disabled) {
    move_freepages_block(pbi, start_mt);
    ++params_->counters.claims;
    return rmqueue_smallest(order, start_mt);
  }
  return kNil;
}

// __rmqueue_claim(): the largest foreign block first, down to pageblock_order under
// ALLOC_NOFRAGMENT.
std::uint32_t Zone::rmqueue_claim(unsigned order, MigrateType start_mt, AllocFlags flags) {
  const unsigned pbo = params_->pageblock_order;
  unsigned min_order = order;
  if (order < pbo && (flags & alloc::kNoFragment) != 0) {
    min_order = pbo;
  }
  for (int current = static_cast<int>(params_->max_order); current >= static_cast<int>(min_order); --current) {
    const auto co = static_cast<unsigned>(current);
    const int fb = find_suitable_fallback(co, start_mt, true);
    if (fb == -1) {
      continue;
    }
    if (fb == -2) {
      break;
    }
    const auto fb_mt = static_cast<MigrateType>(fb);
    const std::uint32_t head = area_.lists[co][index_of(fb_mt)].head;
    const std::uint32_t page = try_to_claim_block(head, co, order, start_mt, fb_mt, flags);
    if (page != kNil) {
      return page;
    }
  }
  return kNil;
}

// __rmqueue_steal(): the smallest foreign block; the remainder stays on the foreign type.
std::uint32_t Zone::rmqueue_steal(unsigned order, MigrateType start_mt) {
  for (unsigned co = order; co <= params_->max_order; ++co) {
    const int fb = find_suitable_fallback(co, start_mt, false);
    if (fb < 0) {
      continue;
    }
    const auto fb_mt = static_cast<MigrateType>(fb);
    const std::uint32_t idx = area_.lists[co][index_of(fb_mt)].head;
    take_from_free_block(idx, co, idx, order, fb_mt);
    ++params_->counters.steals;
    return idx;
  }
  return kNil;
}

// __rmqueue() (6.15+): CMA balancing, own type, CMA, claim, steal; `mode` remembers the
// stage that last succeeded across an rmqueue_bulk() loop.
std::uint32_t Zone::rmqueue(unsigned order, MigrateType mt, AllocFlags flags, RmqueueMode& mode, BlockSource& src) {
  const unsigned cma = index_of(MigrateType::Cma);
  if ((flags & alloc::kCma) != 0 && area_.pages[cma] > nr_free_pages() / 2) {
    const std::uint32_t idx = rmqueue_smallest(order, MigrateType::Cma);
    if (idx != kNil) {
      src = BlockSource::Cma;
      return idx;
    }
  }
  std::uint32_t idx = kNil;
  switch (mode) {
    case RmqueueMode::Normal:
      idx = rmqueue_smallest(order, mt);
      if (idx != kNil) {
        src = BlockSource::Buddy;
        return idx;
      }
      [[fallthrough]];
    case RmqueueMode::Cma:
      if ((flags & alloc::kCma) != 0) {
        idx = rmqueue_smallest(order, MigrateType::Cma);
        if (idx != kNil) {
          mode = RmqueueMode::Cma;
          src = BlockSource::Cma;
          return idx;
        }
      }
      [[fallthrough]];
    case RmqueueMode::Claim:
      idx = rmqueue_claim(order, mt, flags);
      if (idx != kNil) {
        mode = RmqueueMode::Normal;
        src = BlockSource::Claim;
        return idx;
      }
      [[fallthrough]];
    case RmqueueMode::Steal:
      if ((flags & alloc::kNoFragment) == 0) {
        idx = rmqueue_steal(order, mt);
        if (idx != kNil) {
          mode = RmqueueMode::Steal;
          src = BlockSource::Steal;
          return idx;
        }
      }
  }
  return kNil;
}

// rmqueue_buddy(): highatomic first for ALLOC_HIGHATOMIC, and as a last resort for
// ALLOC_OOM / ALLOC_NON_BLOCK requests.
std::uint32_t Zone::rmqueue_buddy(unsigned order, MigrateType mt, AllocFlags flags, BlockSource& src) {
  std::uint32_t idx = kNil;
  if ((flags & alloc::kHighAtomic) != 0) {
    idx = rmqueue_smallest(order, MigrateType::HighAtomic);
    if (idx != kNil) {
      src = BlockSource::HighAtomic;
      return idx;
    }
  }
  RmqueueMode mode = RmqueueMode::Normal;
  idx = rmqueue(order, mt, flags, mode, src);
  if (idx == kNil && (flags & (alloc::kOom | alloc::kNonBlock)) != 0) {
    idx = rmqueue_smallest(order, MigrateType::HighAtomic);
    if (idx != kNil) {
      src = BlockSource::HighAtomic;
    }
  }
  return idx;
}

// boost_watermark().
bool Zone::boost_watermark() {
  const auto boosted = boosted_watermark(boost_, wm_.high, managed_, params_->tunables.watermark_boost_factor,
                                         params_->pageblock_order);
  if (!boosted) {
    return false;
  }
  boost_ = *boosted;
  ++params_->counters.boosts;
  return true;
}

// reserve_highatomic_pageblock(): about 1% of the zone, rounded up to whole pageblocks.
bool Zone::reserve_highatomic_pageblock(std::uint32_t idx, unsigned order) {
  if (!params_->tunables.highatomic) {
    return false;
  }
  const std::uint64_t nr = pageblock_pages();
  if (managed_ / 100 < nr) {
    return false;
  }
  const std::uint64_t max_managed = (managed_ / 100 + nr - 1) / nr * nr;  // ALIGN()
  if (nr_reserved_highatomic_ >= max_managed) {
    return false;
  }
  const MigrateType mt = pb_type(idx);
  if (!is_mergeable(mt)) {
    return false;
  }
  if (order < params_->pageblock_order) {
    if (move_freepages_block(pb_of(idx), MigrateType::HighAtomic) == -1) {
      return false;
    }
    nr_reserved_highatomic_ += nr;
  } else {
    change_pageblock_range(idx, order, MigrateType::HighAtomic);
    nr_reserved_highatomic_ += std::uint64_t{1} << order;
  }
  ++params_->counters.highatomic_reservations;
  return true;
}

// unreserve_highatomic_pageblock() for one zone.
bool Zone::unreserve_highatomic_pageblock(MigrateType to, bool force) {
  const std::uint64_t nr = pageblock_pages();
  if (!force && nr_reserved_highatomic_ <= nr) {
    return false;
  }
  const unsigned ha = index_of(MigrateType::HighAtomic);
  for (unsigned o = 0; o <= params_->max_order; ++o) {
    const std::uint32_t idx = area_.lists[o][ha].head;
    if (idx == kNil) {
      continue;
    }
    const MigrateType mt = pb_type(idx);
    if (mt == MigrateType::HighAtomic) {
      const std::uint64_t size = std::min(std::max(nr, std::uint64_t{1} << o), nr_reserved_highatomic_);
      nr_reserved_highatomic_ -= size;
    }
    std::int64_t ret = 0;
    if (o < params_->pageblock_order) {
      ret = move_freepages_block(pb_of(idx), to);
    } else {
      move_to_free_list(idx, to);
      change_pageblock_range(idx, o, to);
      ret = 1;
    }
    if (ret > 0) {
      return true;
    }
  }
  return false;
}

}  // namespace labyrinth::allocator::detail
