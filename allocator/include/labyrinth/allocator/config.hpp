// How a model is configured: geometry, zones, the recorded kernel's rules and the tunables
// that a what-if run may change.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// A zone's _watermark[] (without the boost).
struct Watermarks {
  std::uint64_t min = 0;
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  std::uint64_t promo = 0;
  friend bool operator==(const Watermarks&, const Watermarks&) = default;
};

/// zone->lowmem_reserve[], indexed by the ZoneType of the request's highest usable zone.
using LowmemReserve = std::array<std::uint64_t, kZoneTypes>;

/// Per-cpu pageset limits of a zone (identical for every CPU, as the kernel sets them).
struct PcpLimits {
  std::int64_t batch = 1;
  std::int64_t high_min = 0;
  std::int64_t high_max = 0;
  /// PCPF_FREE_HIGH_BATCH: set by the kernel when the LLC is large compared with batch
  /// (setup_pcp_cacheinfo); it relaxes the free_high heuristic.
  bool free_high_batch = false;
  friend bool operator==(const PcpLimits&, const PcpLimits&) = default;
};

struct ZoneConfig {
  int node = 0;
  ZoneType type = ZoneType::Normal;
  Pfn start_pfn{};
  std::uint64_t spanned_pages = 0;
  /// Pages that exist (0: same as managed_pages). Zonelists hold only zones with present pages.
  std::uint64_t present_pages = 0;
  std::uint64_t managed_pages = 0;
  /// As recorded (boost excluded). Unset: computed like __setup_per_zone_wmarks (docs/kernel-rules.md §6.3).
  std::optional<Watermarks> watermarks;
  std::uint64_t watermark_boost = 0;
  /// As recorded. Unset: computed like setup_per_zone_lowmem_reserve (docs/kernel-rules.md §6.4).
  std::optional<LowmemReserve> lowmem_reserve;
  /// As recorded. Unset: computed from zone_batchsize/zone_highsize (docs/kernel-rules.md §7.1).
  std::optional<PcpLimits> pcp;
};

/// Per-cpu lists: off, driven by the kernel's own rules (simulate), or only by explicit
/// refill/drain calls plus frees (mirror replay of mm_page_alloc_zone_locked and
/// mm_page_pcpu_drain).
enum class PcpMode : std::uint8_t { Off, Auto, Manual };

/// When the watermark boost goes back to 0. kswapd clears it after its (untraced) reclaim pass;
/// the model cannot know when, so it either clears it as soon as kswapd is woken for it, or
/// leaves it to the caller (set_watermark_boost).
enum class BoostReset : std::uint8_t { OnKswapdWake, Manual };

/// What a request that may direct-reclaim does when it misses the min watermark.
/// Kernel: the outcome of mm/page_alloc.c:__alloc_pages_slowpath (docs/kernel-rules.md §4.4):
/// direct reclaim from the model's Reclaimer, a pcp drain and a highatomic unreserve, the retry
/// rules of should_reclaim_retry, failure for __GFP_NORETRY, costly orders and
/// __GFP_RETRY_MAYFAIL, an OOM kill for the rest, never a failure for __GFP_NOFAIL.
/// Fail: fails at once (the watermark's verdict alone).
enum class ReclaimPolicy : std::uint8_t { Kernel, Fail };

struct Tunables {
  /// vm.min_free_kbytes. Unset: calculate_min_free_kbytes() from the zones (docs/kernel-rules.md §6.1).
  std::optional<std::uint64_t> min_free_kbytes;
  std::uint64_t watermark_scale_factor = 10;
  std::uint64_t watermark_boost_factor = 15000;
  /// vm.lowmem_reserve_ratio, by ZoneType.
  std::array<std::uint64_t, kZoneTypes> lowmem_reserve_ratio{256, 256, 32, 0, 0, 0};
  /// vm.percpu_pagelist_high_fraction (0: high from the low watermark).
  std::uint64_t percpu_pagelist_high_fraction = 0;
  /// The high-order atomic reserve (reserve_highatomic_pageblock).
  bool highatomic = true;
  PcpMode pcp = PcpMode::Auto;
  BoostReset boost_reset = BoostReset::OnKswapdWake;
  ReclaimPolicy reclaim = ReclaimPolicy::Kernel;
  /// Direct compaction in the slow path (allocator/src/compaction.cpp). Off by default: it is
  /// not yet calibrated against the kernel's own compaction (every pre-trace page in a Movable
  /// pageblock moves, no migration fails), and measured on real recordings it predicted fewer
  /// of the kernel's failures than no compaction (README, "Against the recording").
  bool compaction = false;
};

/// The parts of the algorithm that differ between kernel versions (docs/kernel-rules.md §12.1).
/// The fallback algorithm is always the 6.15+ claim/steal split (also in 6.12.95 stable).
struct KernelRules {
  /// __zone_watermark_unusable_free subtracts nr_free_highatomic (>= 6.12); false: the whole
  /// nr_reserved_highatomic (6.10, 6.11).
  bool unusable_counts_free_highatomic = true;
  /// K7 (7.3): ALLOC_HIGHATOMIC already on the fast path, highatomic requests skip the pcp
  /// refill, and the reserve is grown from rmqueue_buddy only.
  bool k7_highatomic = false;
  /// CONFIG_ZONE_DMA32: ALLOC_NOFRAGMENT exists (alloc_flags_nofragment).
  bool zone_dma32 = true;
  /// vm.defrag_mode (6.15+): NOFRAGMENT always, no retry without it.
  bool defrag_mode = false;
  /// HPAGE_PMD_ORDER when THP keeps pcp lists for it; unset: no THP pcp lists.
  std::optional<unsigned> pcp_pmd_order = 9;
  /// CONFIG_PCP_BATCH_SCALE_MAX.
  unsigned pcp_batch_scale_max = 5;
  /// free_frozen_page_commit's free_high needs free_count >= batch + high_min / 2 (6.16 and
  /// later: "mm: pcp: increase pcp->free_count threshold to trigger free_high"); false: the
  /// free_count >= batch of 6.8 to 6.15 (docs/kernel-rules.md §7.2).
  bool pcp_free_high_half_high_min = true;

  /// 6.12.x stable to 7.2 (this machine runs 6.18).
  [[nodiscard]] static KernelRules linux_6_12() { return KernelRules{}; }
  [[nodiscard]] static KernelRules linux_7_3() {
    KernelRules r;
    r.k7_highatomic = true;
    return r;
  }
};

struct ModelConfig {
  std::uint64_t page_size = 4096;
  unsigned max_order = 10;        ///< MAX_PAGE_ORDER, inclusive
  unsigned pageblock_order = 9;
  unsigned nr_cpus = 1;
  /// Node of each CPU (empty: every CPU on node 0).
  std::vector<int> cpu_to_node;
  /// Zones in any order; they must not overlap.
  std::vector<ZoneConfig> zones;
  GfpLayout gfp = GfpLayout::linux_6_10();
  Tunables tunables;
  KernelRules rules;
};

}  // namespace labyrinth::allocator
