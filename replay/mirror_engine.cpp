// Mirror replay (docs/kernel-rules.md §10, §12.2, §12.4): the model applies the kernel's own
// choices. Every inconsistency between the trace and the model is counted and resolved in
// the kernel's favour, since the kernel saw the real state.
#include <algorithm>
#include <bit>
#include <deque>
#include <unordered_set>
#include <vector>

#include "compaction_guess.hpp"
#include "engine.hpp"
#include "kswapd_passes.hpp"
#include "labyrinth/replay/capture.hpp"

namespace labyrinth::replay::detail {

using allocator::BlockState;
using allocator::CarveStatus;
using allocator::FreeStatus;
using allocator::MigrateType;
using allocator::PcpStatus;
using allocator::Pfn;
using traces::EventKind;
using traces::PageEvent;

namespace {

class MirrorEngine final : public Engine {
 public:
  MirrorEngine(const traces::TraceHeader& h, ModelSetup s, const ReplayOptions& o)
      : Engine(h, std::move(s), o),
        manual_pcp_(setup.config.tunables.pcp == allocator::PcpMode::Manual),
        pageblock_order_(setup.config.pageblock_order),
        pmd_order_(setup.config.rules.pcp_pmd_order.value_or(0xff)),
        moves_recorded_(recorded(h, EventKind::PageblockMove)),
        passes_recorded_(recorded(h, EventKind::KswapdWake)),
        direct_take_(setup.config.nr_cpus, ~std::uint64_t{0}) {
    // With the kernel's kswapd passes the boost lasts until the end of the pass that found it
    // (KswapdPasses), not until the wake-up it asked for.
    if (passes_recorded_) {
      allocator::Tunables t = model.tunables();
      t.boost_reset = allocator::BoostReset::Manual;
      model.set_tunables(t);
    }
  }

  void apply(std::span<const PageEvent> events) override {
    // Each event touches the metadata of a random page frame (the Normal zone's array is far
    // larger than the cache): start loading it a few events ahead.
    if (counters.events == 0) reserve_in_model_ = seeded_with_highatomic();
    begin_span(events);
    const std::size_t n = events.size();
    for (std::size_t k = 0; k < std::min(n, kAhead); ++k) prefetch(events[k].pfn, events[k].order);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) prefetch(events[i + kAhead].pfn, events[i + kAhead].order);
      const PageEvent& e = events[i];
      begin_event(e);
      if (refilled_zone_ && e.kind != EventKind::PcpRefill) note_refilled_level();
      switch (e.kind) {
        case EventKind::Alloc:
          if (e.pfn == traces::kFailedPfn) {
            on_failure(e);
          } else {
            on_alloc(e);
          }
          break;
        case EventKind::Free: on_free(e); break;
        case EventKind::FreeBatched: quality.add(DataQuality::batched_free_duplicates); break;
        case EventKind::PcpRefill: on_refill(e); break;
        case EventKind::PcpDrain: on_drain(e); break;
        case EventKind::Extfrag: on_extfrag(e); break;
        case EventKind::PageblockMove: on_pageblock_move(e); break;
        case EventKind::ZoneCounters: break;  // never among a reader's events (add_zone_counters)
        case EventKind::Isolate:
          on_isolate(e);
          if (const auto zone = model.zone_of(Pfn{e.pfn})) note_free_level(*zone, e.ts_ns);
          break;
        case EventKind::ReclaimBegin:
          task_reclaims_.begin(e.pid, e.ts_ns);
          note_every_free_level(e.ts_ns);
          break;
        case EventKind::ReclaimEnd:
          task_reclaims_.end(e.pid, e.ts_ns, e.reclaimed_pages);
          note_every_free_level(e.ts_ns);
          break;
        case EventKind::KswapdWake:
          if (passes_recorded_) passes_.wake(model, kswapd_node(e));
          break;
        case EventKind::KswapdSleep:
          if (passes_recorded_) passes_.sleep(model, kswapd_node(e));
          break;
      }
      // The CPU as cpu_of takes it, without counting an invalid one a second time.
      if (e.kind == EventKind::Alloc && e.ctx == traces::ExecContext::Task) {
        task_allocs_.note(e.cpu < nr_cpus_ ? e.cpu : 0u, e.pid, e.ts_ns, e.task_state);
      }
    }
  }

  std::uint64_t correct_to_map(std::span<const FreeMapDifference> ranges) override {
    std::uint64_t changed = 0;
    for (const FreeMapDifference& r : ranges) {
      const std::uint64_t end = r.start_pfn + r.pages;
      for (std::uint64_t p = r.start_pfn; p < end;) {
        unsigned order = 0;  // the largest aligned block at p inside the range
        while (order < setup.config.max_order && (p & ((std::uint64_t{2} << order) - 1)) == 0 && p + (std::uint64_t{2} << order) <= end)
          ++order;
        if (r.free_in_model ? take_unseen(p, order) : free_unseen(p, order)) changed += std::uint64_t{1} << order;
        p += std::uint64_t{1} << order;
      }
    }
    return changed;
  }

 private:
  static constexpr std::size_t kAhead = 12;

  // A free block the kernel no longer has on its free lists: on a pcp list (CPU 0's; an event
  // of any CPU finds it there) where the order has one, else in use by an owner no event named.
  bool take_unseen(std::uint64_t head, unsigned order) {
    const auto b = model.block_containing(Pfn{head});
    if (!b || b->state != BlockState::Free) return false;
    const MigrateType mt = allocator::is_mergeable(b->migratetype) ? b->migratetype : MigrateType::Movable;
    if (manual_pcp_ && pcp_order(order) && model.pcp_refill(Pfn{head}, order, 0, mt).ok()) return true;
    return model.carve(Pfn{head}, order, mt, kUnseenOwner).ok();
  }
  // A block the kernel has free that the model holds: released, and no more (a larger
  // allocation holding it is split first; an event of the rest tells the rest).
  bool free_unseen(std::uint64_t head, unsigned order) {
    const auto b = model.block_containing(Pfn{head});
    if (!b || b->state == BlockState::Free) return false;
    if ((b->state == BlockState::Allocated || b->state == BlockState::Seed) && b->order > order)
      model.split_allocation(b->head, order);
    clear_range(head, order, 0);
    return true;
  }

  // After an event that may have taken free pages, and at every allocation (a task's span
  // starts there): the zone's level, for failures whose checks ran before their event
  // (request_span.hpp).
  void note_free_level(std::uint16_t zone, std::uint64_t ts_ns) {
    const allocator::ZoneLevels l = model.levels(zone);
    free_history_.note(zone, ts_ns, l.free_pages, l.reserve_unusable);
  }
  // At a direct reclaim's begin and end, the instants of its task's watermark checks: every
  // zone's level (frees, which only raise it, are not noted otherwise).
  void note_every_free_level(std::uint64_t ts_ns) {
    for (std::size_t z = 0; z < model.zone_count(); ++z) note_free_level(static_cast<std::uint16_t>(z), ts_ns);
  }
  // A refill batch's pages come one event each: its level is noted once, after its last page.
  std::optional<std::uint16_t> refilled_zone_;
  std::uint64_t refilled_ts_ = 0;
  void note_refilled_level() {
    note_free_level(*refilled_zone_, refilled_ts_);
    refilled_zone_.reset();
  }

  [[nodiscard]] bool pcp_order(unsigned order) const { return order <= 3 || order == pmd_order_; }

  // Interrupt-context frees the model put on a pcp list, whose page no event has touched since.
  // The kernel may have put them in the buddy lists instead: mm/page_alloc.c:__free_frozen_pages
  // frees to the buddy lists (free_one_page) when pcp_spin_trylock() fails, as it does in an
  // interrupt that came while a task on that CPU held its pcp list (or while another CPU drains
  // it), and mm_page_free is the same either way. Only later evidence tells.
  std::unordered_set<std::uint64_t> interrupt_pcp_frees_;
  // Most events are of pages no interrupt freed: a bit per pfn (modulo its size) that may be in
  // the set spares them the hash lookup (6% of a replay's instructions without it). Rebuilt
  // from the set when the inserts since the last rebuild could have filled it.
  static constexpr std::uint64_t kFilterBits = std::uint64_t{1} << 20;
  std::vector<std::uint64_t> interrupt_filter_ = std::vector<std::uint64_t>(kFilterBits / 64);
  std::uint64_t filter_inserts_ = 0;

  [[gnu::noinline]] void note_interrupt_free(std::uint64_t pfn) {
    interrupt_pcp_frees_.insert(pfn);
    interrupt_filter_[(pfn % kFilterBits) / 64] |= std::uint64_t{1} << (pfn % 64);
    if (++filter_inserts_ < kFilterBits / 16 + interrupt_pcp_frees_.size()) return;
    std::fill(interrupt_filter_.begin(), interrupt_filter_.end(), 0);
    for (const std::uint64_t p : interrupt_pcp_frees_) interrupt_filter_[(p % kFilterBits) / 64] |= std::uint64_t{1} << (p % 64);
    filter_inserts_ = interrupt_pcp_frees_.size();
  }

  void forget_interrupt_free(std::uint64_t pfn) {
    if ((interrupt_filter_[(pfn % kFilterBits) / 64] >> (pfn % 64) & 1) != 0) erase_interrupt_free(pfn);
  }
  // Out of line: the hash set's erase, rare, inlined in apply's loop cost its events
  // instructions (8 M a 5.45 M-event replay).
  [[gnu::noinline]] void erase_interrupt_free(std::uint64_t pfn) { interrupt_pcp_frees_.erase(pfn); }

  // Whether [pfn, pfn + 2^order) is free in the model but for interrupt frees on pcp lists
  // (the kernel merged them with their free buddies: a refill may take the merged block).
  [[nodiscard]] bool on_pcp_after_interrupt_free(std::uint64_t pfn, unsigned order) const {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    bool any = false;
    for (std::uint64_t p = pfn; p < end;) {
      const auto b = model.block_containing(Pfn{p});
      if (!b) return false;
      if (b->state == BlockState::Pcp && interrupt_pcp_frees_.contains(b->head.value)) {
        any = true;
      } else if (b->state != BlockState::Free) {
        return false;
      }
      p = std::max(p + 1, b->head.value + (std::uint64_t{1} << b->order));
    }
    return any;
  }

 public:
  [[nodiscard]] bool wants_events_after(const traces::Snapshot& s) const override {
    return !s.free_runs.empty() && !interrupt_pcp_frees_.empty();
  }

  // The snapshot's free-page map shows in the buddy lists pages whose last event was an
  // interrupt's free that the model put on a pcp list: they went to the buddy lists at that
  // free (a page on a pcp list is not PageBuddy). The map is read after buddyinfo (a fifth of
  // a second later on 21 GiB), so a page counts only if its next event, if any, is one that
  // takes it from the buddy lists (a refill, an allocation): a drain (or a free) next means it
  // was on a pcp list at buddyinfo's instant, and went to the buddy lists before the map.
  // Cold: it runs once, and compiled as hot it made the compiler lay out apply's loop worse
  // (32 M more instructions a 5.45 M-event replay).
  [[gnu::cold]] void settle_at_snapshot(const traces::Snapshot& s, std::span<const std::span<const PageEvent>> later) override {
    if (s.free_runs.empty() || interrupt_pcp_frees_.empty()) return;
    std::unordered_set<std::uint64_t> seen;
    for (const std::span<const PageEvent> events : later) {
      for (const PageEvent& e : events) {
        if (!interrupt_pcp_frees_.contains(e.pfn) || !seen.insert(e.pfn).second) continue;
        if (e.kind == EventKind::PcpDrain || e.kind == EventKind::Free) interrupt_pcp_frees_.erase(e.pfn);
      }
    }
    std::vector<traces::FreeRun> runs = s.free_runs;
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.start_pfn < b.start_pfn; });
    const auto free_in_map = [&runs](std::uint64_t pfn, std::uint64_t pages) {
      auto it = std::upper_bound(runs.begin(), runs.end(), pfn, [](std::uint64_t p, const auto& r) { return p < r.start_pfn; });
      if (it == runs.begin()) return false;
      --it;
      return pfn + pages <= it->start_pfn + it->pages;
    };
    for (auto it = interrupt_pcp_frees_.begin(); it != interrupt_pcp_frees_.end();) {
      const auto b = model.block_containing(Pfn{*it});
      if (b && b->state == BlockState::Pcp && b->head.value == *it &&
          free_in_map(*it, std::uint64_t{1} << b->order)) {
        model.pcp_drain(b->head, b->order);
        quality.add(DataQuality::interrupt_free_to_buddy);
        it = interrupt_pcp_frees_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:

  // Makes [pfn, pfn + 2^order) free in the buddy lists: frees the allocations and drains the
  // pcp blocks that overlap it. The kernel has just shown the range free (or taking it).
  [[gnu::noinline]] void clear_range(std::uint64_t pfn, unsigned order, unsigned cpu) {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    std::uint64_t p = pfn;
    for (unsigned guard = 0; p < end && guard < 4096; ++guard) {
      const auto b = model.block_containing(Pfn{p});
      if (!b) {
        ++p;
        continue;
      }
      switch (b->state) {
        case BlockState::Free: p = b->head.value + (std::uint64_t{1} << b->order); break;
        case BlockState::Pcp: model.pcp_drain(b->head, b->order); break;
        case BlockState::Allocated:
        case BlockState::Seed: {
          if (b->owner == kCompactionOwner) release_fast_guess(b->head.value);
          const auto r = model.free(b->head, b->order, cpu);
          if (r.to_pcp) model.pcp_drain(b->head, b->order);
          if (!r.ok()) p = b->head.value + (std::uint64_t{1} << b->order);  // cannot happen; no loop
          break;
        }
      }
    }
  }

  void on_alloc(const PageEvent& e) {
    forget_interrupt_free(e.pfn);
    const unsigned cpu = cpu_of(e);
    const MigrateType mt = request_type(e);
    const allocator::Owner owner = (std::uint64_t{1} << 40) | e.pid;
    const bool reserve = reserves_highatomic(e, cpu);
    allocator::CarveResult r = model.carve(Pfn{e.pfn}, e.order, mt, owner);
    switch (r.status) {
      case CarveStatus::Carved:
      case CarveStatus::CarvedFromPcp: break;
      case CarveStatus::CarvedFromSeed: quality.add(DataQuality::carved_from_seed); break;
      case CarveStatus::NotFree:
      case CarveStatus::RangeMixed:
        quality.add(r.status == CarveStatus::NotFree ? DataQuality::double_alloc : DataQuality::alloc_range_resync);
        clear_range(e.pfn, e.order, cpu);
        r = model.carve(Pfn{e.pfn}, e.order, mt, owner);
        break;
      case CarveStatus::OutsideZone: quality.add(DataQuality::outside_zones); break;
      case CarveStatus::InvalidOrder:
      case CarveStatus::InvalidType: quality.add(DataQuality::invalid_events); break;
    }
    last[cpu] = LastOnCpu{EventKind::Alloc, e.order, false};
    if (!r.ok()) return;
    note_free_level(r.zone, e.ts_ns);
    if (reserve && model.reserve_highatomic_pageblock(Pfn{e.pfn}, e.order)) {
      ++counters.highatomic_reservations;
      reserve_in_model_ = true;
    }
    ++counters.allocations;
    counters.allocated_pages += std::uint64_t{1} << e.order;
    if (is_atomic_request(e.gfp)) {
      ++counters.atomic_allocations;
      timeline.count_atomic(r.zone, false);
    }
  }

  // reserve_highatomic_pageblock is not traced: the kernel calls it when a high-order
  // non-blocking __GFP_HIGH request is served with ALLOC_HIGHATOMIC, which only the slow path
  // sets, after the fast path's low watermark failed (mm/page_alloc.c:get_page_from_freelist;
  // K7: from rmqueue_buddy only). Asked before the carve: the state the kernel decided on.
  [[nodiscard]] bool reserves_highatomic(const PageEvent& e, unsigned cpu) {
    if (moves_recorded_ || e.order == 0 || e.order > pageblock_order_) return false;
    return reserves_highatomic_at_order(e, cpu);
  }
  [[gnu::noinline]] bool reserves_highatomic_at_order(const PageEvent& e, unsigned cpu) {
    if ((allocator::nonblocking_alloc_flags(e.gfp, e.order, layout_) & allocator::alloc::kHighAtomic) == 0) return false;
    if (setup.config.rules.k7_highatomic && direct_take_[cpu] != e.pfn) return false;
    return !model.check_request(e.gfp, e.order, cpu).fast_ok;
  }

  // A zone_locked block came off the free list of its pageblock's type (free pages move with
  // their pageblock: move_freepages_block). So a take from the highatomic list shows a
  // reservation the model did not make, and a take from another list of a pageblock the model
  // has reserved shows unreserve_highatomic_pageblock (direct reclaim): neither is traced.
  void follow_highatomic(const PageEvent& e, MigrateType list) {
    if (list != MigrateType::HighAtomic && !reserve_in_model_) return;  // nothing to unreserve
    const auto current = model.pageblock_type(Pfn{e.pfn});
    if (!current || *current == list) return;
    if (list == MigrateType::HighAtomic && allocator::is_mergeable(*current)) {
      quality.add(DataQuality::highatomic_reserve_shown);
    } else if (*current == MigrateType::HighAtomic && allocator::is_mergeable(list)) {
      quality.add(DataQuality::highatomic_unreserve_shown);
    } else {
      return;
    }
    if (model.change_pageblock_type(Pfn{e.pfn}, list).status == allocator::PageblockStatus::Changed) {
      ++counters.pageblock_changes;
      reserve_in_model_ = reserve_in_model_ || list == MigrateType::HighAtomic;
    }
  }

  [[nodiscard]] bool seeded_with_highatomic() const {
    for (std::size_t z = 0; z < model.zone_count(); ++z) {
      if (model.metrics(static_cast<std::uint16_t>(z)).nr_reserved_highatomic != 0) return true;
    }
    return false;
  }

  [[gnu::noinline]] void on_failure(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    std::optional<FailureCause> cause;
    if (is_memcg_failure(e, cpu)) {
      cause = FailureCause::MemcgCharge;
      quality.add(DataQuality::memcg_charge_failures);
      // Its free found the page free in the model: that was no double free.
      if (last[cpu].double_free && quality.get(DataQuality::double_free) != 0) {
        quality.values[static_cast<std::size_t>(DataQuality::double_free)] -= 1;
      }
    }
    const FailureRecord r = record_failure(e, cpu, cause, true);
    if (r.state.zone) note_free_level(*r.state.zone, e.ts_ns);
    if (r.cause == FailureCause::Unexplained && e.order > 0) take_blocks_the_failure_denies(e, cpu, r.state);
    last[cpu] = LastOnCpu{EventKind::Alloc, e.order, false};
  }

  // The kernel failed an order > 0 request that the model serves from a few free blocks, in a
  // zone whose count is above the watermark by more than the counters' drift: the kernel had
  // none of those blocks free (__zone_watermark_ok found no block of the order on the lists the
  // request may use: the movability lists, and the highatomic reserve for an ALLOC_HIGHATOMIC
  // request). They are taken as in use by an owner no event named, as a refill or drain shows
  // a page's state; a later event of theirs tells the rest. Compaction's fast isolations,
  // guessed where the kernel refuses fentry, leave such blocks.
  [[gnu::noinline]] void take_blocks_the_failure_denies(const PageEvent& e, unsigned cpu, ZoneState s) {
    for (std::size_t round = 0; round < model.zone_count() && s.zone && s.slow_ok; ++round) {
      if (s.margin_pages() <= drift_pages(s)) return;
      struct Block {
        Pfn head;
        unsigned order;
        MigrateType list;
      };
      std::vector<Block> blocks;
      std::uint64_t pages = 0;
      for (unsigned o = e.order; o <= model.config().max_order; ++o) {
        for (unsigned t = 0; t < allocator::kMigrateTypes; ++t) {
          if ((static_cast<unsigned>(s.block_lists) >> t & 1u) == 0) continue;
          const auto list = static_cast<MigrateType>(t);
          for (const Pfn head : model.free_list(*s.zone, o, list)) {
            blocks.push_back({head, o, list});
            pages += std::uint64_t{1} << o;
          }
        }
      }
      // A few blocks, two pageblocks' worth at most.
      if (blocks.empty() || blocks.size() > kFewBlocks || pages > (std::uint64_t{2} << pageblock_order_)) return;
      for (const Block& b : blocks) {
        // Allocated as what a reserve serves: the highatomic reserve atomic (unmovable)
        // requests, CMA movable ones.
        const MigrateType as = allocator::is_mergeable(b.list)       ? b.list
                               : b.list == MigrateType::HighAtomic ? MigrateType::Unmovable
                                                                   : MigrateType::Movable;
        if (model.carve(b.head, b.order, as, kUnseenOwner).ok()) quality.add(DataQuality::failure_shows_blocks_gone);
      }
      s = inspect_request(model, e.gfp, e.order, cpu, task_context(e));
    }
  }

  static constexpr allocator::Owner kUnseenOwner = ~allocator::Owner{0} - 3;

  void on_free(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    ++counters.frees;
    counters.freed_pages += std::uint64_t{1} << e.order;
    allocator::FreeResult r = model.free(Pfn{e.pfn}, e.order, cpu);
    const bool double_free = r.status != FreeStatus::Freed && on_free_other(e, cpu, r);
    if (r.ok() && r.to_pcp && e.ctx != traces::ExecContext::Task && e.ctx != traces::ExecContext::Unknown) {
      note_interrupt_free(e.pfn);
    } else {
      forget_interrupt_free(e.pfn);
    }
    last[cpu] = LastOnCpu{EventKind::Free, e.order, double_free};
  }

  // A free the model did not simply take (r: its result, updated): out of line, inline it
  // costs the common free registers. Returns whether it was a double free.
  [[gnu::noinline]] bool on_free_other(const PageEvent& e, unsigned cpu, allocator::FreeResult& r) {
    bool double_free = false;
    if (r.status == FreeStatus::DoubleFree && correct_fast_guess(e.pfn, e.order, cpu)) {
      r = model.free(Pfn{e.pfn}, e.order, cpu);
    }
    switch (r.status) {
      case FreeStatus::Freed: break;
      case FreeStatus::FreedSeed: quality.add(DataQuality::free_of_unknown_page); break;
      case FreeStatus::DoubleFree:
        quality.add(DataQuality::double_free);
        double_free = true;
        break;
      case FreeStatus::WrongOrder:
      case FreeStatus::UnknownPage:
        if (r.allocated_order > e.order && (r.status == FreeStatus::WrongOrder || r.allocation_head.value != 0)) {
          // Part of a larger allocation: split_page, alloc_pages_exact, partial frees.
          const Pfn head = r.status == FreeStatus::WrongOrder ? Pfn{e.pfn} : r.allocation_head;
          close_fast_guess(head.value);
          quality.add(DataQuality::free_split_allocation);
          model.split_allocation(head, e.order);
          r = model.free(Pfn{e.pfn}, e.order, cpu);
        } else {
          // A free larger than the allocation(s) in its range: release everything in it.
          quality.add(DataQuality::free_order_mismatch);
          release_range(e.pfn, e.order, cpu);
        }
        break;
      case FreeStatus::OutsideZone: quality.add(DataQuality::outside_zones); break;
      case FreeStatus::InvalidOrder:
      case FreeStatus::InvalidCpu: quality.add(DataQuality::invalid_events); break;
    }
    return double_free;
  }

  // Frees every allocation inside [pfn, pfn + 2^order). The kernel freed one block of that
  // order, so where the order is not one pcp lists hold, its pieces go to the buddy lists too
  // (freed one by one, small ones would sit on a pcp list that no drain ever empties).
  [[gnu::noinline]] void release_range(std::uint64_t pfn, unsigned order, unsigned cpu) {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    const bool to_buddy = !pcp_order(order);
    for (std::uint64_t p = pfn; p < end;) {
      const auto b = model.block_containing(Pfn{p});
      if (!b) {
        ++p;
        continue;
      }
      const std::uint64_t next = std::max(p + 1, b->head.value + (std::uint64_t{1} << b->order));
      if (b->state == BlockState::Allocated || b->state == BlockState::Seed) {
        const allocator::FreeResult r = model.free(b->head, b->order, cpu);
        if (r.ok() && r.to_pcp && to_buddy) model.pcp_drain(b->head, b->order);
      }
      p = next;
    }
  }

  [[gnu::noinline]] void on_refill(const PageEvent& e) {
    const auto mt = recorded_type(e.migratetype);
    if (mt) follow_highatomic(e, *mt);
    if (!manual_pcp_) {
      ++counters.kernel_internal_ignored;
      return;
    }
    const unsigned cpu = cpu_of(e);
    if (!e.percpu_refill || !pcp_order(e.order) || !mt || !allocator::is_mergeable(*mt)) {
      // Straight to the caller (rmqueue_buddy): the allocation event that follows carves it.
      ++counters.pcp_direct_takes;
      direct_take_[cpu] = e.pfn;
      return;
    }
    refill(e.pfn, e.order, cpu, *mt, true);
  }

  void refill(std::uint64_t pfn, unsigned order, unsigned cpu, MigrateType mt, bool resync) {
    allocator::PcpResult r = model.pcp_refill(Pfn{pfn}, order, cpu, mt);
    if (r.status == PcpStatus::NotInBuddy && resync) {
      // Taken from the buddy lists: an interrupt's free that the model put on a pcp list went
      // there (no event was lost); anything else is a movement the trace missed.
      quality.add(on_pcp_after_interrupt_free(pfn, order) ? DataQuality::interrupt_free_to_buddy
                                                          : DataQuality::refill_not_free);
      clear_range(pfn, order, cpu);
      r = model.pcp_refill(Pfn{pfn}, order, cpu, mt);
    }
    forget_interrupt_free(pfn);
    if (r.ok()) {
      refilled_zone_ = r.zone;
      refilled_ts_ = last_ts;
    }
    switch (r.status) {
      case PcpStatus::Moved: ++counters.pcp_refills; break;
      case PcpStatus::MovedFromSeed:
        ++counters.pcp_refills;
        quality.add(DataQuality::refill_from_seed);
        break;
      case PcpStatus::OutsideZone: quality.add(DataQuality::outside_zones); break;
      case PcpStatus::NotInBuddy:
      case PcpStatus::NotOnPcp:
      case PcpStatus::Disabled:
      case PcpStatus::NotPcpOrder: break;
      case PcpStatus::InvalidOrder:
      case PcpStatus::InvalidCpu:
      case PcpStatus::InvalidType: quality.add(DataQuality::invalid_events); break;
    }
  }

  [[gnu::noinline]] void on_drain(const PageEvent& e) {
    if (!manual_pcp_) {
      ++counters.kernel_internal_ignored;
      return;
    }
    ++counters.pcp_drains;
    forget_interrupt_free(e.pfn);
    // The drain names the pageblock's type as free_pcppages_bulk read it
    // (get_pfnblock_migratetype): a highatomic reserve made or given back with no event shows.
    if (const auto mt = recorded_type(e.migratetype)) follow_highatomic(e, *mt);
    const allocator::PcpResult r = model.pcp_drain(Pfn{e.pfn}, e.order);
    if (r.ok()) return;
    if (r.status == PcpStatus::OutsideZone) {
      quality.add(DataQuality::outside_zones);
      return;
    }
    if (r.status == PcpStatus::InvalidOrder) {
      quality.add(DataQuality::invalid_events);
      return;
    }
    const unsigned cpu = cpu_of(e);
    const auto b = model.block_containing(Pfn{e.pfn});
    if (!b) return;
    switch (b->state) {
      case BlockState::Seed: {
        // On a pcp list when the recording started: the snapshot saw it as in use.
        quality.add(DataQuality::drain_of_start_pcp_page);
        const auto fr = model.free(Pfn{e.pfn}, e.order, cpu);
        if (fr.to_pcp) model.pcp_drain(Pfn{e.pfn}, e.order);
        if (!fr.ok()) clear_range(e.pfn, e.order, cpu);
        break;
      }
      case BlockState::Free: quality.add(DataQuality::drain_not_on_pcp); break;
      case BlockState::Pcp:  // on a pcp list with another order: the kernel's view wins
        quality.add(DataQuality::drain_not_on_pcp);
        clear_range(e.pfn, e.order, cpu);
        break;
      case BlockState::Allocated:
        quality.add(DataQuality::drain_of_allocated_page);
        clear_range(e.pfn, e.order, cpu);
        break;
    }
  }

  // The kernel retyped a pageblock with its free pages (fexit move_freepages_block: the
  // highatomic reserve's reservations and give-backs), so the model need not guess them.
  [[gnu::noinline]] void on_pageblock_move(const PageEvent& e) {
    const auto to = recorded_type(e.migratetype);
    if (!to) {
      quality.add(DataQuality::invalid_events);
      return;
    }
    const allocator::PageblockResult r = model.change_pageblock_type(Pfn{e.pfn}, *to);
    if (r.status == allocator::PageblockStatus::Changed) {
      ++counters.pageblock_changes;
      if (*to == MigrateType::HighAtomic) {
        ++counters.highatomic_reservations;
        reserve_in_model_ = true;
      }
    } else if (!r.ok()) {
      quality.add(r.status == allocator::PageblockStatus::OutsideZone ? DataQuality::outside_zones
                                                                      : DataQuality::pageblock_change_refused);
    }
  }

  [[gnu::noinline]] void on_extfrag(const PageEvent& e) {
    ++counters.extfrag_events;
    const auto alloc_mt = recorded_type(e.migratetype);
    if (!alloc_mt || !allocator::is_mergeable(*alloc_mt)) return;
    // A fallback below pageblock order went through try_to_claim_block, which boosts the
    // watermark first (a steal after a failed claim too). Only where the kswapd passes that
    // take it back are recorded: otherwise the boost goes with the next kswapd wake-up.
    if (passes_recorded_ && e.fallback_order < pageblock_order_) {
      if (const auto zone = model.zone_of(Pfn{e.pfn})) model.boost_watermark(*zone);
    }
    if (e.change_ownership) {
      const allocator::PageblockResult r = model.change_pageblock_type(Pfn{e.pfn}, *alloc_mt);
      if (r.status == allocator::PageblockStatus::Changed) {
        ++counters.pageblock_changes;
      } else if (!r.ok()) {
        quality.add(r.status == allocator::PageblockStatus::OutsideZone ? DataQuality::outside_zones
                                                                        : DataQuality::pageblock_change_refused);
      }
    }
    // A steal, or a claim of a whole free block of pageblock order or more, emits no
    // zone_locked event: the block went to a pcp list (a refill) or to the caller, whose
    // allocation event follows and carves it from the pcp list all the same.
    if (manual_pcp_ && (!e.change_ownership || e.fallback_order >= pageblock_order_) && pcp_order(e.order)) {
      const unsigned cpu = cpu_of(e);
      const auto b = model.block_containing(Pfn{e.pfn});
      if (b && b->state == BlockState::Free) refill(e.pfn, e.order, cpu, *alloc_mt, false);
    }
  }

  // Compaction's free scanner took free blocks off the buddy lists (no kmem event), the way
  // mm/compaction.c does it: a block scan (isolate_freepages_block) visits every pfn of its
  // range (sync compaction, CMA) or every 32nd (async: COMPACT_CLUSTER_MAX) and takes each
  // free block whose head it lands on; the event does not say which stride, so the one
  // whose blocks add up to the pages taken wins. A fast isolation (fast_isolate_freepages)
  // takes one movable block of the order from its free list's tail end; the kernel does not
  // report which, so the model makes the kernel's pick on its own lists, and a later event
  // of the real block resynchronises when they differ. The pages become the compactor's
  // allocation; migration targets and leftovers are freed with ordinary events.
  [[gnu::noinline]] void on_isolate(const PageEvent& e) {
    using traces::IsolateSource;
    if (e.isolate_source == IsolateSource::Block || e.isolate_source == IsolateSource::Putback) {
      exact_blocks_ = true;
      on_exact_block(e);
      return;
    }
    // A recorder that saw the very blocks (1.2) also sends the compaction tracepoints, after
    // their blocks: those are summaries, already applied.
    if (exact_blocks_) return;
    ++counters.isolations;
    const std::uint64_t end = e.pfn + e.range_pages;
    std::uint64_t taken = 0;
    if (e.isolate_source == IsolateSource::FastScan) {
      quality.add(DataQuality::isolate_guessed);
      if (const auto b = guess_fast_isolation(model, e.pfn, end, e.taken_pages, pageblock_order_)) {
        taken = isolate_block(b->head.value, b->order, b->migratetype);
        if (taken != 0) open_fast_guess(b->head.value, b->order);
      }
    } else {
      for (const auto& b : guess_block_scan(model, e.pfn, end, e.taken_pages)) {
        taken += isolate_block(b.head.value, b.order, b.migratetype);
      }
    }
    counters.isolated_pages += taken;
    if (taken != e.taken_pages) quality.add(DataQuality::isolate_mismatch);
  }

  // mm/page_alloc.c:__isolate_free_page took the block of `order` at pfn off its free list
  // (compaction, page reporting, un-isolation), or __putback_isolated_page gave it back
  // (merging, no free event). The kernel's view wins where the model differs.
  void on_exact_block(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    if (e.isolate_source == traces::IsolateSource::Block) {
      ++counters.isolations;
      const auto b = model.block_containing(Pfn{e.pfn});
      const MigrateType list_type = b && b->state == BlockState::Free ? b->migratetype : MigrateType::Movable;
      if (!b || b->state != BlockState::Free || b->order < e.order) {
        quality.add(DataQuality::isolate_mismatch);
        clear_range(e.pfn, e.order, cpu);
      }
      counters.isolated_pages += isolate_block(e.pfn, e.order, list_type);
      return;
    }
    const auto b = model.block_containing(Pfn{e.pfn});
    if (b && b->state == BlockState::Allocated && b->head.value == e.pfn && b->order == e.order) {
      const auto r = model.free(Pfn{e.pfn}, e.order, cpu);
      if (r.to_pcp) model.pcp_drain(Pfn{e.pfn}, e.order);
      if (r.ok()) return;
    }
    quality.add(DataQuality::isolate_mismatch);
    clear_range(e.pfn, e.order, cpu);
  }

  // A fast isolation's guessed block stays open until an event shows whether the kernel took
  // it: a free of its own pages confirms it; a free of a page the model has free, inside a
  // free block of at least its order, shows the kernel took that block instead (migration
  // frees the targets it used, release_free_list the rest: mm/compaction.c). The model then
  // gives the guess back (unless the kernel already used its pages, which released it) and
  // takes the freed page's block, so both blocks are right again.
  struct FastGuess {
    std::uint64_t head;
    unsigned order;
    std::uint16_t zone;
    bool released;  // the kernel allocated from it: the guess was wrong and is already undone
  };

  void open_fast_guess(std::uint64_t head, unsigned order) {
    const auto b = model.block_containing(Pfn{head});
    if (!b) return;
    fast_guesses_.push_back(FastGuess{head, order, b->zone, false});
    if (fast_guesses_.size() > kOpenFastGuesses) fast_guesses_.pop_front();
  }

  // The guess whose block holds pfn, if any.
  std::deque<FastGuess>::iterator fast_guess_at(std::uint64_t pfn) {
    return std::find_if(fast_guesses_.begin(), fast_guesses_.end(), [&](const FastGuess& g) {
      return pfn >= g.head && pfn < g.head + (std::uint64_t{1} << g.order);
    });
  }

  void close_fast_guess(std::uint64_t pfn) {
    if (fast_guesses_.empty()) return;
    if (const auto it = fast_guess_at(pfn); it != fast_guesses_.end() && !it->released) fast_guesses_.erase(it);
  }

  void release_fast_guess(std::uint64_t pfn) {
    if (fast_guesses_.empty()) return;
    if (const auto it = fast_guess_at(pfn); it != fast_guesses_.end()) it->released = true;
  }

  bool correct_fast_guess(std::uint64_t pfn, unsigned order, unsigned cpu) {
    if (fast_guesses_.empty()) return false;
    const auto free_block = model.block_containing(Pfn{pfn});
    if (!free_block || free_block->state != BlockState::Free) return false;
    for (auto it = fast_guesses_.rbegin(); it != fast_guesses_.rend(); ++it) {
      if (it->order < order || it->order > free_block->order || it->zone != free_block->zone) continue;
      if (!it->released) {
        const auto g = model.block_containing(Pfn{it->head});
        if (!g || g->state != BlockState::Allocated || g->owner != kCompactionOwner || g->head.value != it->head ||
            g->order != it->order) {
          continue;  // partly used by the compactor already: it was right
        }
        const auto r = model.free(g->head, g->order, cpu);
        if (r.to_pcp) model.pcp_drain(g->head, g->order);
      }
      const std::uint64_t real = pfn & ~((std::uint64_t{1} << it->order) - 1);
      const unsigned guess_order = it->order;
      fast_guesses_.erase(std::next(it).base());
      isolate_block(real, guess_order, free_block->migratetype);
      quality.add(DataQuality::isolate_guess_corrected);
      return true;
    }
    return false;
  }

  std::uint64_t isolate_block(std::uint64_t head, unsigned order, MigrateType list_type) {
    const MigrateType mt = allocator::is_mergeable(list_type) ? list_type : MigrateType::Movable;
    const auto r = model.carve(Pfn{head}, order, mt, kCompactionOwner);
    return r.ok() ? std::uint64_t{1} << order : 0;
  }

  static constexpr allocator::Owner kCompactionOwner = ~allocator::Owner{0} - 2;

  static constexpr std::size_t kOpenFastGuesses = 64;
  std::deque<FastGuess> fast_guesses_;
  bool manual_pcp_;
  bool exact_blocks_ = false;  // the trace has the very blocks isolated (format 1.2)
  unsigned pageblock_order_;
  unsigned pmd_order_;
  // The trace holds every pageblock move: highatomic reservations are the kernel's, not guessed.
  bool moves_recorded_;
  bool passes_recorded_;  // the kernel's kswapd passes: the boost follows its fallbacks and passes
  KswapdPasses passes_;
  bool reserve_in_model_ = false;  // some pageblock is (or was) HighAtomic: takes may show it given back
  std::vector<std::uint64_t> direct_take_;  // per CPU: the last block a zone_locked event gave straight to its caller
};

}  // namespace

std::unique_ptr<Engine> make_mirror_engine(const traces::TraceHeader& header, ModelSetup setup,
                                           const ReplayOptions& options) {
  return std::make_unique<MirrorEngine>(header, std::move(setup), options);
}

}  // namespace labyrinth::replay::detail
