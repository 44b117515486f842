// Internal: the BPF record -> PageEvent conversion at the ebpf/ boundary.
#pragma once

#include <string_view>

#include "bpf/page_record.h"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::ebpf::detail {

inline traces::ExecContext to_exec_context(std::uint8_t ctx) {
  switch (ctx & PGREC_CTX_MASK) {
    case PGREC_CTX_TASK: return traces::ExecContext::Task;
    case PGREC_CTX_SOFTIRQ: return traces::ExecContext::Softirq;
    case PGREC_CTX_HARDIRQ: return traces::ExecContext::Hardirq;
    case PGREC_CTX_NMI: return traces::ExecContext::Nmi;
    default: return traces::ExecContext::Unknown;
  }
}

// A PGREC_ZONE_STATE record as the ZoneCounters event it carries (layout in page_record.h).
inline traces::PageEvent to_zone_counters(const pgrec_event& r) {
  traces::ZoneCounters c;
  c.node = r.ctx >> PGREC_ZONE_NODE_SHIFT;
  c.zone_index = r.ctx & PGREC_ZONE_INDEX_MASK;
  c.free_pages = r.pfn;
  c.highatomic_free = r.gfp;
  c.highatomic_reserved = r.stack;
  c.boost = r.tid;
  c.lists = std::uint64_t{r.tgid} | std::uint64_t{r.order} << 32 |
            std::uint64_t{static_cast<std::uint8_t>(r.migratetype)} << 40;
  const auto diffs = static_cast<std::int16_t>(static_cast<std::uint16_t>(static_cast<std::uint8_t>(r.fb_order)) |
                                               static_cast<std::uint16_t>(static_cast<std::uint8_t>(r.fb_migratetype)) << 8);
  if (diffs != PGREC_DIFFS_UNKNOWN) c.free_diffs = diffs;
  return traces::zone_counters_event(r.ts_ns, r.cpu, c);
}

// false if the record is not a known kind (it is then skipped and counted).
inline bool to_page_event(const pgrec_event& r, traces::PageEvent& e) {
  if (r.kind == PGREC_ZONE_STATE) {
    e = to_zone_counters(r);
    return true;
  }
  if (r.kind >= PGREC_NR_KINDS || r.kind == PGREC_COMM) return false;
  e = traces::PageEvent{};
  e.ts_ns = r.ts_ns;
  e.pfn = r.pfn;
  e.pid = r.tgid;
  e.tid = r.tid;
  e.stack_id = r.stack;
  e.cpu = r.cpu;
  e.kind = static_cast<traces::EventKind>(r.kind);
  e.ctx = to_exec_context(r.ctx);
  e.order = r.order;
  e.migratetype = r.migratetype;
  switch (e.kind) {
    case traces::EventKind::Alloc:
      e.gfp = r.gfp;
      e.task_state = static_cast<std::uint8_t>(static_cast<std::uint8_t>(r.fb_order) & traces::kTaskStateMask);
      break;
    case traces::EventKind::Extfrag:
      e.fallback_migratetype = r.fb_migratetype;
      if ((r.ctx & PGREC_FLAG_PAGEBLOCK_MOVE) != 0) {
        e.kind = traces::EventKind::PageblockMove;
        e.order = 0;
        break;
      }
      e.fallback_order = r.fb_order < 0 ? std::uint8_t{0} : static_cast<std::uint8_t>(r.fb_order);
      e.change_ownership = (r.ctx & PGREC_FLAG_CHANGE_OWNER) != 0;
      break;
    case traces::EventKind::PcpRefill:
      e.percpu_refill = (r.ctx & PGREC_FLAG_PERCPU_REFILL) != 0;
      break;
    case traces::EventKind::Isolate:
      e.range_pages = r.stack;
      e.taken_pages = r.gfp;
      e.isolate_source = (r.ctx & PGREC_FLAG_PUTBACK) != 0          ? traces::IsolateSource::Putback
                         : (r.ctx & PGREC_FLAG_ISOLATE_BLOCK) != 0  ? traces::IsolateSource::Block
                         : (r.ctx & PGREC_FLAG_FAST_ISOLATE) != 0   ? traces::IsolateSource::FastScan
                                                                    : traces::IsolateSource::BlockScan;
      e.stack_id = traces::kNoStack;
      break;
    case traces::EventKind::ReclaimBegin:
      e.pfn = 0;
      e.gfp = r.gfp;
      break;
    case traces::EventKind::ReclaimEnd:
      e.pfn = 0;
      e.reclaimed_pages = r.gfp;
      e.order = 0;
      break;
    case traces::EventKind::KswapdWake:
      e.pfn = 0;
      e.gfp = r.gfp;  // the node
      break;
    case traces::EventKind::KswapdSleep:
      e.pfn = 0;
      e.gfp = r.gfp;
      e.order = 0;
      break;
    default:
      break;
  }
  return true;
}

// The kind of a raw 40-byte record (the byte at offset 34 in every layout).
inline std::uint8_t record_kind(const pgrec_event& r) { return r.kind; }

inline std::string_view comm_of(const pgrec_comm& c) {
  std::size_t len = 0;
  while (len < sizeof c.comm && c.comm[len] != 0) ++len;
  return {c.comm, len};
}

}  // namespace labyrinth::ebpf::detail
