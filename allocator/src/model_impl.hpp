// Internal: the state behind labyrinth::allocator::Model.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "zone.hpp"

namespace labyrinth::allocator {

/// A node's zonelist as seen by requests whose highest zone is one kind: only the zones they may
/// use, highest first, plus alloc_flags_nofragment()'s verdict for the preferred (first) zone.
struct ZonelistView {
  std::vector<std::uint16_t> zones;
  bool nofragment = false;
};

/// One allocation request on its way through the zonelist (struct alloc_context).
struct AllocContext {
  const std::vector<std::uint16_t>* zonelist = nullptr;
  bool nofragment = false;
  ZoneType highest = ZoneType::Normal;
  MigrateType mt = MigrateType::Unmovable;
  unsigned cpu = 0;
  unsigned order = 0;
  int preferred = -1;  ///< first usable zone, -1 when none
  /// A block to take when it is free in the zone that serves the request (Model::allocate's
  /// `prefer`); kNoPreference: the free lists' pick.
  std::uint64_t prefer = kNoPreference;
  static constexpr std::uint64_t kNoPreference = ~std::uint64_t{0};
};

struct Hit {
  std::uint32_t idx = detail::kNil;
  std::uint16_t zone = 0;
  BlockSource src = BlockSource::Buddy;
};

/// What one __perform_reclaim achieved: pages the Reclaimer freed in the model, and whether it
/// reported progress made outside the model (Reclaimer::progressed).
struct ReclaimProgress {
  std::uint64_t freed = 0;
  bool outside = false;
  [[nodiscard]] bool any() const { return freed != 0 || outside; }
};

/// A zone's direct-compaction state (struct zone's compact_* fields): the scanners' cached
/// positions, in pageblocks, and the deferral after failures (mm/compaction.c).
struct CompactionState {
  std::uint32_t migrate_pb = 0;
  std::uint32_t free_pb = 0;  ///< 0 with migrate_pb 0: reset on first use
  unsigned considered = 0;     ///< compact_considered
  unsigned defer_shift = 0;    ///< compact_defer_shift
  unsigned order_failed = 0;   ///< compact_order_failed
};

/// Frames [first, end) of a zone.
struct FrameRange {
  std::uint32_t first = 0;
  std::uint32_t end = 0;
  [[nodiscard]] bool overlaps(std::uint64_t from, std::uint64_t to) const { return from < end && to > first; }
};

struct Model::Impl {
  explicit Impl(ModelConfig config);
  Impl(const Impl& other);
  Impl& operator=(const Impl&) = delete;

  ModelConfig cfg;  ///< with every computed watermark, reserve and pcp limit filled in
  detail::Params params;
  std::vector<detail::Zone> zones;
  /// pfn ranges of the zones, sorted by start (a compact table for zone_for()).
  struct Span {
    std::uint64_t start;
    std::uint64_t end;
    std::uint16_t id;
  };
  std::vector<Span> by_start;
  std::vector<std::vector<std::uint16_t>> zonelists;   ///< per node, highest zone first
  std::vector<std::array<ZonelistView, kZoneTypes>> views;  ///< [node][highest zone kind]
  std::vector<int> cpu_node;
  int nr_nodes = 1;
  bool has_highmem = false;
  /// The zone of the last non-const lookup: consecutive events mostly hit the same zone.
  /// Const lookups only read it, so concurrent const use stays race-free.
  std::uint16_t last_zone = 0;
  Reclaimer* reclaimer = nullptr;
  std::vector<CompactionState> compaction;  ///< per zone, sized on first use

  [[nodiscard]] detail::Zone* zone_for(std::uint64_t pfn) {
    detail::Zone& z = zones[last_zone];
    if (pfn - z.start_ < z.end_ - z.start_) {
      return &z;
    }
    const detail::Zone* found = zone_search(pfn);
    if (found == nullptr) {
      return nullptr;
    }
    last_zone = found->id_;
    return &zones[found->id_];
  }
  [[nodiscard]] const detail::Zone* zone_for(std::uint64_t pfn) const {
    const detail::Zone& z = zones[last_zone];
    return pfn - z.start_ < z.end_ - z.start_ ? &z : zone_search(pfn);
  }
  [[nodiscard]] const detail::Zone* zone_search(std::uint64_t pfn) const;
  void resolve_reserves(bool keep_recorded);
  [[nodiscard]] PcpMode pcp_mode() const { return params.tunables.pcp; }

  // seed.cpp
  SeedReport seed(const Snapshot& snapshot);
  void reset_zone(detail::Zone& z) const;

  // page_alloc.cpp
  /// prepare_alloc_pages(): highest zone, migratetype, the CPU's node zonelist, preferred zone.
  [[nodiscard]] AllocContext prepare(Gfp gfp, unsigned order, unsigned cpu) const {
    AllocContext ac;
    ac.cpu = cpu;
    ac.order = order;
    ac.highest = gfp_zone(gfp, cfg.gfp, has_highmem);
    ac.mt = gfp_migratetype(gfp, cfg.gfp, params.grouping_disabled);
    const ZonelistView& v = views[static_cast<std::size_t>(cpu_node[cpu])][index_of(ac.highest)];
    ac.zonelist = &v.zones;
    ac.nofragment = v.nofragment;
    ac.preferred = v.zones.empty() ? -1 : v.zones.front();
    return ac;
  }
  [[nodiscard]] AllocFlags nofragment_flags(const AllocContext& ac, Gfp gfp) const {
    return ((gfp & cfg.gfp.kswapd_reclaim) != 0 ? alloc::kKswapd : 0u) | (ac.nofragment ? alloc::kNoFragment : 0u);
  }
  /// What prepare() and the fast path's first flags make of one mask on one node, kept for the
  /// last pair asked: a recording's requests mostly repeat one mask. (A copy starts empty.)
  struct GfpMemo {
    Gfp gfp = 0;
    int node = -1;  ///< -1: nothing kept
    AllocContext ac;
    AllocFlags fast = 0;
  };
  GfpMemo gfp_memo;
  /// The memo of (gfp, cpu's node), filled first if it holds another pair: its ac is
  /// prepare(gfp, 0, cpu) but for cpu and order, its fast ALLOC_WMARK_LOW |
  /// alloc_flags_nofragment | CMA for a movable request (the fast path's flags before the K7
  /// highatomic bit).
  [[gnu::always_inline]] const GfpMemo& prepare_fast(Gfp gfp, unsigned cpu) {
    const int node = cpu_node[cpu];
    if (gfp != gfp_memo.gfp || node != gfp_memo.node) {
      gfp_memo.ac = prepare(gfp, 0, cpu);
      gfp_memo.fast = alloc::kWmarkLow | nofragment_flags(gfp_memo.ac, gfp) |
                      (gfp_memo.ac.mt == MigrateType::Movable ? alloc::kCma : 0u);
      gfp_memo.gfp = gfp;
      gfp_memo.node = node;
    }
    return gfp_memo;
  }
  void build_views();
  Hit get_page_from_freelist(const AllocContext& ac, AllocFlags flags, Owner owner);
  /// The same walk inline, for the fast path that every request takes.
  [[gnu::always_inline]] inline Hit walk_zonelist(const AllocContext& ac, AllocFlags flags, Owner owner);
  [[gnu::always_inline]] inline Hit rmqueue(detail::Zone& z, const AllocContext& ac, AllocFlags flags, bool& from_buddy);
  [[nodiscard]] std::pair<AllocFailure, std::uint16_t> classify(const AllocContext& ac, AllocFlags flags,
                                                                bool watermarks_ignored) const;
  AllocResult allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner,
                       std::uint64_t prefer = AllocContext::kNoPreference, const TaskContext& task = {});
  [[gnu::always_inline]] inline bool take_preferred(detail::Zone& z, const AllocContext& ac, Hit& h);
  AllocResult allocate_slowpath(const AllocContext& ac, Gfp gfp, Owner owner, AllocResult r, const TaskContext& task);
  AllocResult direct_reclaim_path(const AllocContext& ac, Gfp gfp, AllocFlags slow, Owner owner, AllocResult r);
  ReclaimProgress perform_reclaim(const AllocContext& ac);
  bool unreserve_highatomic(const AllocContext& ac, bool force);
  [[nodiscard]] bool reclaim_could_pass(const AllocContext& ac, AllocFlags flags) const;
  AllocResult success(const Hit& h, AllocPath path, AllocResult r);

  // compaction.cpp
  /// try_to_compact_pages + the allocation after it; `tried`: some zone was compacted.
  Hit direct_compact(const AllocContext& ac, AllocFlags flags, Owner owner, bool sync, bool& tried);
  bool compact_zone(detail::Zone& z, const AllocContext& ac, bool sync);
  [[nodiscard]] bool compaction_suitable(const detail::Zone& z, unsigned order, std::uint64_t mark,
                                         ZoneType highest) const;
  std::uint32_t isolate_free_page(detail::Zone& z, CompactionState& cs, std::uint32_t floor, unsigned order,
                                  std::span<const FrameRange> avoid = {});
  bool empty_block(detail::Zone& z, std::uint32_t first, unsigned order, std::span<const FrameRange> avoid);
  [[nodiscard]] std::optional<Pfn> home_pfn(const detail::Zone& z, std::uint32_t from, unsigned order) const;
  std::uint32_t home_frame(const detail::Zone& z, std::uint32_t from, unsigned order,
                           std::span<const FrameRange> busy) const;
  std::uint32_t take_home_frame(detail::Zone& z, std::uint32_t from, unsigned order, std::span<const FrameRange> busy);
  void migrate_page(detail::Zone& z, std::uint32_t from, detail::Zone& to, std::uint32_t target, unsigned order);
  bool move_home_across_zones(detail::Zone& z, std::uint32_t from, unsigned order);

  // mirror.cpp
  bool take_seed_range(detail::Zone& z, std::uint32_t idx, unsigned order);
  bool route_free(detail::Zone& z, std::uint32_t idx, unsigned order, unsigned cpu);
  bool free_to_recorded_pcp(detail::Zone& z, std::uint32_t idx, detail::PageState s, unsigned cpu, FreeResult& r);
  /// Model::free; kRecordedPcp: PcpMode::Manual.
  template <bool kRecordedPcp>
  FreeResult free_block(Pfn pfn, unsigned order, unsigned cpu);
};

}  // namespace labyrinth::allocator
