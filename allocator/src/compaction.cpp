// Direct compaction for the slow path (simulate; docs/kernel-rules.md §4.4), after
// mm/compaction.c:
// - try_to_compact_pages: the zones of the zonelist, highest first; a zone is skipped while
//   compaction_deferred (asynchronous priority only), defer_compaction after a synchronous
//   attempt that found nothing, compaction_defer_reset after a success;
// - compaction_suitable: the order-0 watermark of the request plus compact_gap (2 << order) of
//   room for the copies, and, above the costly order, a fragmentation index above
//   sysctl_extfrag_threshold (below it the failure is lack of memory, for reclaim to fix);
// - compact_zone: a migrate scanner from the zone start and a free scanner from the zone end,
//   both resuming where the last run stopped (compact_cached_migrate_pfn / _free_pfn) and
//   restarting once they meet (COMPACT_COMPLETE);
// - isolate_migratepages_block: movable allocations (LRU folios) are moved, large ones too when
//   their order is below the request's and the pageblock's (skip_isolation_on_order), each to a
//   free block of its order (compaction_alloc); asynchronous direct compaction takes only pageblocks of
//   the request's type (suitable_migration_source) and gives up an order-aligned block at the
//   first page it cannot isolate (skip_on_failure), as moving the rest could not free it;
// - isolate_freepages_block / __isolate_free_page: free pages of Movable (or CMA) pageblocks,
//   and only while the zone keeps min + 2^order free (no boost: _watermark);
// - __compact_finished: done once a free block of the order is on the request's list or one it
//   may claim from; the moved pages' old frames go straight to the buddy lists, as
//   drain_local_pages at each order-aligned block and compaction_capture make them.
// Each move is reported to the Reclaimer (Reclaimer::migrated), so that a replay's frees of
// the page find it at its new frame; without a Reclaimer nothing is compacted.
// Model::compact_block empties the one block a replay's kernel compacted, moving each
// allocation to its home frame when the Reclaimer names one (Reclaimer::home).
#include <span>

#include "labyrinth/allocator/metrics.hpp"
#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::kNil;
using detail::PageKind;
using detail::PageState;
using detail::Zone;

namespace {

constexpr unsigned kMaxDeferShift = 6;  // COMPACT_MAX_DEFER_SHIFT
constexpr int kExtfragThreshold = 500;  // sysctl_extfrag_threshold, default

bool overlaps(std::span<const FrameRange> ranges, std::uint64_t from, std::uint64_t to) {
  for (const FrameRange& r : ranges) {
    if (r.overlaps(from, to)) {
      return true;
    }
  }
  return false;
}

// __isolate_free_page's watermark: a free block of `order` leaves the zone at min + 2^order.
bool may_isolate(const Zone& z, unsigned order) {
  const auto mark = static_cast<std::int64_t>(z.wm_.min + (std::uint64_t{1} << order));
  return z.watermark_ok(0, mark, ZoneType::Dma, alloc::kCma).ok;
}

// suitable_migration_target(): where the free scanner takes pages.
bool suitable_target(const Zone& z, std::uint32_t pbi) {
  const detail::PageblockMeta& b = z.pb_[pbi];
  return !b.straddles && b.free_pages != 0 && (b.type == MigrateType::Movable || b.type == MigrateType::Cma);
}

// suitable_migration_source() for direct compaction.
bool suitable_source(const Zone& z, std::uint32_t pbi, MigrateType mt, bool sync) {
  const detail::PageblockMeta& b = z.pb_[pbi];
  if (b.straddles || b.alloc_pages[index_of(MigrateType::Movable)] == 0) {
    return false;
  }
  if (sync) {
    return true;
  }
  return mt == MigrateType::Movable ? (b.type == MigrateType::Movable || b.type == MigrateType::Cma) : b.type == mt;
}

// __compact_finished(): a free block of the order on the request's list, CMA's for movable
// requests, or a fallback list it may claim from (find_suitable_fallback(.., true)).
bool free_block_ready(const Zone& z, unsigned order, MigrateType mt, unsigned pageblock_order) {
  const std::uint32_t from = ~((1u << order) - 1u);
  if ((z.area_.mask[index_of(mt)] & from) != 0) {
    return true;
  }
  if (mt == MigrateType::Movable && (z.area_.mask[index_of(MigrateType::Cma)] & from) != 0) {
    return true;
  }
  if (!is_mergeable(mt) || (order < pageblock_order / 2 && mt == MigrateType::Movable)) {
    return false;
  }
  for (const MigrateType fb : detail::kFallbacks[index_of(mt)]) {
    if ((z.area_.mask[index_of(fb)] & from) != 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

// compaction_suitable(): `mark` is the request's watermark.
bool Model::Impl::compaction_suitable(const Zone& z, unsigned order, std::uint64_t mark, ZoneType highest) const {
  const auto gap = static_cast<std::int64_t>(std::uint64_t{2} << order);
  if (!z.watermark_ok(0, static_cast<std::int64_t>(mark) + gap, highest, alloc::kCma).ok) {
    return false;
  }
  if (order > detail::kCostlyOrder) {
    const std::span<const std::uint64_t> nr_free(z.area_.nr_free.data(), params.max_order + 1);
    const int index = fragmentation_index(order, fill_contig_page_info(nr_free, order), params.max_order);
    if (index >= 0 && index <= kExtfragThreshold) {
      return false;
    }
  }
  return true;
}

// The free scanner: one free block of `order` from the highest suitable pageblock above `floor`
// (the migrate scanner's pageblock), split off a free block of at least that order; kNil when
// the scanners met or the zone is at min + 2^order (__isolate_free_page refuses).
std::uint32_t Model::Impl::isolate_free_page(Zone& z, CompactionState& cs, std::uint32_t floor, unsigned order,
                                              std::span<const FrameRange> avoid) {
  while (cs.free_pb > floor) {
    if (suitable_target(z, cs.free_pb)) {
      const std::uint32_t first = z.idx((z.pb_first_ + cs.free_pb) << params.pageblock_order);
      const std::uint32_t end = std::min<std::uint32_t>(first + (1u << params.pageblock_order), z.frames());
      for (std::uint32_t i = first; i < end;) {
        const std::uint32_t head = z.find_head(i);
        if (head == kNil) {
          break;
        }
        const PageState s = z.state_at(head, z.state(head).order);
        if (s.kind() == PageKind::Free && s.order >= order && !overlaps(avoid, head, head + (1u << s.order))) {
          if (!may_isolate(z, s.order)) {
            return kNil;
          }
          z.take_from_free_block(head, s.order, head, order, s.mt());
          return head;
        }
        i = head + (1u << s.order);
      }
    }
    --cs.free_pb;
  }
  return kNil;
}

// The pfn the Reclaimer names for the allocation at `from` (Reclaimer::home), when aligned to
// its order. A replay's model holds an allocation away from the kernel's frame only where that
// frame was not free in the model: going back undoes the difference, where a move to the free
// scanner's page keeps it.
std::optional<Pfn> Model::Impl::home_pfn(const Zone& z, std::uint32_t from, unsigned order) const {
  const PageState st = z.state_at(from, order);
  if (reclaimer == nullptr || st.seed_owned()) {
    return std::nullopt;
  }
  const std::optional<Pfn> home = reclaimer->home(z.owner(from, st));
  if (!home || (home->value & ((std::uint64_t{1} << order) - 1)) != 0) {
    return std::nullopt;
  }
  return home;
}

// The home frame when it lies in the zone, outside the blocks being emptied; kNil otherwise.
std::uint32_t Model::Impl::home_frame(const Zone& z, std::uint32_t from, unsigned order,
                                      std::span<const FrameRange> busy) const {
  const std::optional<Pfn> home = home_pfn(z, from, order);
  const std::uint64_t size = std::uint64_t{1} << order;
  if (!home || !z.contains(home->value) || !z.contains(home->value + size - 1)) {
    return kNil;
  }
  const std::uint32_t target = z.idx(home->value);
  return overlaps(busy, target, target + size) ? kNil : target;
}

namespace {

// The frame `target` of `order` taken off the free lists when a free block holds it, at the
// free scanner's watermark (__isolate_free_page's).
bool take_free_frame(Zone& z, std::uint32_t target, unsigned order) {
  const std::uint32_t head = z.find_head(target);
  if (head == kNil) {
    return false;
  }
  const PageState free = z.state_at(head, z.state(head).order);
  if (free.kind() != PageKind::Free ||
      head + (std::uint64_t{1} << free.order) < target + (std::uint64_t{1} << order) || !may_isolate(z, order)) {
    return false;
  }
  z.take_from_free_block(head, free.order, target, order, free.mt());
  return true;
}

}  // namespace

// The home frame taken off the free lists (take_free_frame); kNil when it is not free.
std::uint32_t Model::Impl::take_home_frame(Zone& z, std::uint32_t from, unsigned order,
                                           std::span<const FrameRange> busy) {
  const std::uint32_t target = home_frame(z, from, order, busy);
  return target != kNil && take_free_frame(z, target, order) ? target : kNil;
}

// The allocation at `from` moved to its home frame in another zone, when that frame is free
// there (take_free_frame). The kernel's compaction never crosses zones, but the model put the
// allocation in another zone than the kernel's where the kernel's frame was not free in the
// model or its zone failed the model's watermark then; moving it back undoes that difference.
// On an atomic squeeze, a huge page the model had put in Normal, the kernel in DMA32, stood in
// the block of the kernel's next one.
bool Model::Impl::move_home_across_zones(Zone& z, std::uint32_t from, unsigned order) {
  const std::optional<Pfn> home = home_pfn(z, from, order);
  if (!home || z.contains(home->value)) {
    return false;
  }
  Zone* hz = zone_for(home->value);
  if (hz == nullptr || !hz->contains(home->value + (std::uint64_t{1} << order) - 1) ||
      !take_free_frame(*hz, hz->idx(home->value), order)) {
    return false;
  }
  migrate_page(z, from, *hz, hz->idx(home->value), order);
  return true;
}

// One allocation of `order` moved to `target` of zone `to` (migrate_pages): the old frames are
// freed to the buddy lists and the owner told where its pages went. A page allocated before
// the recording (order 0) becomes an allocation owned by its old pfn, where the trace will
// free it.
void Model::Impl::migrate_page(Zone& z, std::uint32_t from, Zone& to, std::uint32_t target, unsigned order) {
  const PageState s = z.state_at(from, order);
  const Owner owner = s.seed_owned() ? Owner{z.pfn(from)} : z.owner(from, s);
  z.unmark_allocated(from, s);
  to.mark_allocated(target, order, s.mt(), owner, false);
  z.free_one_page(from, order);
  params.counters.compaction_migrated_pages += std::uint64_t{1} << order;
  if (reclaimer != nullptr) {
    reclaimer->migrated(owner, Pfn{z.pfn(from)}, Pfn{to.pfn(target)});
  }
}

bool Model::compact_block(Pfn head, unsigned order) {
  Impl& s = *impl_;
  Zone* z = s.zone_for(head.value);
  const std::uint64_t pages = std::uint64_t{1} << order;
  if (z == nullptr || s.reclaimer == nullptr || order > s.params.max_order || (head.value & (pages - 1)) != 0 ||
      !z->contains(head.value + pages - 1)) {
    return false;
  }
  s.compaction.resize(s.zones.size());
  return s.empty_block(*z, z->idx(head.value), order, {});
}

// Moves every allocation out of [first, first + 2^order) and frees its per-CPU pages, as the
// kernel's compaction did for a block it then handed out. Each allocation goes back to its
// home frame when that is free (take_home_frame, or move_home_across_zones), else to the free
// scanner's page; a home held by other allocations is emptied first, kMaxHomeDepth calls deep
// (the model's free pages may have no block of a whole pageblock's order at all, the
// kernel's did). The free scanner never takes pages of `avoid` (the blocks the outer calls
// are emptying).
// Balloons of huge pages leave chains: each folio the model could not place at its own frame
// went to the next one's, and an atomic squeeze showed one 10 folios long. 64 bounds the
// stack, and `avoid` rules out cycles.
bool Model::Impl::empty_block(Zone& z, std::uint32_t first, unsigned order, std::span<const FrameRange> avoid) {
  constexpr std::size_t kMaxHomeDepth = 64;
  const auto end = static_cast<std::uint32_t>(first + (std::uint64_t{1} << order));
  std::vector<std::pair<std::uint32_t, unsigned>> movable;
  std::vector<std::uint32_t> on_pcp;
  for (std::uint32_t i = first; i < end;) {
    const std::uint32_t h = z.find_head(i);
    if (h == kNil) {
      return false;
    }
    const PageState st = z.state_at(h, z.state(h).order);
    if (h < first && st.kind() != PageKind::Free) {
      return false;  // an allocation larger than the block
    }
    if (st.kind() == PageKind::Pcp) {
      on_pcp.push_back(h);
    } else if (st.kind() == PageKind::Alloc) {
      if (st.mt() != MigrateType::Movable || (st.order != 0 && st.seed_owned())) {
        return false;  // what compaction cannot move
      }
      movable.emplace_back(h, st.order);
    }
    i = h + (1u << st.order);
  }
  CompactionState& cs = compaction[z.id_];
  const std::uint32_t floor = z.pb_of(end - 1);
  std::vector<FrameRange> busy(avoid.begin(), avoid.end());
  busy.push_back(FrameRange{first, end});
  for (const auto& [from, o] : movable) {
    std::uint32_t target = take_home_frame(z, from, o, busy);
    if (target == kNil && avoid.size() < kMaxHomeDepth) {
      if (const std::uint32_t home = home_frame(z, from, o, busy); home != kNil) {
        const std::uint32_t saved = cs.free_pb;
        if (empty_block(z, home, o, busy)) {
          target = take_home_frame(z, from, o, busy);
        }
        cs.free_pb = saved;
      }
    }
    if (target == kNil && move_home_across_zones(z, from, o)) {
      continue;
    }
    if (target == kNil) {
      if (cs.free_pb <= floor || cs.free_pb >= z.pb_.size()) {
        cs.free_pb = static_cast<std::uint32_t>(z.pb_.size() - 1);  // the free scanner starts again at the top
      }
      target = isolate_free_page(z, cs, floor, o, busy);
    }
    if (target == kNil) {
      return false;
    }
    migrate_page(z, from, z, target, o);
  }
  for (const std::uint32_t h : on_pcp) {
    const unsigned o = z.state(h).order;
    z.pcp_remove(h);
    z.free_one_page(h, o);
  }
  return true;
}

// compact_zone(): true when a block of the order is free for the request.
bool Model::Impl::compact_zone(Zone& z, const AllocContext& ac, bool sync) {
  CompactionState& cs = compaction[z.id_];
  const auto pageblocks = static_cast<std::uint32_t>(z.pb_.size());
  if (cs.migrate_pb >= cs.free_pb || cs.free_pb >= pageblocks) {
    cs.migrate_pb = 0;  // __reset_isolation_suitable: both scanners back to the zone's ends
    cs.free_pb = pageblocks - 1;
  }
  const unsigned pbo = params.pageblock_order;
  const unsigned chunk_order = std::min(ac.order, pbo);
  std::vector<std::pair<std::uint32_t, unsigned>> movable;  // head, order
  for (; cs.migrate_pb < cs.free_pb; ++cs.migrate_pb) {
    if (!suitable_source(z, cs.migrate_pb, ac.mt, sync)) {
      continue;
    }
    const std::uint32_t first = z.idx((z.pb_first_ + cs.migrate_pb) << pbo);
    for (std::uint32_t chunk = first; chunk < first + (1u << pbo); chunk += 1u << chunk_order) {
      // isolate_migratepages_block over one order-aligned block.
      movable.clear();
      bool blocked = false;
      for (std::uint32_t i = chunk; i < chunk + (1u << chunk_order) && !blocked;) {
        const std::uint32_t head = z.find_head(i);
        if (head == kNil) {
          blocked = true;
          break;
        }
        const PageState s = z.state_at(head, z.state(head).order);
        // skip_isolation_on_order: a folio below the request's order (and the pageblock's);
        // a page allocated before the recording moves only as the order-0 page it is owned as.
        const bool migratable = s.kind() == PageKind::Alloc && s.mt() == MigrateType::Movable &&
                                s.order < chunk_order && (s.order == 0 || !s.seed_owned());
        if (migratable) {
          movable.emplace_back(head, s.order);
        } else if (s.kind() != PageKind::Free && !sync) {
          blocked = true;  // skip_on_failure: this block cannot become free
        }
        i = head + (1u << s.order);
      }
      if (blocked || movable.empty()) {
        continue;
      }
      for (const auto& [from, order] : movable) {
        const std::uint32_t target = isolate_free_page(z, cs, cs.migrate_pb, order);
        if (target == kNil) {
          cs.migrate_pb = cs.free_pb;  // no free block left to move to: as if the scanners met
          return free_block_ready(z, ac.order, ac.mt, pbo);
        }
        migrate_page(z, from, z, target, order);
      }
      if (free_block_ready(z, ac.order, ac.mt, pbo)) {
        return true;
      }
    }
  }
  return free_block_ready(z, ac.order, ac.mt, pbo);
}

// try_to_compact_pages() and the allocation attempt after it (__alloc_pages_direct_compact).
Hit Model::Impl::direct_compact(const AllocContext& ac, AllocFlags flags, Owner owner, bool sync, bool& tried) {
  tried = false;
  // Pages move only when their owner can be told: without a Reclaimer (the C API, whose
  // callers hold pfns) the slow path does not compact.
  if (ac.order == 0 || reclaimer == nullptr || !params.tunables.compaction) {
    return Hit{};
  }
  compaction.resize(zones.size());
  ++params.counters.compactions;
  const auto mark = static_cast<Watermark>(flags & alloc::kWmarkMask);
  for (const std::uint16_t id : *ac.zonelist) {
    Zone& z = zones[id];
    CompactionState& cs = compaction[id];
    if (ac.order >= cs.order_failed && ++cs.considered < (1u << cs.defer_shift)) {
      continue;  // compaction_deferred (every priority above MIN_COMPACT_PRIORITY)
    }
    if (!compaction_suitable(z, ac.order, z.wmark_pages(mark), ac.highest)) {
      continue;
    }
    tried = true;
    if (compact_zone(z, ac, sync)) {
      if (ac.order >= cs.order_failed) {
        cs.order_failed = ac.order + 1;  // compaction_defer_reset(zone, order, false)
      }
      break;
    }
    if (sync) {  // defer_compaction: not after an asynchronous attempt
      cs.considered = 0;
      cs.defer_shift = std::min(cs.defer_shift + 1, kMaxDeferShift);
      cs.order_failed = std::min(cs.order_failed, ac.order);
    }
  }
  Hit h = get_page_from_freelist(ac, flags, owner);
  if (h.idx != kNil) {
    CompactionState& cs = compaction[h.zone];
    cs.considered = 0;  // compaction_defer_reset(zone, order, true)
    cs.defer_shift = 0;
    if (ac.order >= cs.order_failed) {
      cs.order_failed = ac.order + 1;
    }
    ++params.counters.compaction_successes;
  }
  return h;
}

}  // namespace labyrinth::allocator
