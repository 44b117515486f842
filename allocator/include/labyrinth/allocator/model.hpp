// labyrinth::allocator::Model: a user-space reimplementation of the Linux buddy page
// allocator (zones, watermarks, migratetypes, pageblocks, per-cpu lists, highatomic reserve),
// driven either by its own policy (simulate) or by the kernel's recorded choices (mirror).
//
// Rules follow docs/kernel-rules.md; section numbers (§) refer to it.
//
// Driving it from a trace (mirror mode; PcpMode::Manual when refills and drains are recorded,
// else Off):
//   start snapshot (kpageflags runs, pagetypeinfo counts) -> seed()
//   mm_page_alloc (pfn, order, migratetype)                -> carve(); CarvedFromSeed/NotFree
//                                                             are data-quality events
//   mm_page_alloc failure (pfn ULONG_MAX)                  -> check_request() for the cause
//   mm_page_free (pfn, order) on cpu                       -> free(); FreedSeed = allocated
//                                                             before recording, DoubleFree,
//                                                             WrongOrder (split_allocation()
//                                                             for partial frees), UnknownPage
//   mm_page_alloc_zone_locked with percpu_refill           -> pcp_refill()
//   mm_page_pcpu_drain                                     -> pcp_drain()
//   mm_page_alloc_extfrag with change_ownership            -> change_pageblock_type()
// Simulate mode calls allocate() and free() and lets the kernel's rules choose. Watermarks,
// reserves and pcp limits come from the recorded zoneinfo (ZoneConfig) or are computed.
// The model does no I/O, takes no locks and throws only from its constructor. It is not
// thread-safe. Cost: O(max_order) per allocation, carve, free and pcp move, plus
// O(pageblock_nr_pages) for the rare operations that change a pageblock's type and O(batch)
// for pcp bulk refills/drains, as in the kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/metrics.hpp"
#include "labyrinth/allocator/results.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// A run of free pages [start, start + pages), e.g. from /proc/kpageflags KPF_BUDDY.
struct FreeRun {
  Pfn start{};
  std::uint64_t pages = 0;
};

/// Pageblock counts per migratetype for one zone (/proc/pagetypeinfo "Number of blocks type").
struct ZonePageblockCounts {
  std::uint16_t zone = 0;
  std::array<std::uint64_t, kMigrateTypes> counts{};
};

/// The type of one pageblock, when known exactly (e.g. from page_owner).
struct PageblockType {
  Pfn pfn{};
  MigrateType type = MigrateType::Movable;
};

/// The kernel's state at the start of a recording. Free runs are decomposed into maximal
/// aligned blocks; every other page of every zone is allocated to kSeedOwner.
struct Snapshot {
  std::vector<FreeRun> free_runs;
  /// Optional. Non-movable types go to the pageblocks with the fewest free pages first
  /// (Unmovable, then Reclaimable, HighAtomic, CMA, Isolate); the rest are Movable.
  std::vector<ZonePageblockCounts> pageblock_counts;
  /// Optional, applied after the counts.
  std::vector<PageblockType> pageblock_types;
};

struct SeedReport {
  std::uint64_t free_pages = 0;          ///< pages seeded free
  std::uint64_t pages_outside_zones = 0;  ///< free-run pages that lie in no zone (ignored)
  std::uint64_t pageblock_count_shortfall = 0;  ///< counts asking for more pageblocks than exist
};

/// The result of a watermark check on one zone (§5.2/§5.3).
struct WatermarkCheck {
  std::uint16_t zone = 0;
  bool ok = false;
  std::int64_t free_pages = 0;     ///< NR_FREE_PAGES
  std::int64_t unusable = 0;       ///< __zone_watermark_unusable_free
  std::int64_t mark = 0;           ///< the watermark tested (boost included)
  /// min after the ALLOC_RESERVES reductions, plus lowmem_reserve[highest zone]: the check
  /// passes the order-0 part iff free_pages - unusable > effective_min.
  std::int64_t effective_min = 0;
  bool block_available = true;     ///< order > 0: a usable block of the order exists
  std::uint8_t block_lists = 0;    ///< order > 0: the free lists it may use, a bit per MigrateType (set when the count fails too)
  bool reserves_usable = false;    ///< ALLOC_RESERVES: the highatomic reserve is not in `unusable`
};

/// A zone's watermarks and free page counts (Model::levels).
struct ZoneLevels {
  Watermarks watermarks;
  std::uint64_t boost = 0;       ///< watermark boost
  std::uint64_t free_pages = 0;  ///< NR_FREE_PAGES
  std::uint64_t pcp_pages = 0;   ///< pages on the zone's per-cpu lists
  /// Of free_pages, what a request without ALLOC_RESERVES may not use: the free highatomic
  /// pages (before 6.10 the whole reserve), as __zone_watermark_unusable_free counts them.
  std::uint64_t reserve_unusable = 0;
};

/// "Would this request pass the watermark?" for reporting, without allocating.
struct RequestCheck {
  bool zone_available = false;
  bool fast_ok = false;  ///< some zone passes the fast-path check (LOW, no reductions)
  bool slow_ok = false;  ///< some zone passes the slow-path check (MIN with reductions)
  unsigned slow_zones_ok = 0;  ///< how many zones pass it
  /// The first zone passing the slow-path check, else the preferred zone.
  WatermarkCheck slow;
  AllocFlags fast_flags = 0;
  AllocFlags slow_flags = 0;
  ZoneType highest = ZoneType::Normal;  ///< gfp_zone(): its zonelist holds the zones up to it
};

/// Counters of what the simulation did (the replay keeps its own per-event statistics).
struct ModelCounters {
  std::uint64_t allocations = 0;
  std::uint64_t failures = 0;
  std::uint64_t frees = 0;
  std::uint64_t pcp_hits = 0;
  std::uint64_t pcp_refills = 0;
  std::uint64_t pcp_refill_pages = 0;
  std::uint64_t pcp_drained_pages = 0;
  std::uint64_t pcp_decay_drained_pages = 0;  ///< the part of pcp_drained_pages decay_pcp_high drained
  std::uint64_t claims = 0;   ///< pageblocks claimed by a fallback (change_ownership)
  std::uint64_t steals = 0;   ///< fallbacks that took a foreign block without claiming
  std::uint64_t nofragment_retries = 0;
  std::uint64_t boosts = 0;
  std::uint64_t highatomic_reservations = 0;
  std::uint64_t direct_reclaims = 0;        ///< requests that entered direct reclaim
  std::uint64_t direct_reclaimed_pages = 0;  ///< pages the Reclaimer freed for them
  std::uint64_t reclaim_drains = 0;          ///< pcp drains after a reclaim that did not suffice
  std::uint64_t reclaim_unreserves = 0;      ///< highatomic blocks given back by the slow path
  std::uint64_t oom_kills = 0;               ///< AllocPath::OomKill
  std::uint64_t served_after_kernel_reclaim = 0;  ///< retrying requests served after the kernel's own reclaims (Reclaimer::kernel_reclaim_rounds)
  std::uint64_t nofail_forced = 0;           ///< AllocPath::NoFail
  std::uint64_t reclaim_failures = 0;        ///< failed after direct reclaim (NORETRY, costly, MAYFAIL)
  std::uint64_t compactions = 0;               ///< direct compaction attempts (compact_stall)
  std::uint64_t compaction_successes = 0;      ///< requests served right after one (compact_success)
  std::uint64_t compaction_migrated_pages = 0;  ///< pages moved by it (compact_migrate_scanned's moves)
};

/// What the model's user can reclaim: the allocator knows pages, not which of them are page
/// cache or shrinkable. A replay evicts its oldest reclaimable allocations; without one,
/// direct reclaim makes no progress.
class Reclaimer {
 public:
  virtual ~Reclaimer() = default;
  /// try_to_free_pages on one zone: frees up to `pages` pages with Model::free and returns how
  /// many it freed.
  virtual std::uint64_t reclaim(std::uint16_t zone, std::uint64_t pages, unsigned cpu) = 0;
  /// zone_reclaimable_pages(): what reclaim could still free in the zone.
  [[nodiscard]] virtual std::uint64_t reclaimable_pages(std::uint16_t zone) const = 0;
  /// Whether reclaim in the zone made progress although reclaim() freed nothing: the pages were
  /// freed outside the model (a replay whose recording holds the kernel's own reclaim). The
  /// slow path then goes on as after progress (drain_all_pages, the highatomic unreserve).
  [[nodiscard]] virtual bool progressed(std::uint16_t /*zone*/) const { return false; }
  /// How many direct reclaims the kernel ran for the request being served before it got its
  /// page, when they freed pages (a replay's recorded verdict, not a guess); 0 when unknown.
  /// The kernel's should_reclaim_retry went on with that progress and never reached the
  /// pre-OOM give-back of the highatomic reserve.
  [[nodiscard]] virtual unsigned kernel_reclaim_rounds() const { return 0; }
  /// Direct compaction moved owner's order-0 page from one frame to another; the allocation
  /// lives at `to` from now on. A page allocated before the recording (kSeedOwner) moves as an
  /// allocation owned by its old pfn.
  virtual void migrated(Owner /*owner*/, Pfn /*from*/, Pfn /*to*/) {}
  /// The frame an allocation belongs at, when the caller knows one (a replay: the pfn the
  /// recording holds it at, where the model could not place it). Model::compact_block moves it
  /// there when that block is free, before asking the free scanner.
  [[nodiscard]] virtual std::optional<Pfn> home(Owner /*owner*/) const { return std::nullopt; }
};

/// What a model's state costs in memory, to size one before it is built: the bytes written
/// per page frame where blocks below MAX_PAGE_ORDER are made (its state and links; frames never
/// split cost nothing, zero pages), per pageblock and per MAX_PAGE_ORDER block (written for
/// every one of the zones), and per zone with its per-CPU lists.
struct MetadataCosts {
  std::size_t per_frame = 0;
  std::size_t per_pageblock = 0;
  std::size_t per_top_block = 0;
  std::size_t per_zone = 0;
};
[[nodiscard]] MetadataCosts metadata_costs(unsigned nr_cpus);

/// Where one zone's page-frame records lie (Model::metadata_span), for a replay to prefetch
/// them a few events ahead without a call each: the records of a large zone are far bigger
/// than the cache, and a call with a zone search per event cost mirror 29 of its 542
/// instructions an event. The arrays stay put for the model's life. No frames: a pfn in no zone.
struct MetadataSpan {
  std::uint64_t start = 0;  ///< first pfn
  std::uint64_t frames = 0;
  unsigned max_order = 0;  ///< blocks of this order keep their records apart, in a small table
  std::uint32_t state_bytes = 0;
  std::uint32_t link_bytes = 0;
  const char* states = nullptr;  ///< per frame, state_bytes each
  const char* links = nullptr;   ///< per frame, link_bytes each

  [[nodiscard]] bool holds(std::uint64_t pfn) const { return pfn - start < frames; }
  /// Starts loading the records of the block of `order` at pfn and of its buddy; no effect on
  /// the state. Pfns outside the span are ignored.
  void prefetch(std::uint64_t pfn, unsigned order) const {
    if (!holds(pfn) || order >= max_order) {
      return;
    }
    const std::uint64_t i = pfn - start;
    __builtin_prefetch(states + i * state_bytes);
    const char* l = links + i * link_bytes;  // may straddle two cache lines: fetch both ends
    __builtin_prefetch(l);
    __builtin_prefetch(l + link_bytes - 1);
    // The buddy's state, which a free or a drain merges with (__free_one_page). Below order 5
    // the block and its buddy (2^(order+1) two-byte states) share the block's cache line.
    constexpr unsigned kSameLineOrders = 5;
    if (order >= kSameLineOrders) {
      const std::uint64_t b = (pfn ^ (std::uint64_t{1} << order)) - start;  // wraps when below
      if (b < frames) {
        __builtin_prefetch(states + b * state_bytes);
      }
    }
  }
};

class Model {
 public:
  /// Validates the configuration (throws std::invalid_argument with a reason), computes the
  /// watermarks, reserves and pcp limits not given, and seeds every managed page free
  /// (seed_all_free()).
  explicit Model(ModelConfig config);
  ~Model();
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  // --- geometry -------------------------------------------------------------------------
  [[nodiscard]] const ModelConfig& config() const;
  [[nodiscard]] std::size_t zone_count() const;
  [[nodiscard]] const ZoneConfig& zone_config(std::size_t zone) const;
  [[nodiscard]] std::optional<std::uint16_t> zone_of(Pfn pfn) const;
  /// Mobility grouping is disabled when there are fewer than pageblock_nr_pages *
  /// MIGRATE_TYPES pages (build_all_zonelists).
  [[nodiscard]] bool mobility_grouping_disabled() const;

  // --- seeding ----------------------------------------------------------------------------
  /// Resets the whole model to the snapshot: pcp lists empty, boosts as configured,
  /// highatomic reserve from the HighAtomic pageblocks.
  SeedReport seed(const Snapshot& snapshot);
  /// Resets the model with pages [start_pfn, start_pfn + managed_pages) of each zone free.
  void seed_all_free();

  // --- simulate: the kernel's policy picks the block --------------------------------------
  /// __alloc_pages for one request issued on `cpu` (§3-§8): zonelist of the CPU's node by
  /// gfp_zone, fast path, slow path, the reserves of __GFP_MEMALLOC and of the task (`task`:
  /// PF_MEMALLOC, a real-time task, an OOM victim), then the ReclaimPolicy for requests that
  /// may direct-reclaim.
  AllocResult allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner, const TaskContext& task = {});
  /// The same decisions, but the block is `prefer` when it is free (on the buddy lists, or a
  /// per-CPU list block of the order) in the zone that serves the request: the page the
  /// recording says the kernel's lists gave, whose order the model cannot see. Where it is not
  /// and the per-CPU lists follow the kernel's (PcpMode::Manual), a list gives its last block
  /// instead of its first: the first is the one the kernel takes next (its lists are LIFO), and
  /// taking it would displace that request too, and so on down the list.
  AllocResult allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner, Pfn prefer, const TaskContext& task = {});
  /// The recording says the kernel served [head, head + 2^order), where the model has no free
  /// block (the kernel's direct compaction made one, or its layout differs): the block's
  /// movable allocations move out as compaction moves them (to the free scanner's blocks, from
  /// the zone's end down to the block) and its per-CPU list blocks return to the buddy lists.
  /// False when something compaction cannot move holds a page of it (nothing moves), or the
  /// free scanner runs out (what moved stays moved). Needs a Reclaimer, told of every move.
  bool compact_block(Pfn head, unsigned order);
  /// Who direct reclaim asks for pages (not owned; nullptr: nothing reclaimable). A copy of the
  /// model starts without one.
  void set_reclaimer(Reclaimer* reclaimer);
  /// Watermark verdicts for a request, without side effects.
  [[nodiscard]] RequestCheck check_request(Gfp gfp, unsigned order, unsigned cpu, const TaskContext& task = {}) const;
  /// zone_watermark_fast() (with the high-mark short-cut and the boost rule of §5.3) for any
  /// flags, on one zone; `highest` is the request's gfp_zone.
  [[nodiscard]] WatermarkCheck watermark_check(std::uint16_t zone, unsigned order, AllocFlags flags,
                                               ZoneType highest) const;

  // --- mirror: the kernel's recorded choices ----------------------------------------------
  /// Allocates exactly [pfn, pfn + 2^order): from the pcp list holding it, or by splitting the
  /// free buddy block containing it (expand()); the other halves stay on their free lists.
  CarveResult carve(Pfn pfn, unsigned order, MigrateType migratetype, Owner owner);
  /// Frees an allocation (or seed pages): to the CPU's pcp list when pcp is on and the order
  /// has one, else __free_one_page with merging (§7.2, §9).
  FreeResult free(Pfn pfn, unsigned order, unsigned cpu);
  /// Splits an allocation into aligned pieces of new_order with the same owner and type
  /// (split_page, or the partial frees of a non-compound high-order page).
  SplitStatus split_allocation(Pfn head, unsigned new_order);
  /// mm_page_alloc_zone_locked with percpu_refill: the block goes from the buddy lists to the
  /// tail of `cpu`'s pcp list for (order, list_type).
  PcpResult pcp_refill(Pfn pfn, unsigned order, unsigned cpu, MigrateType list_type);
  /// mm_page_pcpu_drain: the pcp block goes back to the buddy lists (with merging).
  PcpResult pcp_drain(Pfn pfn, unsigned order);
  /// drain_pages(cpu) for every zone; returns the pages drained.
  std::uint64_t drain_cpu(unsigned cpu);
  /// drain_all_pages().
  std::uint64_t drain_all();
  /// mm/page_alloc.c:decay_pcp_high for `cpu` in every zone, as mm/vmstat.c:
  /// refresh_cpu_vm_stats runs it from vmstat_update each stat interval (simulate; mirror
  /// replays the recorded drains instead): high falls by an eighth towards high_min and the
  /// list is drained down to it. Returns whether any zone has more to do (vmstat_update
  /// re-arms itself while it has).
  bool decay_pcp_high(unsigned cpu);
  /// ZONE_RECLAIM_ACTIVE: kswapd's balance_pgdat sets it on the zones it balances
  /// (mm/vmscan.c:set_reclaim_active) and clears it when done; while set, nr_pcp_high shrinks
  /// pcp high and caps the list at 4 * batch.
  void set_reclaim_active(std::uint16_t zone, bool active);
  [[nodiscard]] bool reclaim_active(std::uint16_t zone) const;
  /// mm_page_alloc_extfrag with change_ownership, or any explicit type change: sets the
  /// pageblock's type and moves its free blocks (move_freepages_block). When pfn lies in a
  /// free block larger than a pageblock, all its pageblocks change (a claim of order >=
  /// pageblock_order). Keeps nr_reserved_highatomic in step when HighAtomic is involved.
  PageblockResult change_pageblock_type(Pfn pfn, MigrateType type);
  /// reserve_highatomic_pageblock() for the block of `order` the kernel served at pfn (not
  /// traced: mirror calls it where the kernel would, after a high-order non-blocking
  /// __GFP_HIGH allocation from the slow path). Returns true when a pageblock became HighAtomic.
  bool reserve_highatomic_pageblock(Pfn pfn, unsigned order);
  /// unreserve_highatomic_pageblock() on one zone (not traced by the kernel; offered for
  /// what-if runs). Returns true when a block was converted to `to`.
  bool unreserve_highatomic_pageblock(std::uint16_t zone, MigrateType to, bool force);

  // --- hints -----------------------------------------------------------------------------
  /// The records of the zone holding pfn (no frames when none does), for prefetching: a replay
  /// knows the pfns of the next events, and loading their records a few events ahead hides the
  /// cache miss of each event's random page.
  [[nodiscard]] MetadataSpan metadata_span(Pfn pfn) const;

  // --- watermarks -------------------------------------------------------------------------
  [[nodiscard]] Watermarks watermarks(std::uint16_t zone) const;
  [[nodiscard]] std::uint64_t watermark_boost(std::uint16_t zone) const;
  [[nodiscard]] const LowmemReserve& lowmem_reserve(std::uint16_t zone) const;
  [[nodiscard]] PcpLimits pcp_limits(std::uint16_t zone) const;
  void set_watermarks(std::uint16_t zone, const Watermarks& wm);
  void set_watermark_boost(std::uint16_t zone, std::uint64_t boost);
  /// mm/page_alloc.c:boost_watermark, as a fallback claim below pageblock order does it: the
  /// boost grows by a pageblock up to its cap (none with a boost factor of 0 or a zone under four
  /// pageblocks). Returns whether it grew.
  bool boost_watermark(std::uint16_t zone);
  /// Pages the zone's watermark checks count beyond its exact free pages (floored at 0), until set
  /// back to 0: a replay whose recording shows the kernel checked a request before its free
  /// lists changed (rmqueue_bulk refills a per-CPU list after the check and before the
  /// allocation's event) checks the model as the kernel did.
  void set_checked_free_bias(std::uint16_t zone, std::int64_t pages);
  /// The kernel's recomputed lowmem_reserve of a zone (zoneinfo's "protection:").
  void set_lowmem_reserve(std::uint16_t zone, const LowmemReserve& reserve);
  /// A zone that grew or shrank (deferred init, memory hotplug): its managed pages, clamped to
  /// its span. Reserves stay as they are; recompute_reserves() then gives what the kernel's
  /// init_per_zone_wmark_min() gives for the new sizes. Returns whether the size changed.
  bool set_managed_pages(std::uint16_t zone, std::uint64_t pages);
  /// Recomputes watermarks, lowmem_reserve and pcp limits of every zone from the tunables
  /// (after set_tunables, or to drop recorded values).
  void recompute_reserves();
  [[nodiscard]] const Tunables& tunables() const;
  /// Replaces the tunables; does not recompute (call recompute_reserves). Switching pcp to
  /// Off drains every per-cpu list first.
  void set_tunables(const Tunables& tunables);

  // --- queries ----------------------------------------------------------------------------
  [[nodiscard]] std::optional<BlockInfo> block_containing(Pfn pfn) const;
  /// block_containing(pfn)->state alone: without the block's owner or CPU, whose records a
  /// replay asking this on every event would otherwise fetch from memory.
  [[nodiscard]] std::optional<BlockState> block_state(Pfn pfn) const;
  [[nodiscard]] std::optional<MigrateType> pageblock_type(Pfn pfn) const;
  /// Compaction's fast_isolate_freepages() pick on the `mt` free list of `order` in the zone
  /// of `min_pfn` (mm/compaction.c): walking from the list's tail, at most `scan_limit`
  /// entries, the first block at or above `low_pfn`; failing that, the highest one seen at
  /// or above `min_pfn`. nullopt when neither exists.
  [[nodiscard]] std::optional<Pfn> fast_isolate_pick(unsigned order, MigrateType mt, Pfn min_pfn, Pfn low_pfn,
                                                     unsigned scan_limit) const;
  /// The heads of the blocks on one free list of a zone, from the list's head (O(its blocks)).
  [[nodiscard]] std::vector<Pfn> free_list(std::uint16_t zone, unsigned order, MigrateType mt) const;
  [[nodiscard]] ZoneMetrics metrics(std::uint16_t zone) const;
  /// Every pageblock of a zone, by pfn (O(pageblocks)).
  [[nodiscard]] std::vector<PageblockState> pageblocks(std::uint16_t zone) const;
  [[nodiscard]] std::uint64_t nr_free_pages(std::uint16_t zone) const;
  [[nodiscard]] std::uint64_t pcp_pages(std::uint16_t zone) const;
  [[nodiscard]] std::uint64_t pcp_count(std::uint16_t zone, unsigned cpu) const;
  /// pcp->high of a CPU's lists (as last clamped by the kernel's rules; 0 before any use).
  [[nodiscard]] std::int64_t pcp_high(std::uint16_t zone, unsigned cpu) const;
  /// watermarks, watermark_boost, nr_free_pages and pcp_pages of a zone in one call (a replay
  /// checks them after every allocation).
  [[nodiscard]] ZoneLevels levels(std::uint16_t zone) const;
  [[nodiscard]] const ModelCounters& counters() const;
  /// Bytes of model state (page metadata, pageblocks, lists) over all zones: the address
  /// space reserved for it, 14 bytes a page frame and a little more.
  [[nodiscard]] std::size_t metadata_bytes() const;
  /// The part of metadata_bytes() in memory: page metadata starts as zero pages and takes
  /// memory only where blocks below MAX_PAGE_ORDER were ever made (O(metadata pages), mincore).
  [[nodiscard]] std::size_t metadata_resident_bytes() const;
  /// Page frames the metadata covers (sum of spanned pages).
  [[nodiscard]] std::uint64_t page_frames() const;

  /// Full consistency check (O(pages)): lists, counts, buddy merging, ownership, pageblock
  /// counters. Returns a description of the first violation, or nullopt.
  [[nodiscard]] std::optional<std::string> check_invariants() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::allocator
