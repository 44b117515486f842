// Simulate replay (what-if): the model decides each request with the kernel's policy under the
// settings given; recorded pfns are mapped to the model's pages so that frees land on them.
// Each request's outcome is compared with the recording's.
//
// Placement: the policy decides whether a request is served and from which zone; the block
// the free lists then hand out depends on their order, which no snapshot records (kpageflags
// shows which pages are free, not in which order they are listed). So a request the kernel
// served takes the kernel's block where it is free in the model's serving zone, and the lists
// pick only where it is not (WhatIf::model_placement: always). Picking otherwise let the
// model's layout drift: on pressure recordings its hugetlb balloon ran out of order-9 blocks
// dozens of requests before the kernel's did.
//
// Reclaim: the recording's frees already hold what the kernel's own reclaim freed under the
// recorded settings (kswapd's frees, and a direct reclaimer's before its mm_page_alloc), at the
// rate the kernel managed and from the memory it could reclaim (no anonymous memory without
// swap: mm/vmscan.c:can_reclaim_anon_pages). The model's own reclaim is what the what-if adds:
// a zone may hold at most `allowance` pages more free than the kernel by evicting, the amount
// by which the what-if raises its high watermark above the recorded one; 0 with the recorded
// settings. A balloon's pages add nothing: reclaiming them back from the recording's
// allocations (anonymous memory among them, which this swapless kind of machine cannot
// reclaim) made a balloon of nearly all free memory predict no failure at all.
// An evicted page whose free then comes in the recording gives its pages back to the
// allowance (the model only freed it earlier). A what-if that lowers the high watermark works
// the other way (see withhold): kswapd would have stopped reclaiming that much earlier
// (mm/vmscan.c:balance_pgdat stops once pgdat_balanced finds the zone above high), so the
// model leaves as many pages of kswapd's recorded frees in use, and reclaims them first when
// the what-if's own marks call for reclaim. Evictions take the model's reclaimable
// allocations (movable or reclaimable type, by a task that may reclaim), oldest first; a later
// free of an evicted page is dropped.
// - Direct reclaim: the allocator's slow path asks (allocator::Reclaimer) when a request that
//   may direct-reclaim misses the min watermark (docs/kernel-rules.md §4.4).
// - kswapd (mm/vmscan.c, docs/kernel-rules.md §6.6): woken by a request with
//   __GFP_KSWAPD_RECLAIM (GFP_ATOMIC has it) that left the fast path (wake_all_kswapds) or met a
//   boosted zone (rmqueue's ZONE_BOOSTED_WATERMARK), unless the zone is balanced and not boosted
//   (wakeup_kswapd). It runs asynchronously: from the next event on it reclaims at
//   WhatIf::kswapd_mib_per_s of trace time until the zone is balanced on NR_FREE_PAGES (above high +
//   boost; pages on per-CPU lists do not count, pgdat_balanced) or nothing is left that it may
//   reclaim (with the recorded settings, nothing: the boost lasts until its first step); then
//   the boost goes back to 0, as at the end of balance_pgdat. A what-if boost above the
//   recorded settings' cap is reclaim the recording lacks: it adds to the allowance. While it
//   runs, the zones it balances (those of its node up to its zone, set_reclaim_active) are
//   ZONE_RECLAIM_ACTIVE, which clamps the per-CPU lists (allocator nr_pcp_high), with
//   WhatIf::pcp_reclaim_clamp.
// - vmstat (mm/vmstat.c:vmstat_update -> refresh_cpu_vm_stats): every stat interval
//   (vm.stat_interval, 1 s) of trace time, decay_pcp_high on every CPU's lists, with
//   WhatIf::pcp_decay.
//
// Per-CPU lists (WhatIf::follow_pcp): where the trace holds the refills and drains
// (mm_page_alloc_zone_locked, mm_page_pcpu_drain), the model's lists may follow them
// (allocator PcpMode::Manual), as its frees follow the recording's. Under pressure the
// kernel's lists stay near empty (drain_all_pages after each direct reclaim, free_high,
// ZONE_RECLAIM_ACTIVE); lists run by the rules alone parted from them by 1,000 to 2,900 pages
// on average on atomic squeezes, and the buddy count by as much; following, by 30 to 730. A
// free the model answered with another block than the kernel's goes to the list in the
// kernel's block's place, and the kernel's drain of that block drains it. A refill moves at
// once; the allocation it was for is checked against the count before its CPU's refills (see
// RefillSpan). A steal or a whole-pageblock claim, which the kernel reports only as an extfrag
// event, moves its block to the list too. Where a request cannot have the kernel's page, a list
// gives its last block (allocator: Model::allocate with a preference): its first is the kernel's
// next, and taking it would displace one request after another. Off by default: on the
// recordings of format 1.7 the following model still predicts almost none of the kernel's
// atomic failures (README, "Against the recording").
#include <bit>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compaction_guess.hpp"
#include "engine.hpp"
#include "labyrinth/allocator/watermarks.hpp"
#include "pfn_map.hpp"

namespace labyrinth::replay::detail {

using allocator::BlockState;
using allocator::FreeStatus;
using allocator::Pfn;
using traces::EventKind;
using traces::PageEvent;

namespace {

// kswapd advances at most this often (trace time): it is a thread, not part of each event.
constexpr std::uint64_t kKswapdTickNs = 50'000;

class SimulateEngine final : public Engine, public allocator::Reclaimer {
 public:
  SimulateEngine(const traces::TraceHeader& h, ModelSetup s, const ReplayOptions& o)
      : Engine(h, std::move(s), o), model_counters_(model.counters()) {
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
    for (const auto& z : setup.config.zones) {
      lo = std::min(lo, z.start_pfn.value);
      hi = std::max(hi, z.start_pfn.value + z.spanned_pages);
    }
    map_.reset(lo, hi);
    seed_base_ = lo;
    left_seed_bits_ = hi > lo && hi - lo < PfnMap::kDenseMax ? hi - lo : 0;
    left_seed_ = allocator::ZeroedArray<std::uint64_t>((left_seed_bits_ + 63) / 64);
    max_order_ = setup.config.max_order;
    pageblock_order_ = setup.config.pageblock_order;
    pool_.resize(setup.config.zones.size());
    lru_.resize(setup.config.zones.size());
    lru_mark_.assign(setup.config.zones.size(), 1u << 16);
    lru_pages_.assign(setup.config.zones.size(), 0);
    kswapd_.resize(setup.config.zones.size());
    refill_spans_.resize(std::max(1u, setup.config.nr_cpus));
    direct_reclaim_bit_ = setup.config.gfp.direct_reclaim;
    if (setup.config.gfp.thisnode != 0) hugetlb_pool_mask_ = setup.config.gfp.thisnode | setup.config.gfp.retry_mayfail;
    kswapd_bit_ = setup.config.gfp.kswapd_reclaim;
    // WhatIf::kswapd_mib_per_s (1 GiB/s by default, the order of a kswapd scanning clean page
    // cache): it decides how long an atomic burst lives off the reserve before kswapd catches up.
    kswapd_pages_per_ms_ = static_cast<double>(o.what_if.kswapd_mib_per_s) * 1024.0 * 1024.0 /
                           static_cast<double>(setup.config.page_size) / 1000.0;
    model.set_reclaimer(this);
    // The boost stays until kswapd's balance finishes (see kswapd_step), not the wake-up.
    allocator::Tunables t = model.tunables();
    t.boost_reset = allocator::BoostReset::Manual;
    model.set_tunables(t);
    decay_pcp_ = o.what_if.pcp_decay && t.pcp == allocator::PcpMode::Auto;
    prefer_recorded_ = !o.what_if.model_placement;
    reclaim_active_clamp_ = o.what_if.pcp_reclaim_clamp;
    follow_pcp_ = t.pcp == allocator::PcpMode::Manual;
    recorded_boost_factor_ = sysctl_u64(h, "watermark_boost_factor").value_or(15000);
    const std::vector<std::uint64_t> recorded_high = recorded_highs(h);
    allowance_.assign(recorded_high.size(), 0);
    shortfall_.assign(recorded_high.size(), 0);
    recorded_boost_cap_.assign(recorded_high.size(), 0);
    for (std::uint16_t z = 0; z < recorded_high.size(); ++z) set_recorded_high(z, recorded_high[z]);
    withheld_pages_.assign(shortfall_.size(), 0);
    withheld_queue_.resize(shortfall_.size());
    outstanding_.assign(allowance_.size(), 0);
    if (const auto it = h.vm_sysctls.find("stat_interval"); it != h.vm_sysctls.end()) {
      const std::uint64_t secs = std::strtoull(it->second.c_str(), nullptr, 10);
      if (secs != 0) stat_interval_ns_ = secs * 1'000'000'000ull;
    }
  }

  // Direct reclaim (the allocator's slow path asks): the zone's oldest reclaimable allocations.
  // Pages kswapd's recorded frees left in use under a lowered watermark come first.
  std::uint64_t reclaim(std::uint16_t zone, std::uint64_t pages, unsigned cpu) override {
    const std::uint64_t withheld = withheld_pages_[zone] != 0 ? release_withheld(zone, pages, cpu) : 0;
    return withheld + (withheld < pages ? evict(zone, pages - withheld, cpu) : 0);
  }
  [[nodiscard]] std::uint64_t reclaimable_pages(std::uint16_t zone) const override {
    return evictable_pages(zone) + withheld_pages_[zone];
  }
  // What the model may evict beyond the recording's own reclaim (the what-if's allowance).
  [[nodiscard]] std::uint64_t evictable_pages(std::uint16_t zone) const {
    return std::min(lru_pages_[zone], allowance_left(zone));
  }
  // The recording's reclaim (a direct reclaimer's frees come before its mm_page_alloc) is taken
  // to have progressed while the zone holds reclaimable allocations, or the kernel holds ones
  // the model failed to serve (its LRU has them: page cache the kernel read while the model
  // could not): which frees were the reclaim's the trace does not say, and they are applied
  // already.
  // Where the trace holds the direct reclaims and the request's task reclaimed before its
  // event, the kernel's own verdict (its reclaims freed pages or not) is taken instead.
  [[nodiscard]] bool progressed(std::uint16_t zone) const override {
    if (serving_ != nullptr) {
      if (const auto kernel = kernel_reclaim_progress(*serving_)) return *kernel;
    }
    return lru_pages_[zone] != 0 || withheld_pages_[zone] != 0 || map_.failed_reclaimable_pages() != 0;
  }
  [[nodiscard]] unsigned kernel_reclaim_rounds() const override {
    if (serving_ == nullptr || serving_->failed()) return 0;
    const std::vector<TaskReclaims::Reclaim> reclaims = kernel_reclaims(*serving_);
    return freed_any(reclaims) ? static_cast<unsigned>(reclaims.size()) : 0;
  }
  // The request being served, while it is (for progressed, asked only when it reclaims).
  const PageEvent* serving_ = nullptr;
  // Whether the kernel's direct reclaims for this request freed anything; nullopt when the
  // trace cannot say (no reclaim events, or its task did not reclaim since its last allocation).
  [[nodiscard]] std::optional<bool> kernel_reclaim_progress(const PageEvent& e) const {
    const std::vector<TaskReclaims::Reclaim> reclaims = kernel_reclaims(e);
    if (reclaims.empty()) return std::nullopt;
    return freed_any(reclaims);
  }
  // The direct reclaims the request's task ran since its previous allocation (none where the
  // trace cannot say: no reclaim events, not in task context, no earlier allocation).
  [[nodiscard]] std::vector<TaskReclaims::Reclaim> kernel_reclaims(const PageEvent& e) const {
    if (!reclaim_recorded_ || e.ctx != traces::ExecContext::Task) return {};
    const auto since = task_allocs_.last(e.pid);
    return since ? task_reclaims_.between(e.pid, since->ts_ns, e.ts_ns) : std::vector<TaskReclaims::Reclaim>{};
  }
  [[nodiscard]] static bool freed_any(const std::vector<TaskReclaims::Reclaim>& reclaims) {
    return std::any_of(reclaims.begin(), reclaims.end(),
                       [](const TaskReclaims::Reclaim& r) { return r.end_ns != 0 && r.reclaimed_pages != 0; });
  }

  // Direct compaction moved a page: the recording's later free of it must reach its new frame.
  // The owner is the recorded pfn the model's allocation answers; a page allocated before the
  // recording is owned by its first frame, where the trace will free it (no entry yet).
  void migrated(allocator::Owner owner, Pfn from, Pfn to) override {
    ++counters.compaction_migrated_pages;
    if (!withheld_.empty() && rewithhold(from.value, to.value)) return;
    if (owner == kCompactionPoolOwner) {
      for (auto& pool : pool_) {
        for (PoolBlock& b : pool) {
          if (b.head == from.value) b.head = to.value;
        }
      }
      return;
    }
    const auto m = map_.get(owner);
    if (!m) {
      map_.set(owner, to.value, 0);
      return;
    }
    if (!m->model_failed && m->model_pfn == from.value) map_.set(owner, to.value, m->order);
  }

  // A zone that grew. At the recorded settings the kernel's own marks and reserves stand, as at
  // the start (its marks can lag its sizes: it recomputes them as memory joins, not per page);
  // the boost stays the model's. A what-if's high mark is set against the kernel's at the
  // keyframe, for the new sizes (the start's distance no longer holds).
  bool follow_zone_sizes(const traces::Snapshot& keyframe) override {
    if (!Engine::follow_zone_sizes(keyframe)) return false;
    if (!options.what_if.changes_watermarks()) follow_zone_levels(model, setup, header, keyframe, false);
    for (std::uint16_t z = 0; z < allowance_.size(); ++z) {
      const traces::ZoneSnapshot* k = snapshot_zone(keyframe, setup, header, z);
      if (k != nullptr && k->high_pages != 0) set_recorded_high(z, k->high_pages);
    }
    return true;
  }

  // The recorded pfn an allocation answers is where it belongs (its owner is that pfn).
  [[nodiscard]] std::optional<Pfn> home(allocator::Owner owner) const override {
    if (owner == kCompactionPoolOwner) return std::nullopt;
    return Pfn{owner};
  }

  void close() override {
    counters.kswapd_reclaimed_pages = reclaimed_pages_;
    counters.reclaim_allowance_pages = 0;
    for (const std::uint64_t a : allowance_) counters.reclaim_allowance_pages += a;
    counters.kswapd_runs = reclaim_runs_;
    counters.compactions = model.counters().compactions;
    counters.compaction_successes = model.counters().compaction_successes;
  }

  void apply(std::span<const PageEvent> events) override {
    // Map entries and the model's page metadata are random accesses: fetch them early, in two
    // stages, since a free's model page is known only from its map entry: the map entry
    // kAhead * 2 events ahead, then, kAhead events ahead, the model page it names (a hint:
    // the entry may change before the event, which costs only a wasted prefetch).
    constexpr std::size_t kAhead = 8;
    begin_span(events);
    unboosted_ = 0;  // see boosted()
    const std::size_t n = events.size();
    for (std::size_t k = 0; k < std::min(n, 2 * kAhead); ++k) map_.prefetch(events[k].pfn);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + 2 * kAhead < n) map_.prefetch(events[i + 2 * kAhead].pfn);
      if (i + kAhead < n && events[i + kAhead].kind == EventKind::Free) {
        const PageEvent& f = events[i + kAhead];
        if (const auto m = map_.get(f.pfn); m && !m->model_failed) prefetch(m->model_pfn, m->order);
      } else if (i + kAhead < n && events[i + kAhead].kind == EventKind::Alloc && !events[i + kAhead].failed() &&
                 (prefer_recorded_ || !left_seed(events[i + kAhead].pfn))) {
        prefetch(events[i + kAhead].pfn, 0);  // the block it prefers, or the seed page it may release
      }
      const PageEvent& e = events[i];
      begin_event(e);
      if (decay_pcp_ && e.ts_ns >= next_vmstat_ns_) vmstat_update(e.ts_ns);
      if (kswapd_awake_ != 0) kswapd_step(e.ts_ns, cpu_of(e));
      // The two commonest kinds by two tests, cheaper than the switch's jump table.
      if (e.kind == EventKind::Alloc) {
        if (follow_pcp_) {
          const auto span_zone = bias_check_to_refill_span(e);
          on_alloc(e);
          if (span_zone) clear_check_bias(*span_zone);
        } else {
          on_alloc(e);
        }
        continue;
      }
      // A span without its allocation (alloc_pages_bulk's, which no event reports) ends here.
      if (follow_pcp_ && e.kind != EventKind::PcpRefill) span_of(e).open = false;
      if (e.kind == EventKind::Free) {
        on_free(e);
        continue;
      }
      switch (e.kind) {
        case EventKind::Alloc:
        case EventKind::Free: break;  // taken above
        case EventKind::FreeBatched: quality.add(DataQuality::batched_free_duplicates); break;
        case EventKind::Isolate: on_isolate(e); break;
        case EventKind::PcpDrain:
          if (follow_pcp_ && follow_drain(e)) break;
          release_seed(e.pfn, e.order, cpu_of(e), true);
          ++counters.kernel_internal_ignored;
          break;
        case EventKind::PcpRefill:
          if (!follow_pcp_ || !follow_refill(e)) ++counters.kernel_internal_ignored;
          break;
        case EventKind::Extfrag:
          if (!follow_pcp_ || !follow_extfrag(e)) ++counters.kernel_internal_ignored;
          break;
        case EventKind::PageblockMove: ++counters.kernel_internal_ignored; break;
        case EventKind::ZoneCounters: break;  // never among a reader's events
        case EventKind::ReclaimBegin: task_reclaims_.begin(e.pid, e.ts_ns); break;
        case EventKind::ReclaimEnd: task_reclaims_.end(e.pid, e.ts_ns, e.reclaimed_pages); break;
        case EventKind::KswapdWake:
        case EventKind::KswapdSleep: ++counters.kernel_internal_ignored; break;
      }
    }
  }

 private:
  // rmqueue_bulk refills a CPU's list after the allocation's watermark check passed and before
  // its event; other CPUs' events may come between. The refills move at once, as the kernel's
  // did, and the allocation is checked against the zone's count before them (its refilling
  // span's): as the kernel checked it.
  struct RefillSpan {
    bool open = false;
    std::uint16_t zone = 0;
    std::uint64_t free_before = 0;  // the zone's exact free pages before the span's first refill
    std::uint32_t pid = 0;
    traces::ExecContext ctx = traces::ExecContext::Task;
  };
  // The span of e's CPU (without cpu_of's count of an invalid CPU: the event's handler counts it).
  RefillSpan& span_of(const PageEvent& e) { return refill_spans_[e.cpu < refill_spans_.size() ? e.cpu : 0]; }
  // e's refill just moved its block off the buddy lists: it opens its CPU's span, or is part of it.
  void note_refill(const PageEvent& e) {
    RefillSpan& span = span_of(e);
    if (span.open && span.pid == e.pid && span.ctx == e.ctx) return;
    const auto zone = model.zone_of(Pfn{e.pfn});
    if (!zone) return;
    span = RefillSpan{true, *zone, model.nr_free_pages(*zone) + e.pages(), e.pid, e.ctx};
  }
  // The allocation closing cpu's refilling span is checked against the count before it; the
  // returned zone's bias goes back to 0 afterwards (clear_check_bias).
  std::optional<std::uint16_t> bias_check_to_refill_span(const PageEvent& e) {
    RefillSpan& span = span_of(e);
    if (!span.open) return std::nullopt;
    span.open = false;
    if (span.pid != e.pid || span.ctx != e.ctx) return std::nullopt;
    const std::int64_t change_since =
        static_cast<std::int64_t>(model.nr_free_pages(span.zone)) - static_cast<std::int64_t>(span.free_before);
    model.set_checked_free_bias(span.zone, -change_since);
    return span.zone;
  }
  void clear_check_bias(std::uint16_t zone) { model.set_checked_free_bias(zone, 0); }
  // The kernel moved a block from its buddy lists to a CPU's list (rmqueue_bulk): the model
  // does where it has the block free (a block the start snapshot showed in use was on a list
  // then, and goes to this one). A block taken straight to its caller is the allocation's.
  bool follow_refill(const PageEvent& e) {
    if (!e.percpu_refill) return false;
    const auto mt = recorded_type(e.migratetype);
    if (!mt || !allocator::is_mergeable(*mt)) return false;
    if (!model.pcp_refill(Pfn{e.pfn}, e.order, cpu_of(e), *mt).ok()) return false;
    note_refill(e);
    ++counters.pcp_refills;
    mark_left_seed(e.pfn);
    return true;
  }
  // A fallback (mm_page_alloc_extfrag) that took a whole block of pageblock order or more, or
  // stole one, emits no zone_locked event: where the block is free in the model and the order
  // has a per-CPU list, it went to the CPU's list (a refill; the caller's allocation takes it from
  // there as from any). The claim's retyping stays the model's own: following the kernel's too
  // grew the model's highatomic reserve on one balloon recording to 21,000 free pages (the
  // reserve's own changes are not all traced).
  bool follow_extfrag(const PageEvent& e) {
    const auto mt = recorded_type(e.migratetype);
    if (!mt || !allocator::is_mergeable(*mt)) return false;
    if (e.change_ownership && e.fallback_order < pageblock_order_) return true;
    const auto b = model.block_containing(Pfn{e.pfn});
    if (!b || b->state != BlockState::Free) return true;
    // pcp_refill refuses an order without a per-CPU list.
    if (model.pcp_refill(Pfn{e.pfn}, e.order, cpu_of(e), *mt).ok()) {
      note_refill(e);
      ++counters.pcp_refills;
    }
    return true;
  }
  // The kernel drained a block from a CPU's list to its buddy lists (free_pcppages_bulk): the
  // model drains its block, or the one it freed in the kernel's block's place.
  bool follow_drain(const PageEvent& e) {
    std::uint64_t pfn = e.pfn;
    if (!pcp_stand_in_.empty()) {
      if (const auto it = pcp_stand_in_.find(e.pfn); it != pcp_stand_in_.end()) {
        pfn = it->second;
        pcp_stand_in_.erase(it);
      }
    }
    if (!model.pcp_drain(Pfn{pfn}, e.order).ok()) return false;
    ++counters.pcp_drains;
    return true;
  }
  // A free the model answered with its own block `model_pfn` instead of the kernel's: when it
  // went to a per-CPU list, it stands in there for the kernel's block.
  void freed_in_place_of(std::uint64_t recorded_pfn, std::uint64_t model_pfn, const allocator::FreeResult& r) {
    if (follow_pcp_ && r.to_pcp && model_pfn != recorded_pfn) pcp_stand_in_[recorded_pfn] = model_pfn;
  }

  void on_alloc(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    const bool kernel_ok = e.pfn != traces::kFailedPfn;
    const bool memcg = !kernel_ok && is_memcg_failure(e, cpu);
    if (!kernel_ok) ++counters.kernel_failures;
    const std::uint64_t reclaims_before = model_counters_.direct_reclaims;
    if (memcg) quality.add(DataQuality::memcg_charge_failures);
    if (kernel_ok && e.order <= max_order_) release_seed(e.pfn, e.order, cpu, false);
    if (!pcp_stand_in_.empty() && kernel_ok) pcp_stand_in_.erase(e.pfn);  // the kernel's block left its list
    if (!fallback_blocks_.empty() && kernel_ok) drop_lost_fallback(e.pfn, cpu);
    if (kernel_ok && e.order > 0 && e.order <= max_order_) drop_stale_inside(e.pfn, e.order, cpu);
    last[cpu] = LastOnCpu{EventKind::Alloc, e.order, false};
    if (e.order > max_order_) {
      quality.add(DataQuality::invalid_events);
      return;
    }
    const allocator::TaskContext task = task_context(e);
    // A request the kernel failed: whether the model's check, were it to serve it, is within
    // the counter drift (read before the allocation changes the state).
    bool near_if_served = false;
    kernel_lag_only_ = false;
    std::optional<KernelCheck> theirs;  // the kernel's counters at its failure, tallied with the model's verdict
    std::optional<ZoneState> before;    // the model's state for the kernel's failure, before serving it
    if (!kernel_ok && !memcg) {
      before = inspect_request(model, e.gfp, e.order, cpu, task);
      near_if_served = served_within_drift(*before);
      kernel_lag_only_ = kernel_lag_alone(e, cpu);
      theirs = kernel_check(*before, e);
    }
    serving_ = &e;
    allocator::AllocResult r =
        kernel_ok && prefer_recorded_
            ? model.allocate(e.gfp, e.order, cpu, e.pfn, Pfn{e.pfn}, task)
            : model.allocate(e.gfp, e.order, cpu, kernel_ok ? e.pfn : ~std::uint64_t{0}, task);
    if (!r.ok() && r.failure == allocator::AllocFailure::Fragmentation && kernel_ok && prefer_recorded_ &&
        model.compact_block(Pfn{e.pfn}, e.order)) {
      // The kernel's compaction freed its block: the model's pages there moved as it moves them.
      r = model.allocate(e.gfp, e.order, cpu, e.pfn, Pfn{e.pfn}, task);
      if (r.ok()) ++counters.kernel_block_compactions;
    }
    serving_ = nullptr;
    if (theirs) note_state_at_kernel_failure(*theirs, r.ok());
    // The next request of this task reclaims in a span that starts here.
    if (reclaim_recorded_ && e.ctx == traces::ExecContext::Task) task_allocs_.note(cpu, e.pid, e.ts_ns, e.task_state);
    if (model_counters_.direct_reclaims != reclaims_before) ++counters.reclaim_stalls;
    if (r.ok() && !kernel_ok && !memcg) {
      note_agreement(e, true, false, near_if_served);
      record_missed(e, cpu, *before, theirs, kernel_lag_only_);
    }
    if ((e.gfp & kswapd_bit_) != 0) wake_kswapd(e.ts_ns, r);
    if (r.ok()) {
      if (r.path == allocator::AllocPath::OomKill) ++counters.oom_kills;
      ++counters.allocations;
      counters.allocated_pages += std::uint64_t{1} << e.order;
      if (is_atomic_request(e.gfp)) {
        ++counters.atomic_allocations;
        timeline.count_atomic(r.zone, false);
      }
      if (kernel_ok) {
        ++counters.both_succeeded;
        returned_to_allowance(e.pfn);  // an evicted page whose free the recording lost
        if (!map_.set_fresh(e.pfn, r.pfn.value, e.order)) remap(e, r.pfn.value, cpu);
        if (goes_to_lru(r.migratetype, e.gfp)) remember(r.zone, e.pfn, e.order);
      } else {
        // The kernel had no page; the caller's use of one is unknown, so it goes back at once.
        if (!memcg) ++counters.model_served_kernel_failed;
        model.free(r.pfn, e.order, cpu);
        kernel_counters.take(e.ts_ns, e.cpu);  // no failure record will ask for them
      }
      return;
    }
    on_model_failure(e, cpu, r, kernel_ok, memcg);
  }

  // What reclaim may take back: movable or reclaimable memory of a task that may reclaim (page
  // cache, anonymous memory), not hugetlb pool pages.
  [[nodiscard]] bool goes_to_lru(allocator::MigrateType mt, std::uint64_t gfp) const {
    return (mt == allocator::MigrateType::Movable || mt == allocator::MigrateType::Reclaimable) &&
           (gfp & direct_reclaim_bit_) != 0 && !is_hugetlb_pool_page(gfp);
  }
  // The rarer paths of on_alloc, out of line: inline they cost its common path registers.
  [[gnu::noinline]] void note_agreement(const PageEvent& e, bool kernel_failed, bool model_failed, bool model_near) {
    agreement.add(e.ts_ns >= first_ts ? e.ts_ns - first_ts : 0, classify(e.gfp, e.order, setup.bits), kernel_failed,
                  model_failed, is_atomic_request(e.gfp) && e.order <= traces::kCostlyOrder, model_near,
                  kernel_failed && kernel_lag_only_);
  }
  [[gnu::noinline]] void note_state_at_kernel_failure(const KernelCheck& k, bool model_served) {
    model_state_at_kernel_failures.add(k, kernel_lag_only_, model_served);
  }
  // The recorded pfn has a live entry (or lies beyond the flat arrays).
  [[gnu::noinline]] void remap(const PageEvent& e, std::uint64_t model_pfn, unsigned cpu) {
    if (const auto old = map_.get(e.pfn); old && !old->model_failed) {
      // The recording lost the free of the previous allocation at this pfn.
      quality.add(DataQuality::double_alloc);
      model.free(Pfn{old->model_pfn}, old->order, cpu);
    }
    map_.set(e.pfn, model_pfn, e.order);
  }
  [[gnu::noinline]] void on_model_failure(const PageEvent& e, unsigned cpu, const allocator::AllocResult& r,
                                          bool kernel_ok, bool memcg) {
    const FailureCause cause = memcg ? FailureCause::MemcgCharge : cause_of(r.failure);
    if (r.failure == allocator::AllocFailure::Fragmentation) ++counters.compaction_needed;
    const FailureRecord failure = record_failure(e, cpu, cause, !kernel_ok, kernel_lag_only_);
    note_agreement(e, !kernel_ok && !memcg, true, kernel_ok && failed_within_drift(failure.state, e.order));
    if (kernel_ok) {
      ++counters.model_failed_kernel_succeeded;
      if (falls_back(e)) {
        serve_fallback(e, cpu);
        return;
      }
      map_.set_failed(e.pfn, e.order, goes_to_lru(request_type(e), e.gfp));
    } else {
      ++counters.both_failed;
    }
  }

  // A high-order request its caller may see refused (__GFP_NORETRY, added to the caller's own
  // flags) has a fallback at order 0 in that caller: mm/page_frag_cache.c:__page_frag_cache_refill
  // and net/core/sock.c:skb_page_frag_refill retry with the caller's gfp, mm/slub.c:allocate_slab
  // with its minimum order, mm/filemap.c:__filemap_get_folio with smaller folios, a THP fault
  // with base pages. A hugetlb pool page has none.
  [[nodiscard]] bool falls_back(const PageEvent& e) const {
    return e.order > 0 && (e.gfp & setup.config.gfp.noretry) != 0 && !is_hugetlb_pool_page(e.gfp);
  }
  // The model refused such a request that the kernel served, so the recording holds no
  // fallback: the caller still fills the memory, and asks for it page by page with its own
  // flags (those callers add __GFP_NORETRY, __GFP_COMP and __GFP_NOMEMALLOC, and take
  // __GFP_DIRECT_RECLAIM away from a caller that may do IO or FS work). The pages stand at the
  // recorded block's pfns until the kernel frees it; the first refused page ends the fallback
  // (the caller drops its data), a failure of a request the kernel never had to make.
  // Without this the model kept every page of those blocks free: on one atomic squeeze 53,000
  // pages by the end, 28,000 above the kernel's count (median) at its failures.
  [[gnu::noinline]] void serve_fallback(const PageEvent& e, unsigned cpu) {
    const allocator::GfpLayout& g = setup.config.gfp;
    PageEvent fallback = e;
    fallback.order = 0;
    fallback.pfn = traces::kFailedPfn;
    fallback.gfp = e.gfp & ~(g.noretry | g.comp | g.nomemalloc);
    if ((fallback.gfp & (g.io | g.fs)) != 0) fallback.gfp |= g.direct_reclaim;
    ++counters.fallback_requests;
    fallback_blocks_[e.pfn] = static_cast<std::uint8_t>(e.order);
    const allocator::TaskContext task = task_context(e);
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << e.order); ++i) {
      const allocator::AllocResult r = model.allocate(fallback.gfp, 0, cpu, ~std::uint64_t{0}, task);
      if (!r.ok()) {
        ++counters.fallback_failures;
        const FailureRecord failure = record_failure(fallback, cpu, cause_of(r.failure), false);
        note_agreement(fallback, false, true, failed_within_drift(failure.state, 0));
        return;
      }
      ++counters.fallback_pages;
      map_.set(e.pfn + i, r.pfn.value, 0);
      if (goes_to_lru(r.migratetype, fallback.gfp)) remember(r.zone, e.pfn + i, 0);  // page cache, THP's base pages
    }
  }
  // The order of the fallback block headed at `head`, which leaves the table; none if no such.
  std::optional<unsigned> take_fallback_block(std::uint64_t head) {
    const auto it = fallback_blocks_.find(head);
    if (it == fallback_blocks_.end()) return std::nullopt;
    const unsigned order = it->second;
    fallback_blocks_.erase(it);
    return order;
  }
  // The kernel allocated at a fallback block's head again: the recording lost the block's free.
  [[gnu::noinline]] void drop_lost_fallback(std::uint64_t head, unsigned cpu) {
    const auto order = take_fallback_block(head);
    if (!order) return;
    quality.add(DataQuality::double_alloc);
    release_fallback(head, *order, cpu);
  }
  // The kernel freed a block whose pages the model holds as a fallback's: they go one by one.
  void release_fallback(std::uint64_t head, unsigned order, unsigned cpu) {
    for (std::uint64_t p = head; p < head + (std::uint64_t{1} << order); ++p) {
      if (const auto m = map_.get(p); m && m->order == 0) release_entry(p, *m, cpu);
    }
  }

  void on_free(const PageEvent& e) {
    const unsigned cpu = cpu_of(e);
    ++counters.frees;
    counters.freed_pages += std::uint64_t{1} << e.order;
    last[cpu] = LastOnCpu{EventKind::Free, e.order, false};
    if (withholds_ && withhold(e)) return;
    release(e, cpu);
  }

  // A recorded free by kswapd of reclaimable memory the model holds, under a what-if whose high
  // watermark lies below the recorded one (shortfall_): kswapd would have stopped that many
  // pages earlier (mm/vmscan.c:balance_pgdat stops once pgdat_balanced finds the zone above
  // high), so the page stays in use while the model's zone is above the what-if's high mark
  // (its kswapd would be done) and holds fewer withheld pages than the shortfall. Below it, the
  // recorded frees are the what-if's kswapd's too, at the pace the kernel's managed. The
  // kernel's pfn is free from now on; the model's block waits in the zone's withheld queue,
  // which the model's direct reclaim takes first (release_withheld).
  [[gnu::noinline]] bool withhold(const PageEvent& e) {
    if (e.ctx != traces::ExecContext::Task || e.order > max_order_ || !is_kswapd_thread(e.comm_id)) return false;
    const auto m = map_.get(e.pfn);
    const bool seed = !m;  // allocated before the recording: page cache the start found
    if (m && (m->model_failed || m->order != e.order || !map_.queued(e.pfn))) return false;
    if (seed && model.block_state(Pfn{e.pfn}) != BlockState::Seed) return false;
    const std::uint64_t model_pfn = seed ? e.pfn : m->model_pfn;
    const auto zone = model.zone_of(Pfn{model_pfn});
    const std::uint64_t n = std::uint64_t{1} << e.order;
    if (!zone || withheld_pages_[*zone] + n > shortfall_[*zone]) return false;
    if (const allocator::ZoneLevels z = model.levels(*zone); z.free_pages <= z.watermarks.high + z.boost) return false;
    if (seed) {
      mark_left_seed(e.pfn);  // the kernel's reuse of the pfn must not release it as a seed page
    } else {
      std::uint64_t unused = 0;
      bool queued = false;
      (void)map_.take_exact(e.pfn, e.order, unused, queued);
      forget_reclaimable_in(*zone, e.order);
    }
    withheld_[model_pfn] = Withheld{*zone, e.order, seed};
    withheld_queue_[*zone].push_back(model_pfn);
    withheld_pages_[*zone] += n;
    counters.withheld_reclaim_pages += n;
    return true;
  }
  // Whether the process is a kswapd thread (kswapd0, kswapd1, ...), by its recorded name.
  [[nodiscard]] bool is_kswapd_thread(std::uint32_t comm_id) {
    if (comm_id < kswapd_comm_.size() && kswapd_comm_[comm_id] != kNameUnknown) return kswapd_comm_[comm_id] == kNameKswapd;
    if (!process_names || comm_id == traces::kUnknownComm) return false;
    const std::string_view name = process_names(comm_id);
    if (name.empty()) return false;  // not read yet
    const bool kswapd = name.starts_with("kswapd");
    if (comm_id < kMaxCachedComms) {
      if (comm_id >= kswapd_comm_.size()) kswapd_comm_.resize(comm_id + 1, kNameUnknown);
      kswapd_comm_[comm_id] = kswapd ? kNameKswapd : kNameOther;
    }
    return kswapd;
  }
  // The model's direct reclaim takes the zone's withheld pages first (oldest first): the kernel
  // had freed them already. Returns the pages freed.
  std::uint64_t release_withheld(std::uint16_t zone, std::uint64_t pages, unsigned cpu) {
    auto& q = withheld_queue_[zone];
    std::uint64_t freed = 0;
    while (freed < pages && !q.empty()) {
      const std::uint64_t p = q.front();
      q.pop_front();
      const auto it = withheld_.find(p);
      if (it == withheld_.end()) continue;  // compaction moved it: queued again at its new frame
      const Withheld w = it->second;
      withheld_.erase(it);
      const std::uint64_t n = std::uint64_t{1} << w.order;
      withheld_pages_[w.zone] -= std::min(withheld_pages_[w.zone], n);
      // The kernel's reuse of a larger block around a withheld seed page may have released it.
      const auto b = model.block_containing(Pfn{p});
      const bool held = b && (w.seed ? b->state == BlockState::Seed
                                     : b->state == BlockState::Allocated && b->head.value == p && b->order == w.order);
      if (held && model.free(Pfn{p}, w.order, cpu).ok()) freed += n;
    }
    return freed;
  }
  // Direct compaction moved a withheld page: it waits at its new frame.
  bool rewithhold(std::uint64_t from, std::uint64_t to) {
    const auto it = withheld_.find(from);
    if (it == withheld_.end()) return false;
    Withheld w = it->second;
    withheld_.erase(it);
    w.seed = false;  // an allocation of its own now
    withheld_[to] = w;
    withheld_queue_[w.zone].push_back(to);
    return true;
  }

  // The recorded block (e.pfn, e.order) goes back to the free lists: the model frees what it
  // answered it with.
  void release(const PageEvent& e, unsigned cpu) {
    // Most frees name the very block the model answered (the general case below, in one pass).
    std::uint64_t model_pfn = 0;
    bool was_queued = false;
    if (map_.take_exact(e.pfn, e.order, model_pfn, was_queued)) {
      const auto r = model.free(Pfn{model_pfn}, e.order, cpu);
      freed_in_place_of(e.pfn, model_pfn, r);
      if (was_queued) forget_reclaimable_in(r.zone, e.order);
      if (!r.ok()) quality.add(DataQuality::free_of_unmapped_page);
      return;
    }
    release_other(e, cpu);
  }
  // Every other free, out of line: inline it costs the common one registers.
  [[gnu::noinline]] void release_other(const PageEvent& e, unsigned cpu) {
    if (!fallback_blocks_.empty()) {
      if (const auto order = take_fallback_block(e.pfn); order && *order == e.order) {
        release_fallback(e.pfn, e.order, cpu);
        return;
      }
    }
    const auto hit = map_.containing(e.pfn, max_order_);
    if (!hit) {
      free_unmapped(e, cpu);
      return;
    }
    const auto [head, entry] = *hit;
    const bool queued = map_.queued(head) && !entry.model_failed;
    if (entry.model_failed) {
      // The model failed this request, or evicted it: nothing to free. Drop the part freed.
      if (head == e.pfn && entry.order <= e.order) {
        map_.erase(head);
        returned_to_allowance(head);
      }
      return;
    }
    if (head == e.pfn && entry.order == e.order) {
      map_.erase(head);
      const auto r = model.free(Pfn{entry.model_pfn}, e.order, cpu);
      freed_in_place_of(e.pfn, entry.model_pfn, r);
      // The model's own block, in a zone and of a valid order: the free found its zone.
      if (queued) forget_reclaimable_in(r.zone, entry.order);
      if (!r.ok()) quality.add(DataQuality::free_of_unmapped_page);
      return;
    }
    if (queued) forget_reclaimable(entry.model_pfn, entry.order);
    if (e.order < entry.order) {
      // Part of the allocation: split both the recorded and the model allocation. Compaction
      // splits the blocks its free scanner took as it copies pages into them: no note.
      if (!entry.isolated) quality.add(DataQuality::free_split_allocation);
      model.split_allocation(Pfn{entry.model_pfn}, e.order);
      map_.erase(head);
      for (std::uint64_t k = 0; k < (std::uint64_t{1} << (entry.order - e.order)); ++k) {
        const std::uint64_t off = k << e.order;
        if (head + off != e.pfn) map_.set(head + off, entry.model_pfn + off, e.order, entry.isolated);
      }
      const auto r = model.free(Pfn{entry.model_pfn + (e.pfn - head)}, e.order, cpu);
      if (!r.ok()) quality.add(DataQuality::free_of_unmapped_page);
      return;
    }
    // A free larger than the allocation at its head: free every mapped allocation inside it.
    quality.add(DataQuality::free_order_mismatch);
    const std::uint64_t end = e.pfn + (std::uint64_t{1} << e.order);
    for (std::uint64_t p = e.pfn; p < end;) {
      const auto m = map_.get(p);
      if (!m) {
        ++p;
        continue;
      }
      if (map_.queued(p) && !m->model_failed) forget_reclaimable(m->model_pfn, m->order);
      map_.erase(p);
      if (!m->model_failed) model.free(Pfn{m->model_pfn}, m->order, cpu);
      p += std::uint64_t{1} << m->order;
    }
  }

  // mm/page_alloc.c:__isolate_free_page took the free block (e.pfn, e.order) off the lists
  // (trace format 1.2: compaction's free scanners, page reporting), or
  // __putback_isolated_page gave such a block back (docs/kernel-rules.md §10.4). Compaction
  // copies movable pages into the isolated pages (mm/migrate.c, no mm_page_alloc) and frees
  // the sources (mm_page_free), so the model takes as many free pages as the kernel did, and
  // the sources' frees then leave it with the kernel's free count; unused pieces come back
  // with mm_page_free too, and the copies with the frees of their new pfns. Without the very
  // blocks (a kernel that refuses the fentry programs), the compaction summaries say how many
  // pages the free scanner took in which range (isolate_summary); with them, the summaries
  // come after the blocks and say nothing more.
  [[gnu::noinline]] void on_isolate(const PageEvent& e) {
    using traces::IsolateSource;
    if (e.isolate_source == IsolateSource::Putback) {
      exact_blocks_ = true;
      release(e, cpu_of(e));
      return;
    }
    if (e.isolate_source == IsolateSource::Block) exact_blocks_ = true;
    if (exact_blocks_ ? e.isolate_source != IsolateSource::Block || e.order > max_order_ : e.taken_pages == 0) {
      ++counters.kernel_internal_ignored;
      return;
    }
    ++counters.isolations;
    counters.isolated_pages += exact_blocks_ ? isolate(e.pfn, e.order, cpu_of(e)) : isolate_summary(e);
  }

  // The free scanner took e.taken_pages free pages in [e.pfn, e.pfn + e.range_pages), which
  // ones the event does not say. A block scan's are the model's free blocks in the range
  // (compaction_guess.hpp), each held for the recorded pfns it stands at, so that the frees of
  // the copies placed there release it. A fast isolation's block, which the kernel takes from
  // anywhere on its lists, and what the model cannot find (its lists are not the kernel's) go
  // into a pool that the frees of recorded pages it never mapped (the copies and unused pieces
  // of the kernel's blocks) empty. Held at the guess, a fast isolation's block stayed taken
  // whenever the kernel's was another: 25 600 pages fewer free than the kernel's in 20 ms of one
  // squeeze's balloon fill (sq10).
  // Without this, every page compaction moved stayed free in the model (the source's free
  // released it, the copy held nothing) and simulate served what the squeezed kernel failed.
  std::uint64_t isolate_summary(const PageEvent& e) {
    const auto zone = model.zone_of(Pfn{e.pfn});
    if (!zone) {
      quality.add(DataQuality::outside_zones);
      return 0;
    }
    const std::uint64_t end = e.pfn + e.range_pages;
    std::uint64_t taken = 0;
    const auto hold = [&](const allocator::BlockInfo& b) {
      const std::uint64_t size = std::uint64_t{1} << b.order;
      if (taken + size > e.taken_pages || map_.containing(b.head.value, max_order_) || any_mapped(b.head.value, size)) return;
      if (take_block(b.head.value, b.order, b.head.value)) taken += size;
    };
    if (e.isolate_source == traces::IsolateSource::FastScan) {
      if (const auto b = guess_fast_isolation(model, e.pfn, end, e.taken_pages, pageblock_order_);
          b && (std::uint64_t{1} << b->order) <= e.taken_pages && hold_in_pool(*zone, b->head.value, b->order)) {
        taken += std::uint64_t{1} << b->order;
      }
    } else {
      for (const auto& b : guess_block_scan(model, e.pfn, end, e.taken_pages)) hold(b);
    }
    if (taken < e.taken_pages) taken += fill_pool(*zone, e.taken_pages - taken);
    return taken;
  }

  [[nodiscard]] bool any_mapped(std::uint64_t head, std::uint64_t size) const {
    for (std::uint64_t p = head; p < head + size; ++p) {
      if (map_.get(p)) return true;
    }
    return false;
  }

  // Takes `pages` free pages of the zone into its compaction pool, largest blocks first.
  std::uint64_t fill_pool(std::uint16_t zone, std::uint64_t pages) {
    const allocator::ZoneConfig& zc = model.zone_config(zone);
    std::uint64_t taken = 0;
    for (int o = std::min<int>(static_cast<int>(max_order_), static_cast<int>(std::bit_width(pages)) - 1); o >= 0 && taken < pages;) {
      const std::uint64_t piece = std::uint64_t{1} << o;
      if (pages - taken < piece) {
        --o;
        continue;
      }
      const auto head = free_block_from(zc.start_pfn, static_cast<unsigned>(o));
      if (!head || !hold_in_pool(zone, *head, static_cast<unsigned>(o))) {
        --o;
        continue;
      }
      taken += piece;
    }
    return taken;
  }

  bool hold_in_pool(std::uint16_t zone, std::uint64_t head, unsigned order) {
    const auto b = model.block_containing(Pfn{head});
    if (!b || b->state != BlockState::Free || b->order < order) return false;
    const allocator::MigrateType mt = allocator::is_mergeable(b->migratetype) ? b->migratetype
                                                                               : allocator::MigrateType::Movable;
    if (!model.carve(Pfn{head}, order, mt, kCompactionPoolOwner).ok()) return false;
    pool_[zone].push_back(PoolBlock{head, order});
    return true;
  }

  // A free of a recorded page the model never mapped, in a zone whose pool holds pages: a copy
  // compaction placed (or an unused piece) in a block the model took from elsewhere. The pool
  // gives back as many pages, splitting a larger block. Returns false when the pool is empty.
  bool release_from_pool(std::uint16_t zone, unsigned order, unsigned cpu) {
    auto& pool = pool_[zone];
    if (pool.empty()) return false;
    const std::uint64_t want = std::uint64_t{1} << order;
    std::uint64_t freed = 0;
    while (freed < want && !pool.empty()) {
      const PoolBlock b = pool.back();
      pool.pop_back();
      unsigned piece = b.order;
      if ((std::uint64_t{1} << b.order) > want - freed) {
        piece = static_cast<unsigned>(std::bit_width(want - freed) - 1);
        model.split_allocation(Pfn{b.head}, piece);
        for (std::uint64_t k = 1; k < (std::uint64_t{1} << (b.order - piece)); ++k) {
          pool.push_back(PoolBlock{b.head + (k << piece), piece});
        }
      }
      model.free(Pfn{b.head}, piece, cpu);
      freed += std::uint64_t{1} << piece;
    }
    return true;
  }

  // Takes 2^order free pages for the recorded block at `pfn`, in the model's zone of that pfn:
  // the very block when the model has it free (the model starts from the kernel's free-page
  // map, and the kernel's free scanner works from the zone's end, which both leave alone the
  // longest), else free blocks of the same zone, largest first, taken whole or from the head of
  // a larger one, each mapped to its aligned part of the recorded block. The part the model
  // cannot find (it has fewer free pages than the kernel) is mapped as failed, so that its
  // frees are dropped. No watermark check: the kernel's passed (min + 2^order at order 0), and
  // the pages hold migrated data whatever the model's count. Returns the pages taken.
  std::uint64_t isolate(std::uint64_t pfn, unsigned order, unsigned cpu) {
    const std::uint64_t size = std::uint64_t{1} << order;
    for (std::uint64_t p = pfn; p < pfn + size; ++p) {
      // Entries inside a block the kernel had free are stale (their free was not recorded).
      if (const auto old = map_.get(p)) release_entry(p, *old, cpu);
    }
    const auto zone = model.zone_of(Pfn{pfn});
    if (!zone) {
      quality.add(DataQuality::outside_zones);
      return 0;
    }
    if (take_block(pfn, order, pfn)) return size;
    const allocator::ZoneConfig& zc = model.zone_config(*zone);
    std::uint64_t taken = 0;  // of the recorded block, mapped
    for (int o = static_cast<int>(order); o >= 0 && taken < size;) {
      const std::uint64_t piece = std::uint64_t{1} << o;
      if (size - taken < piece) {
        --o;
        continue;
      }
      const auto head = free_block_from(zc.start_pfn, static_cast<unsigned>(o));
      if (!head || !take_block(*head, static_cast<unsigned>(o), pfn + taken)) {
        --o;
        continue;
      }
      taken += piece;
    }
    const std::uint64_t found = taken;
    // Whatever is left, in aligned pieces: the model had no free page for it.
    for (int o = static_cast<int>(order); o >= 0 && taken < size; --o) {
      const std::uint64_t piece = std::uint64_t{1} << o;
      if (size - taken >= piece) {
        map_.set_failed(pfn + taken, static_cast<unsigned>(o));
        taken += piece;
      }
    }
    return found;
  }

  // The map entry at recorded pfn `p` leaves, and the model's pages with it; an entry the
  // model's reclaim evicted gives its pages back to the allowance instead.
  void release_entry(std::uint64_t p, const PfnMap::Entry& old, unsigned cpu) {
    if (map_.queued(p) && !old.model_failed) forget_reclaimable(old.model_pfn, old.order);
    if (!old.model_failed) model.free(Pfn{old.model_pfn}, old.order, cpu);
    map_.erase(p);
    returned_to_allowance(p);
  }
  // The kernel handed out a block of order > 0, so it had every page of it free: an entry
  // inside it is stale, a lost free or pages the model took for the kernel's free scanner
  // (isolate_summary's guess) that the kernel's scanner did not take. They go back before the
  // request, which can then have the kernel's block. Kept, a 2-page guess in an unmovable
  // pageblock stood in the way of a huge page on an atomic squeeze: the model refused three of
  // its balloon's, and each one it placed elsewhere took a later one's place.
  // Seed blocks inside it are stale the same way (release_seed): pages the start snapshot read
  // as allocated, on a per-CPU list then, that reached the buddy lists with no event. They go
  // to the buddy lists, where the kernel's block had them. Kept, 15 such pages split a huge
  // page's block on the second atomic squeeze, and the chain of placements elsewhere that
  // followed ended with a balloon page in DMA32 that the kernel had in Normal.
  [[gnu::noinline]] void drop_stale_inside(std::uint64_t pfn, unsigned order, unsigned cpu) {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    for (std::uint64_t p = pfn; p < end; ++p) {
      const auto old = map_.get(p);
      if (!old) continue;
      if (!old->isolated && !old->model_failed) quality.add(DataQuality::double_alloc);
      release_entry(p, *old, cpu);
    }
    for (std::uint64_t p = pfn; p < end;) {
      if (left_seed(p)) {
        ++p;
        continue;
      }
      const auto b = model.block_containing(Pfn{p});
      if (!b) break;
      if (b->state == BlockState::Seed && b->head.value >= pfn) release_seed_block(b->head.value, b->order, cpu, true);
      p = std::max(p + 1, b->head.value + (std::uint64_t{1} << b->order));
    }
  }

  // Carves the model's free block of `order` at `head` (free now, checked) for the recorded
  // block at `owner`.
  bool take_block(std::uint64_t head, unsigned order, std::uint64_t owner) {
    const auto b = model.block_containing(Pfn{head});
    if (!b || b->state != BlockState::Free || b->order < order) return false;
    const allocator::MigrateType mt = allocator::is_mergeable(b->migratetype) ? b->migratetype
                                                                               : allocator::MigrateType::Movable;
    if (!model.carve(Pfn{head}, order, mt, owner).ok()) return false;
    map_.set(owner, head, order, true);
    return true;
  }

  // A free block of at least `order` in the zone starting at `zone_start`: the smallest order
  // that has one, on a Movable, Unmovable or Reclaimable list (the tail, where the kernel's
  // free scanner looks first).
  std::optional<std::uint64_t> free_block_from(Pfn zone_start, unsigned order) const {
    using allocator::MigrateType;
    for (unsigned o = order; o <= max_order_; ++o) {
      for (const MigrateType mt : {MigrateType::Movable, MigrateType::Unmovable, MigrateType::Reclaimable}) {
        if (const auto head = model.fast_isolate_pick(o, mt, zone_start, zone_start, 1)) return head->value;
      }
    }
    return std::nullopt;
  }

  // The kernel handed out (or drained from a per-CPU list to the buddy lists) the block at
  // `pfn`: it had it free. Where the model still holds it from before the recording, it was on
  // a per-CPU list when the start snapshot was taken (free, but not KPF_BUDDY: the free-page
  // map shows it allocated, docs/kernel-rules.md §11.3, §12.4 trap 1), or its free was lost.
  // The model frees it, or it would stay allocated to the end (the model serves the request
  // with a page of its own choosing and does not replay drains): every such page was one
  // fewer free page than the kernel had. A drained page goes to the buddy lists, as the
  // kernel's drain put it there (free_pcppages_bulk).
  void release_seed(std::uint64_t pfn, unsigned order, unsigned cpu, bool to_buddy) {
    if (left_seed(pfn)) return;
    release_seed_block(pfn, order, cpu, to_buddy);
  }
  [[gnu::noinline]] void release_seed_block(std::uint64_t pfn, unsigned order, unsigned cpu, bool to_buddy) {
    if (model.block_state(Pfn{pfn}) != BlockState::Seed) {
      mark_left_seed(pfn);
      return;
    }
    const auto r = model.free(Pfn{pfn}, order, cpu);
    if (!r.ok()) return;
    mark_left_seed(pfn);
    if (to_buddy && r.to_pcp) model.pcp_drain(Pfn{pfn}, order);
    counters.seed_pages_released += std::uint64_t{1} << order;
  }

  // Whether the block holding pfn is known to be no seed block: once it is not, it never is
  // again (nothing in simulate makes a page seed-owned after the start; splits, carves and
  // migrations only take pages away from the seed). One bit a page frame spares most
  // allocations release_seed's head search and the prefetch for it.
  [[nodiscard]] bool left_seed(std::uint64_t pfn) const {
    const std::uint64_t i = pfn - seed_base_;
    return i < left_seed_bits_ && ((left_seed_[i / 64] >> (i % 64)) & 1u) != 0;
  }
  void mark_left_seed(std::uint64_t pfn) {
    const std::uint64_t i = pfn - seed_base_;
    if (i < left_seed_bits_) left_seed_[i / 64] |= std::uint64_t{1} << (i % 64);
  }

  // A page the model never handed out: allocated before the recording (free the seed page at
  // the same pfn if the model still holds it as such) or by an untraced path.
  void free_unmapped(const PageEvent& e, unsigned cpu) {
    const auto b = model.block_containing(Pfn{e.pfn});
    if (b && b->state == BlockState::Seed) {
      const auto r = model.free(Pfn{e.pfn}, e.order, cpu);
      if (r.ok()) {
        quality.add(DataQuality::free_of_unknown_page);
        return;
      }
    }
    if (!b) {
      quality.add(DataQuality::outside_zones);
      return;
    }
    if (e.order <= max_order_ && release_from_pool(b->zone, e.order, cpu)) return;
    quality.add(DataQuality::free_of_unmapped_page);
  }

  // mm/hugetlb.c:alloc_buddy_hugetlb_folio asks for __GFP_THISNODE | __GFP_RETRY_MAYFAIL: a
  // hugetlb pool page, movable but on no LRU, which no reclaim frees.
  [[nodiscard]] bool is_hugetlb_pool_page(std::uint64_t gfp) const {
    return hugetlb_pool_mask_ != 0 && (gfp & hugetlb_pool_mask_) == hugetlb_pool_mask_;
  }

  // Queues a reclaimable allocation. A recorded pfn is queued at most once (re-allocations of
  // a queued pfn keep its place), so the queues stay within the zones' size.
  void remember(std::uint16_t zone, std::uint64_t recorded_pfn, unsigned order) {
    if (!map_.dense(recorded_pfn)) return;
    lru_pages_[zone] += std::uint64_t{1} << order;
    if (map_.queued(recorded_pfn)) return;
    enqueue(zone, recorded_pfn);
  }
  // A pfn not queued yet (rarer: its first reclaimable allocation), out of line.
  [[gnu::noinline]] void enqueue(std::uint16_t zone, std::uint64_t recorded_pfn) {
    map_.set_queued(recorded_pfn, true);
    auto& q = lru_[zone];
    q.push_back(recorded_pfn);
    if (q.size() <= lru_mark_[zone]) return;
    // Drop entries whose allocation is gone, so the queue stays proportional to live memory.
    std::deque<std::uint64_t> kept;
    for (const std::uint64_t p : q) {
      if (const auto m = map_.get(p); m && !m->model_failed) {
        kept.push_back(p);
      } else {
        map_.set_queued(p, false);
      }
    }
    q.swap(kept);
    lru_mark_[zone] = std::max<std::size_t>(1u << 16, 2 * q.size());
  }

  // A queued allocation freed by the recording: no longer reclaimable (its pfn keeps its place
  // in the queue for a re-allocation).
  void forget_reclaimable(std::uint64_t model_pfn, unsigned order) {
    if (const auto zone = model.zone_of(Pfn{model_pfn})) forget_reclaimable_in(*zone, order);
  }
  void forget_reclaimable_in(std::uint16_t zone, unsigned order) {
    if (zone >= lru_pages_.size()) return;
    const std::uint64_t pages = std::uint64_t{1} << order;
    lru_pages_[zone] -= std::min(lru_pages_[zone], pages);
  }

  // wake_all_kswapds / rmqueue's boosted-zone wake-up, then wakeup_kswapd's test (see the file
  // comment). r.zone: the zone served, or the one that decided the failure.
  void wake_kswapd(std::uint64_t now, const allocator::AllocResult& r) {
    Kswapd& k = kswapd_[r.zone];
    if (k.awake) return;
    // Most requests pass the fast path of an unboosted zone: no wake-up, and no levels read.
    if (r.ok() && r.path == allocator::AllocPath::Fast && !boosted(r.zone)) return;
    wake_kswapd_if_low(now, r.zone);
  }
  [[gnu::noinline]] void wake_kswapd_if_low(std::uint64_t now, std::uint16_t zone) {
    Kswapd& k = kswapd_[zone];
    const allocator::ZoneLevels z = model.levels(zone);
    if (z.boost == 0 && z.free_pages > z.watermarks.high) return;
    k = Kswapd{true, now, 0.0};
    ++kswapd_awake_;
    ++reclaim_runs_;
    update_reclaim_active();
  }

  // model.watermark_boost(zone) != 0, asked again only after the model set a boost (it counts
  // each) or a new span began (keyframes and reseeds set boosts between spans); a boost the
  // engine clears (kswapd_sleep) leaves a known zero one.
  [[nodiscard]] bool boosted(std::uint16_t zone) {
    if (model_counters_.boosts != boosts_seen_) {
      boosts_seen_ = model_counters_.boosts;
      unboosted_ = 0;
    }
    if (zone < 64 && ((unboosted_ >> zone) & 1u) != 0) return false;
    const bool b = model.watermark_boost(zone) != 0;
    if (!b && zone < 64) unboosted_ |= std::uint64_t{1} << zone;
    return b;
  }

  // mm/vmscan.c:update_reclaim_active: kswapd of a node marks its zones up to the one it
  // balances for (highest_zoneidx); the flag lasts while any such balance runs.
  void update_reclaim_active() {
    if (!reclaim_active_clamp_) return;
    for (std::uint16_t z = 0; z < kswapd_.size(); ++z) {
      const allocator::ZoneConfig& zc = model.zone_config(z);
      bool active = false;
      for (std::uint16_t w = 0; w < kswapd_.size() && !active; ++w) {
        const allocator::ZoneConfig& wc = model.zone_config(w);
        active = kswapd_[w].awake && wc.node == zc.node && allocator::index_of(wc.type) >= allocator::index_of(zc.type);
      }
      if (model.reclaim_active(z) != active) model.set_reclaim_active(z, active);
    }
  }

  // vmstat_update on every CPU for each stat interval up to `now`. A long quiet gap decays
  // like the intervals it spans, up to 64 of them: (7/8)^64 takes any real high to high_min.
  [[gnu::noinline]] void vmstat_update(std::uint64_t now) {
    if (next_vmstat_ns_ == 0) {
      next_vmstat_ns_ = now + stat_interval_ns_;  // the first event: vmstat's phase is unknown
      return;
    }
    for (unsigned round = 0; round < 64 && next_vmstat_ns_ <= now; ++round) {
      for (unsigned cpu = 0; cpu < nr_cpus_; ++cpu) model.decay_pcp_high(cpu);
      next_vmstat_ns_ += stat_interval_ns_;
    }
    if (next_vmstat_ns_ <= now) next_vmstat_ns_ += ((now - next_vmstat_ns_) / stat_interval_ns_ + 1) * stat_interval_ns_;
  }

  // balance_pgdat, advanced to `now` for every awake zone.
  [[gnu::noinline]] void kswapd_step(std::uint64_t now, unsigned cpu) {
    for (std::uint16_t zone = 0; zone < kswapd_.size(); ++zone) {
      Kswapd& k = kswapd_[zone];
      if (!k.awake || now < k.last_ns + kKswapdTickNs) continue;
      k.credit += static_cast<double>(now - k.last_ns) * kswapd_pages_per_ms_ / 1e6;
      k.last_ns = now;
      const allocator::ZoneLevels z = model.levels(zone);
      const std::uint64_t target = z.watermarks.high + z.boost;
      if (z.free_pages > target) {
        kswapd_sleep(zone);
        continue;
      }
      const std::uint64_t deficit = target + 1 - z.free_pages;
      const auto want = std::min(static_cast<std::uint64_t>(k.credit), deficit);
      // Time kswapd did not need is not banked: it reclaims no faster later for having kept up.
      k.credit = want == deficit ? 0.0 : k.credit - static_cast<double>(want);
      if (want == 0) continue;
      const std::uint64_t got = evict(zone, want, cpu);
      reclaimed_pages_ += got;
      // Nothing left that the model may reclaim (its queue empty, or the what-if's allowance
      // spent: with the recorded settings there is none, the recording's frees being the
      // kernel's own reclaim): the pass ends, and balance_pgdat's end takes the boost back.
      if (got < want && evictable_pages(zone) == 0) kswapd_sleep(zone);
    }
  }

  void kswapd_sleep(std::uint16_t zone) {
    kswapd_[zone].awake = false;
    --kswapd_awake_;
    if (model.watermark_boost(zone) != 0) model.set_watermark_boost(zone, 0);
    update_reclaim_active();
  }

  // Evicts the zone's oldest reclaimable allocations until `pages` pages are freed or none is
  // left; a later free of an evicted page is dropped. Returns the pages freed.
  std::uint64_t evict(std::uint16_t zone, std::uint64_t pages, unsigned cpu) {
    std::uint64_t freed = 0;
    auto& q = lru_[zone];
    pages = std::min(pages, allowance_left(zone));
    while (freed < pages && !q.empty()) {
      const std::uint64_t p = q.front();
      q.pop_front();
      const auto m = map_.get(p);
      if (!m || m->model_failed) {
        map_.set_queued(p, false);
        continue;
      }
      // A re-allocation keeps its pfn's place in the queue, but the model may have served it
      // from another zone: it belongs in that zone's queue.
      if (const auto home = model.zone_of(Pfn{m->model_pfn}); home && *home != zone && *home < lru_.size()) {
        lru_[*home].push_back(p);
        continue;
      }
      map_.set_queued(p, false);
      const std::uint64_t n = std::uint64_t{1} << m->order;
      lru_pages_[zone] -= std::min(lru_pages_[zone], n);
      if (!model.free(Pfn{m->model_pfn}, m->order, cpu).ok()) continue;
      map_.set_failed(p, m->order);  // evicted: the recording's free of it is dropped
      freed += n;
      evicted_[p] = Evicted{zone, static_cast<std::uint8_t>(m->order)};
      outstanding_[zone] += n;
    }
    // The count can outlive the queue (pages counted here whose pfns sit in another zone's
    // queue until an eviction there moves them): an empty queue has nothing to reclaim, and a
    // count left over would make the slow path retry for ever (reclaimable, yet nothing freed).
    if (q.empty()) lru_pages_[zone] = 0;
    return freed;
  }

  // Pages a zone's reclaim may still hold free beyond the kernel's.
  [[nodiscard]] std::uint64_t allowance_left(std::uint16_t zone) const {
    const std::uint64_t allowance = allowance_[zone] + boost_excess(zone);
    return allowance > outstanding_[zone] ? allowance - outstanding_[zone] : 0;
  }
  // kswapd's boosted reclaim (mm/vmscan.c:balance_pgdat, nr_boost_reclaim) is in the recording
  // up to what the recorded settings let a boost reach (mm/page_alloc.c:boost_watermark: the
  // high watermark times watermark_boost_factor / 10000, at least a pageblock; none at factor
  // 0). A what-if boost above that cap is reclaim the recording does not hold.
  [[nodiscard]] std::uint64_t boost_excess(std::uint16_t zone) const {
    const std::uint64_t boost = model.watermark_boost(zone);
    return boost > recorded_boost_cap_[zone] ? boost - recorded_boost_cap_[zone] : 0;
  }

  // The recording freed (or re-allocated) the evicted page at recorded pfn `p`: the model had
  // only freed it earlier than the kernel, and its pages go back to the allowance.
  void returned_to_allowance(std::uint64_t p) {
    if (evicted_.empty()) return;
    const auto it = evicted_.find(p);
    if (it == evicted_.end()) return;
    const std::uint64_t n = std::uint64_t{1} << it->second.order;
    outstanding_[it->second.zone] -= std::min(outstanding_[it->second.zone], n);
    evicted_.erase(it);
  }

  // Per model zone: the recorded high watermark (the header's, or __setup_per_zone_wmarks at
  // the recorded sysctls when the header has none; neither recorded nor computable, no
  // min_free_kbytes either: the model's, which are then the kernel's).
  std::vector<std::uint64_t> recorded_highs(const traces::TraceHeader& h) const {
    const std::size_t n = setup.config.zones.size();
    std::vector<allocator::ZoneSize> sizes;
    for (const auto& z : setup.config.zones) sizes.push_back(allocator::ZoneSize{z.type, z.managed_pages});
    const std::uint64_t min_free =
        sysctl_u64(h, "min_free_kbytes").value_or(setup.config.tunables.min_free_kbytes.value_or(0));
    const std::vector<allocator::Watermarks> computed = allocator::setup_per_zone_wmarks(
        sizes, min_free, sysctl_u64(h, "watermark_scale_factor").value_or(10), setup.config.page_size);
    std::vector<std::uint64_t> out(n, 0);
    for (std::uint16_t z = 0; z < n; ++z) {
      const traces::ZoneInfo& hz = h.zones[setup.header_zone_of_model[z]];
      out[z] = hz.high_pages != 0 ? hz.high_pages : min_free != 0 ? computed[z].high : model.watermarks(z).high;
    }
    return out;
  }
  // What a zone's recorded high watermark sets: how far the what-if's lies above it (the
  // allowance) or below it (the shortfall), and the boost cap of the recorded settings.
  void set_recorded_high(std::uint16_t zone, std::uint64_t recorded) {
    const std::uint64_t now = model.watermarks(zone).high;
    allowance_[zone] = now > recorded ? now - recorded : 0;
    shortfall_[zone] = recorded > now ? recorded - now : 0;
    withholds_ = withholds_ || shortfall_[zone] != 0;
    recorded_boost_cap_[zone] = boost_cap(zone, recorded);
  }
  // The largest boost the recorded settings let a zone reach at a recorded high watermark:
  // boost_watermark from a boost already past any cap gives the cap (0 where it never boosts).
  [[nodiscard]] std::uint64_t boost_cap(std::uint16_t zone, std::uint64_t recorded_high) const {
    constexpr std::uint64_t kPastAnyCap = std::uint64_t{1} << 62;
    return allocator::boosted_watermark(kPastAnyCap, recorded_high, model.zone_config(zone).managed_pages,
                                        recorded_boost_factor_, setup.config.pageblock_order)
        .value_or(0);
  }

  std::uint64_t recorded_boost_factor_ = 15000;
  std::vector<std::uint64_t> recorded_boost_cap_;  // per zone: boost_cap
  const allocator::ModelCounters& model_counters_;  // a reference into the model, read at every allocation
  PfnMap map_;
  allocator::ZeroedArray<std::uint64_t> left_seed_;  // a bit per pfn of [seed_base_, + left_seed_bits_)
  std::uint64_t seed_base_ = 0;
  std::uint64_t left_seed_bits_ = 0;
  unsigned max_order_ = 10;
  unsigned pageblock_order_ = 9;
  bool exact_blocks_ = false;  // the trace has the very blocks isolated (format 1.2)
  // Per zone: blocks held for compaction's free scanner that no recorded pfn names.
  struct PoolBlock {
    std::uint64_t head;
    unsigned order;
  };
  std::vector<std::vector<PoolBlock>> pool_;
  static constexpr allocator::Owner kCompactionPoolOwner = ~allocator::Owner{0} - 3;
  std::vector<std::deque<std::uint64_t>> lru_;
  std::vector<std::size_t> lru_mark_;
  std::vector<std::uint64_t> lru_pages_;  // live pages queued per zone (zone_reclaimable_pages)
  allocator::Gfp direct_reclaim_bit_ = 0;
  allocator::Gfp hugetlb_pool_mask_ = 0;  // __GFP_THISNODE | __GFP_RETRY_MAYFAIL; 0: the layout has no __GFP_THISNODE
  bool prefer_recorded_ = false;
  // The request being replayed is a kernel failure whose exact count (format 1.9) passed.
  bool kernel_lag_only_ = false;
  allocator::Gfp kswapd_bit_ = 0;
  struct Kswapd {
    bool awake = false;
    std::uint64_t last_ns = 0;  // trace time it last advanced to
    double credit = 0.0;        // pages it may still reclaim by then
  };
  std::vector<Kswapd> kswapd_;
  std::size_t kswapd_awake_ = 0;
  std::uint64_t unboosted_ = 0;     // bit z: zone z known unboosted (boosted())
  std::uint64_t boosts_seen_ = 0;   // model_counters_.boosts when unboosted_ was last valid
  double kswapd_pages_per_ms_ = 0;
  std::uint64_t reclaimed_pages_ = 0;
  std::uint64_t reclaim_runs_ = 0;
  bool decay_pcp_ = false;
  bool reclaim_active_clamp_ = false;
  bool follow_pcp_ = false;  // the model's per-CPU lists follow the recording's (file comment)
  // Recorded pfn -> the model's block freed to a per-CPU list in its place (freed_in_place_of).
  std::unordered_map<std::uint64_t, std::uint64_t> pcp_stand_in_;
  // Recorded head pfn -> order of a block the kernel served whose pages the model holds as the
  // caller's fallback (serve_fallback).
  std::unordered_map<std::uint64_t, std::uint8_t> fallback_blocks_;
  std::vector<RefillSpan> refill_spans_;  // --follow-pcp: per CPU
  std::vector<std::uint64_t> allowance_;    // per zone: pages the model's reclaim may hold free beyond the kernel's
  std::vector<std::uint64_t> outstanding_;  // per zone: evicted pages whose free the recording has not given yet
  struct Evicted {
    std::uint16_t zone;
    std::uint8_t order;
  };
  std::unordered_map<std::uint64_t, Evicted> evicted_;  // by recorded pfn
  // Lowered watermarks (withhold): per zone, how far below the recorded high mark the
  // what-if's lies, and the pages of kswapd's frees the model keeps in use.
  std::vector<std::uint64_t> shortfall_;
  std::vector<std::uint64_t> withheld_pages_;
  bool withholds_ = false;  // some zone has a shortfall
  struct Withheld {
    std::uint16_t zone;
    std::uint8_t order;
    bool seed;  // a seed page (allocated before the recording), else an allocation of its own
  };
  std::unordered_map<std::uint64_t, Withheld> withheld_;        // by model pfn
  std::vector<std::deque<std::uint64_t>> withheld_queue_;       // per zone, oldest first
  static constexpr std::uint8_t kNameUnknown = 0, kNameOther = 1, kNameKswapd = 2;
  static constexpr std::uint32_t kMaxCachedComms = 1u << 20;
  std::vector<std::uint8_t> kswapd_comm_;  // by comm id
  std::uint64_t stat_interval_ns_ = 1'000'000'000;  // vm.stat_interval
  std::uint64_t next_vmstat_ns_ = 0;                // 0: not started
};

}  // namespace

std::unique_ptr<Engine> make_simulate_engine(const traces::TraceHeader& header, ModelSetup setup,
                                             const ReplayOptions& options) {
  return std::make_unique<SimulateEngine>(header, std::move(setup), options);
}

}  // namespace labyrinth::replay::detail
