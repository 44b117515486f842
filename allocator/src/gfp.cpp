// gfp mask -> zone, migratetype and ALLOC_* flags (docs/kernel-rules.md §3.1, §3.2, §4).
#include "labyrinth/allocator/gfp.hpp"

namespace labyrinth::allocator {

AllocFlags nonblocking_alloc_flags(Gfp gfp, unsigned order, const GfpLayout& l) {
  if ((gfp & (l.direct_reclaim | l.nomemalloc)) != 0) {
    return 0;
  }
  AllocFlags flags = alloc::kNonBlock;
  // The order > 0 test gained "&& __GFP_HIGH" in a stable fix ("Cc: stable"): GFP_NOWAIT
  // high-order requests do not grow the highatomic reserve.
  if (order > 0 && (gfp & l.high) != 0) {
    flags |= alloc::kHighAtomic;
  }
  return flags;
}

// gfp_to_alloc_flags() / alloc_flags_slowpath() with gfp_to_alloc_flags_cma().
AllocFlags slow_path_alloc_flags(Gfp gfp, unsigned order, const GfpLayout& l, bool grouping_disabled,
                                 const TaskContext& task) {
  AllocFlags flags = alloc::kWmarkMin | alloc::kCpuset;
  if ((gfp & l.high) != 0) {
    flags |= alloc::kMinReserve;
  }
  if ((gfp & l.kswapd_reclaim) != 0) {
    flags |= alloc::kKswapd;
  }
  if ((gfp & l.direct_reclaim) == 0) {
    flags |= nonblocking_alloc_flags(gfp, order, l);
    if ((flags & alloc::kMinReserve) != 0) {
      flags &= ~alloc::kCpuset;
    }
  } else if (task.realtime && task.in_task) {
    flags |= alloc::kMinReserve;
  }
  if (gfp_migratetype(gfp, l, grouping_disabled) == MigrateType::Movable) {
    flags |= alloc::kCma;
  }
  return flags;
}

AllocFlags pfmemalloc_alloc_flags(Gfp gfp, const GfpLayout& l, const TaskContext& task) {
  if ((gfp & l.nomemalloc) != 0) {
    return 0;
  }
  if ((gfp & l.memalloc) != 0) {
    return alloc::kNoWatermarks;
  }
  if (task.memalloc && (task.in_task || task.in_serving_softirq)) {
    return alloc::kNoWatermarks;
  }
  if (task.oom_victim && task.in_task) {
    return alloc::kOom;
  }
  return 0;
}

}  // namespace labyrinth::allocator
