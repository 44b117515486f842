#include "labyrinth/replay/direct_reclaim.hpp"

#include <algorithm>
#include <bit>

#include "labyrinth/replay/capture.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

bool direct_reclaim_recorded(const traces::TraceHeader& header) {
  return recorded(header, traces::EventKind::ReclaimBegin) && recorded(header, traces::EventKind::ReclaimEnd);
}

void DirectReclaimStats::add(const traces::PageEvent& e) {
  ++seen_;
  if (e.kind == traces::EventKind::ReclaimBegin) {
    began_[e.tid] = e.ts_ns;  // a begin without an end before it: the end was lost
    return;
  }
  const auto it = began_.find(e.tid);
  if (it == began_.end()) {
    ++begun_before_;
    return;
  }
  const std::uint64_t ns = e.ts_ns > it->second ? e.ts_ns - it->second : 0;
  began_.erase(it);
  for (ReclaimTally* t : {&total_, &by_process_[(std::uint64_t{e.pid} << 32) | e.comm_id]}) {
    ++t->stalls;
    t->reclaimed_pages += e.reclaimed_pages;
    t->stall_ns += ns;
    t->longest_ns = std::max(t->longest_ns, ns);
    if (e.reclaimed_pages == 0) ++t->fruitless;
  }
  const std::uint64_t us = ns / 1000;
  const std::size_t bucket = us == 0 ? 0 : static_cast<std::size_t>(std::bit_width(us) - 1);
  ++histogram_[std::min(bucket, kReclaimBuckets - 1)];
}

DirectReclaimSummary DirectReclaimStats::finish(const traces::TraceHeader& header, const traces::TraceReader& reader,
                                                std::size_t top_n) const {
  DirectReclaimSummary s;
  s.recorded = direct_reclaim_recorded(header) || seen_ != 0;
  s.total = total_;
  s.begun_before = begun_before_;
  s.unfinished = began_.size();
  s.histogram = histogram_;
  for (const auto& [key, tally] : by_process_) {
    s.by_process.push_back(ReclaimRow{static_cast<std::uint32_t>(key >> 32),
                                      std::string(reader.comm(static_cast<std::uint32_t>(key))), tally});
  }
  std::sort(s.by_process.begin(), s.by_process.end(), [](const ReclaimRow& a, const ReclaimRow& b) {
    if (a.tally.stall_ns != b.tally.stall_ns) return a.tally.stall_ns > b.tally.stall_ns;
    return a.pid != b.pid ? a.pid < b.pid : a.comm < b.comm;
  });
  if (top_n != 0 && s.by_process.size() > top_n) s.by_process.resize(top_n);
  return s;
}

}  // namespace labyrinth::replay
