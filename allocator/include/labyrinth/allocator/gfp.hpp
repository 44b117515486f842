// GFP bits (runtime layout, because it changes between kernels), the ALLOC_* flags and the
// kernel's mapping from one to the other (docs/kernel-rules.md §2-§4).
#pragma once

#include <cstdint>

#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// A gfp mask as recorded (the tracepoint's `unsigned long gfp_flags`).
using Gfp = std::uint64_t;

/// Where each __GFP_* flag the model reads sits in the recorded kernel's gfp mask. A flag the
/// kernel lacks has the value 0. Field names follow labyrinth::traces::GfpBits.
struct GfpLayout {
  Gfp dma = 0;             ///< __GFP_DMA
  Gfp highmem = 0;         ///< __GFP_HIGHMEM
  Gfp dma32 = 0;           ///< __GFP_DMA32
  Gfp movable = 0;         ///< __GFP_MOVABLE
  Gfp reclaimable = 0;     ///< __GFP_RECLAIMABLE
  Gfp high = 0;            ///< __GFP_HIGH
  Gfp io = 0;              ///< __GFP_IO
  Gfp fs = 0;              ///< __GFP_FS
  Gfp direct_reclaim = 0;  ///< __GFP_DIRECT_RECLAIM
  Gfp kswapd_reclaim = 0;  ///< __GFP_KSWAPD_RECLAIM
  Gfp nowarn = 0;          ///< __GFP_NOWARN
  Gfp retry_mayfail = 0;   ///< __GFP_RETRY_MAYFAIL
  Gfp nofail = 0;          ///< __GFP_NOFAIL
  Gfp noretry = 0;         ///< __GFP_NORETRY
  Gfp memalloc = 0;        ///< __GFP_MEMALLOC
  Gfp comp = 0;            ///< __GFP_COMP
  Gfp nomemalloc = 0;      ///< __GFP_NOMEMALLOC
  Gfp hardwall = 0;        ///< __GFP_HARDWALL
  Gfp thisnode = 0;        ///< __GFP_THISNODE

  /// include/linux/gfp_types.h of 6.10 and later (docs/kernel-rules.md §2.1). Bits 0..23 are the
  /// same from 6.3 on, and apart from bit 9 (__GFP_ATOMIC, which the model does not read) also
  /// before, so this table serves every kernel the model's rules describe (6.3+).
  [[nodiscard]] static constexpr GfpLayout linux_6_10() {
    GfpLayout l;
    l.dma = 0x1;
    l.highmem = 0x2;
    l.dma32 = 0x4;
    l.movable = 0x8;
    l.reclaimable = 0x10;
    l.high = 0x20;
    l.io = 0x40;
    l.fs = 0x80;
    l.direct_reclaim = 0x400;
    l.kswapd_reclaim = 0x800;
    l.nowarn = 0x2000;
    l.retry_mayfail = 0x4000;
    l.nofail = 0x8000;
    l.noretry = 0x10000;
    l.memalloc = 0x20000;
    l.comp = 0x40000;
    l.nomemalloc = 0x80000;
    l.hardwall = 0x100000;
    l.thisnode = 0x200000;
    return l;
  }

  // Composite masks of include/linux/gfp_types.h, in this layout.
  [[nodiscard]] constexpr Gfp reclaim() const { return direct_reclaim | kswapd_reclaim; }
  [[nodiscard]] constexpr Gfp atomic() const { return high | kswapd_reclaim; }            ///< GFP_ATOMIC
  [[nodiscard]] constexpr Gfp kernel() const { return reclaim() | io | fs; }             ///< GFP_KERNEL
  [[nodiscard]] constexpr Gfp nowait() const { return kswapd_reclaim | nowarn; }         ///< GFP_NOWAIT
  [[nodiscard]] constexpr Gfp user() const { return kernel() | hardwall; }               ///< GFP_USER
  [[nodiscard]] constexpr Gfp highuser_movable() const { return user() | highmem | movable; }
};

/// ALLOC_* flags (mm/internal.h in 6.12, mm/page_alloc.h in 7.x; docs/kernel-rules.md §4.1).
using AllocFlags = unsigned;
namespace alloc {
inline constexpr AllocFlags kWmarkMin = 0x0;
inline constexpr AllocFlags kWmarkLow = 0x1;
inline constexpr AllocFlags kWmarkHigh = 0x2;
inline constexpr AllocFlags kWmarkMask = 0x3;
inline constexpr AllocFlags kNoWatermarks = 0x4;
inline constexpr AllocFlags kOom = 0x8;
inline constexpr AllocFlags kNonBlock = 0x10;
inline constexpr AllocFlags kMinReserve = 0x20;
inline constexpr AllocFlags kCpuset = 0x40;
inline constexpr AllocFlags kCma = 0x80;
inline constexpr AllocFlags kNoFragment = 0x100;
inline constexpr AllocFlags kHighAtomic = 0x200;
inline constexpr AllocFlags kKswapd = 0x800;
/// ALLOC_RESERVES: the flags that may go below the min watermark.
inline constexpr AllocFlags kReserves = kNonBlock | kMinReserve | kHighAtomic | kOom;
}  // namespace alloc

/// Which watermark an ALLOC_WMARK_* index names.
enum class Watermark : std::uint8_t { Min = 0, Low = 1, High = 2 };

/// gfp_zone() (include/linux/gfp.h, GFP_ZONE_TABLE): the highest zone kind the request may use.
/// __GFP_HIGHMEM means Normal on a kernel without HIGHMEM (has_highmem false). Invalid
/// combinations (two of DMA/DMA32/HIGHMEM) resolve to the lowest zone named.
[[nodiscard]] constexpr ZoneType gfp_zone(Gfp gfp, const GfpLayout& l, bool has_highmem) {
  if ((gfp & l.dma) != 0) {
    return ZoneType::Dma;
  }
  if ((gfp & l.dma32) != 0) {
    return ZoneType::Dma32;
  }
  if ((gfp & l.highmem) != 0) {
    if ((gfp & l.movable) != 0) {
      return ZoneType::Movable;
    }
    return has_highmem ? ZoneType::HighMem : ZoneType::Normal;
  }
  return ZoneType::Normal;  // also __GFP_MOVABLE alone
}

/// gfp_migratetype(): Unmovable, Movable or Reclaimable from __GFP_MOVABLE/__GFP_RECLAIMABLE.
/// Both bits set is a kernel bug; the model treats it as Unmovable. With mobility grouping
/// disabled every request is Unmovable (page_group_by_mobility_disabled).
[[nodiscard]] constexpr MigrateType gfp_migratetype(Gfp gfp, const GfpLayout& l, bool grouping_disabled = false) {
  const bool movable = (gfp & l.movable) != 0;
  const bool reclaimable = (gfp & l.reclaimable) != 0;
  if (grouping_disabled || movable == reclaimable) {
    return MigrateType::Unmovable;
  }
  return movable ? MigrateType::Movable : MigrateType::Reclaimable;
}

/// What __alloc_pages reads from `current` and from where it runs, besides the gfp mask
/// (docs/kernel-rules.md §4.3); a recording's allocation events carry it (trace format 1.4).
/// The default is a plain task, as for a trace that does not say.
struct TaskContext {
  bool in_task = true;              ///< in_task(): neither in an interrupt nor serving a softirq
  bool in_serving_softirq = false;  ///< in_serving_softirq()
  bool memalloc = false;            ///< current->flags & PF_MEMALLOC (reclaim's own allocations)
  bool realtime = false;            ///< rt_or_dl_task(current)
  bool oom_victim = false;          ///< tsk_is_oom_victim(current)
};

/// Slow-path flags: K6 mm/page_alloc.c:gfp_to_alloc_flags, K7 alloc_flags_slowpath +
/// alloc_flags_nonblocking, plus gfp_to_alloc_flags_cma (docs/kernel-rules.md §4.3). A
/// real-time task that may reclaim gets ALLOC_MIN_RESERVE in task context.
[[nodiscard]] AllocFlags slow_path_alloc_flags(Gfp gfp, unsigned order, const GfpLayout& layout,
                                               bool grouping_disabled = false, const TaskContext& task = {});

/// Non-blocking part of the slow path (K7 alloc_flags_nonblocking): ALLOC_NON_BLOCK unless
/// __GFP_NOMEMALLOC, and ALLOC_HIGHATOMIC for order > 0 __GFP_HIGH requests.
[[nodiscard]] AllocFlags nonblocking_alloc_flags(Gfp gfp, unsigned order, const GfpLayout& layout);

/// __gfp_pfmemalloc_flags(): nothing with __GFP_NOMEMALLOC; ALLOC_NO_WATERMARKS for
/// __GFP_MEMALLOC, for PF_MEMALLOC outside hard irqs (a softirq serving one included), and
/// ALLOC_OOM for an OOM victim in task context; else 0. (A task with bottom halves disabled is
/// in_interrupt() for the kernel; the trace calls it a task: taken as one.)
[[nodiscard]] AllocFlags pfmemalloc_alloc_flags(Gfp gfp, const GfpLayout& layout, const TaskContext& task = {});

}  // namespace labyrinth::allocator
