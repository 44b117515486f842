// Mirror replay (docs/kernel-rules.md §10, §12.2, §12.4): the model applies the kernel's own
// choices. Every inconsistency between the trace and the model is counted and resolved in
// the kernel's favour, since the kernel saw the real state.
#include <bit>
#include <vector>

#include "compaction_guess.hpp"
#include "engine.hpp"

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
        pmd_order_(setup.config.rules.pcp_pmd_order.value_or(0xff)) {}

  void apply(std::span<const PageEvent> events) override {
    // Each event touches the metadata of a random page frame (the Normal zone's array is far
    // larger than the cache): start loading it a few events ahead.
    const std::size_t n = events.size();
    for (std::size_t k = 0; k < std::min(n, kAhead); ++k) model.prefetch(Pfn{events[k].pfn}, events[k].order);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) model.prefetch(Pfn{events[i + kAhead].pfn}, events[i + kAhead].order);
      const PageEvent& e = events[i];
      begin_event(e);
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
        case EventKind::Isolate: on_isolate(e); break;
      }
    }
  }

 private:
  static constexpr std::size_t kAhead = 12;

  [[nodiscard]] bool pcp_order(unsigned order) const { return order <= 3 || order == pmd_order_; }

  // Makes [pfn, pfn + 2^order) free in the buddy lists: frees the allocations and drains the
  // pcp blocks that overlap it. The kernel has just shown the range free (or taking it).
  void clear_range(std::uint64_t pfn, unsigned order, unsigned cpu) {
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
          const auto r = model.free(b->head, b->order, cpu);
          if (r.to_pcp) model.pcp_drain(b->head, b->order);
          if (!r.ok()) p = b->head.value + (std::uint64_t{1} << b->order);  // cannot happen; no loop
          break;
        }
      }
    }
  }

  void on_alloc(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    const MigrateType mt = request_type(e);
    const allocator::Owner owner = (std::uint64_t{1} << 40) | e.pid;
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
    ++counters.allocations;
    counters.allocated_pages += std::uint64_t{1} << e.order;
    if (is_atomic_request(e.gfp)) {
      ++counters.atomic_allocations;
      timeline.count_atomic(r.zone, false);
    }
  }

  void on_failure(const PageEvent& e) {
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
    record_failure(e, cpu, cause, true);
    last[cpu] = LastOnCpu{EventKind::Alloc, e.order, false};
  }

  void on_free(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    ++counters.frees;
    counters.freed_pages += std::uint64_t{1} << e.order;
    bool double_free = false;
    allocator::FreeResult r = model.free(Pfn{e.pfn}, e.order, cpu);
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
    last[cpu] = LastOnCpu{EventKind::Free, e.order, double_free};
  }

  // Frees every allocation inside [pfn, pfn + 2^order).
  void release_range(std::uint64_t pfn, unsigned order, unsigned cpu) {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    for (std::uint64_t p = pfn; p < end;) {
      const auto b = model.block_containing(Pfn{p});
      if (!b) {
        ++p;
        continue;
      }
      const std::uint64_t next = std::max(p + 1, b->head.value + (std::uint64_t{1} << b->order));
      if (b->state == BlockState::Allocated || b->state == BlockState::Seed) model.free(b->head, b->order, cpu);
      p = next;
    }
  }

  void on_refill(const PageEvent& e) {
    if (!manual_pcp_) {
      ++counters.kernel_internal_ignored;
      return;
    }
    const unsigned cpu = cpu_of(e);
    const auto mt = recorded_type(e.migratetype);
    if (!e.percpu_refill || !pcp_order(e.order) || !mt || !allocator::is_mergeable(*mt)) {
      // Straight to the caller (rmqueue_buddy): the allocation event that follows carves it.
      ++counters.pcp_direct_takes;
      return;
    }
    refill(e.pfn, e.order, cpu, *mt, true);
  }

  void refill(std::uint64_t pfn, unsigned order, unsigned cpu, MigrateType mt, bool resync) {
    allocator::PcpResult r = model.pcp_refill(Pfn{pfn}, order, cpu, mt);
    if (r.status == PcpStatus::NotInBuddy && resync) {
      quality.add(DataQuality::refill_not_free);
      clear_range(pfn, order, cpu);
      r = model.pcp_refill(Pfn{pfn}, order, cpu, mt);
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

  void on_drain(const PageEvent& e) {
    if (!manual_pcp_) {
      ++counters.kernel_internal_ignored;
      return;
    }
    ++counters.pcp_drains;
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

  void on_extfrag(const PageEvent& e) {
    ++counters.extfrag_events;
    const auto alloc_mt = recorded_type(e.migratetype);
    if (!alloc_mt || !allocator::is_mergeable(*alloc_mt)) return;
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
  void on_isolate(const PageEvent& e) {
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

  std::uint64_t isolate_block(std::uint64_t head, unsigned order, MigrateType list_type) {
    const MigrateType mt = allocator::is_mergeable(list_type) ? list_type : MigrateType::Movable;
    const auto r = model.carve(Pfn{head}, order, mt, kCompactionOwner);
    return r.ok() ? std::uint64_t{1} << order : 0;
  }

  static constexpr allocator::Owner kCompactionOwner = ~allocator::Owner{0} - 2;

  bool manual_pcp_;
  bool exact_blocks_ = false;  // the trace has the very blocks isolated (format 1.2)
  unsigned pageblock_order_;
  unsigned pmd_order_;
};

}  // namespace

std::unique_ptr<Engine> make_mirror_engine(const traces::TraceHeader& header, ModelSetup setup,
                                           const ReplayOptions& options) {
  return std::make_unique<MirrorEngine>(header, std::move(setup), options);
}

}  // namespace labyrinth::replay::detail
