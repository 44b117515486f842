#include "labyrinth/replay/page_stats.hpp"

#include <algorithm>
#include <bit>

#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/replay/model_setup.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

using traces::EventKind;
using traces::PageEvent;

PageStats::PageStats(const traces::TraceHeader& header) : header_(header), bits_(traces::GfpBits::from(header.gfp_table)) {
  std::uint64_t max_pfn = 0;
  for (const auto& zone : header.zones) max_pfn = std::max(max_pfn, zone.start_pfn + zone.spanned_pages);
  const std::uint64_t words = (std::min<std::uint64_t>(max_pfn, kDenseLimit) + 63) / 64;
  grow_live(static_cast<std::size_t>(words));
}

namespace {

// `a` resized to n elements, the new ones zero; copies only the pages that were written.
void grow_zeroed(allocator::ZeroedArray<std::uint64_t>& a, std::size_t n) {
  if (n <= a.size()) return;
  allocator::ZeroedArray<std::uint64_t> bigger(n);
  allocator::zeroed::copy_written(bigger.data(), a.data(), a.bytes());
  a = std::move(bigger);
}

}  // namespace

void PageStats::grow_live(std::size_t words) {
  grow_zeroed(live_bits_, words);
  grow_zeroed(high_order_bits_, words);
  grow_zeroed(high_order_words_, (words + 63) / 64);
  dense_words_ = std::min<std::uint64_t>(live_bits_.size(), kDenseLimit >> 6);
}

Tally& PageStats::gfp_tally(std::uint64_t gfp) {
  if (gfp != last_gfp_) {
    last_gfp_ = gfp;
    last_gfp_tally_ = &gfp_[gfp];
  }
  return *last_gfp_tally_;
}

Tally& PageStats::process_tally(std::uint32_t pid, std::uint32_t comm_id) {
  const std::uint64_t key = (std::uint64_t{pid} << 32) | comm_id;
  if (key != last_process_) {
    last_process_ = key;
    last_process_tally_ = &process_[key];
  }
  return *last_process_tally_;
}

// The common allocation: an order-0 page in the bitmap that was not live. Everything else
// (a high order, a double allocation, a pfn outside the bitmap) takes the full path.
inline void PageStats::track_alloc(std::uint64_t pfn, unsigned order) {
  const std::uint64_t word = pfn >> 6;
  if (word < dense_words_ && order == 0) {
    std::uint64_t& live = live_bits_[static_cast<std::size_t>(word)];
    const std::uint64_t bit = std::uint64_t{1} << (pfn & 63);
    if ((live & bit) == 0) {
      live |= bit;
      ++live_dense_;
      return;
    }
  }
  track_alloc_fully(pfn, order);
}

void PageStats::track_alloc_fully(std::uint64_t pfn, unsigned order) {
  if (pfn >= kDenseLimit) {
    auto [it, inserted] = live_sparse_.try_emplace(pfn, static_cast<std::uint8_t>(order));
    if (!inserted) {
      r_.quality.add(DataQuality::double_alloc);
      it->second = static_cast<std::uint8_t>(order);
    }
    return;
  }
  const std::size_t word = static_cast<std::size_t>(pfn >> 6);
  const std::uint64_t bit = std::uint64_t{1} << (pfn & 63);
  if (word >= live_bits_.size()) grow_live(std::max(word + 1, live_bits_.size() * 2));
  std::uint64_t& live = live_bits_[word];
  // A high-order bit is only ever set on a live head, so a page that is not live has none.
  if ((live & bit) != 0) {
    r_.quality.add(DataQuality::double_alloc);
    if (order == 0 && (high_order_bits_[word] & bit) != 0) {
      if ((high_order_bits_[word] &= ~bit) == 0) high_order_words_[word >> 6] &= ~(std::uint64_t{1} << (word & 63));
      high_order_.erase(pfn);
    }
  } else {
    ++live_dense_;
  }
  live |= bit;
  if (order != 0) {
    high_order_bits_[word] |= bit;
    high_order_words_[word >> 6] |= std::uint64_t{1} << (word & 63);
    high_order_[pfn] = static_cast<std::uint8_t>(order);
  }
}

// The common free: an order-0 page that is live in the bitmap, among 64 frames of which
// none is the head of a higher order. Everything else takes the full path.
inline void PageStats::track_free(std::uint64_t pfn, unsigned order) {
  const std::uint64_t word = pfn >> 6;
  if (word < dense_words_ && order == 0 &&
      (high_order_words_[static_cast<std::size_t>(word >> 6)] & (std::uint64_t{1} << (word & 63))) == 0) {
    std::uint64_t& live = live_bits_[static_cast<std::size_t>(word)];
    const std::uint64_t bit = std::uint64_t{1} << (pfn & 63);
    if ((live & bit) != 0) {
      live &= ~bit;
      --live_dense_;
      ++r_.alloc_freed;
      return;
    }
  }
  track_free_fully(pfn, order);
}

void PageStats::track_free_fully(std::uint64_t pfn, unsigned order) {
  bool live = false;
  unsigned allocated_order = 0;
  if (pfn >= kDenseLimit) {
    if (auto it = live_sparse_.find(pfn); it != live_sparse_.end()) {
      live = true;
      allocated_order = it->second;
      live_sparse_.erase(it);
    }
  } else {
    const std::size_t word = static_cast<std::size_t>(pfn >> 6);
    const std::uint64_t bit = std::uint64_t{1} << (pfn & 63);
    if (word < live_bits_.size() && (live_bits_[word] & bit) != 0) {
      live = true;
      live_bits_[word] &= ~bit;
      --live_dense_;
      if ((high_order_words_[word >> 6] & (std::uint64_t{1} << (word & 63))) != 0 && (high_order_bits_[word] & bit) != 0) {
        if ((high_order_bits_[word] &= ~bit) == 0) high_order_words_[word >> 6] &= ~(std::uint64_t{1} << (word & 63));
        if (auto it = high_order_.find(pfn); it != high_order_.end()) {
          allocated_order = it->second;
          high_order_.erase(it);
        }
      }
    }
  }
  if (!live) {
    ++r_.free_only;
    r_.quality.add(DataQuality::free_of_unknown_page);
    return;
  }
  ++r_.alloc_freed;
  if (allocated_order != order) r_.quality.add(DataQuality::free_order_mismatch);
}

void PageStats::flush_alloc_run() {
  AllocEventRun& run = alloc_run_;
  if (run.n == 0) return;
  const std::uint64_t pages = run.n << run.order;
  for (Tally* t : run.rows) {
    if (t == nullptr) continue;
    t->allocations += run.n;
    t->pages += pages;
  }
  run.n = 0;
}

void PageStats::flush_free_run() {
  FreeEventRun& run = free_run_;
  if (run.n == 0) return;
  const std::uint64_t pages = run.n << run.order;
  for (Tally* t : run.rows) {
    t->frees += run.n;
    t->freed_pages += pages;
  }
  run.n = 0;
}

void PageStats::start_alloc_run(const PageEvent& e, std::uint64_t who, std::uint64_t shape, unsigned order) {
  AllocEventRun& run = alloc_run_;
  flush_alloc_run();
  // Hash lookups only for the keys that changed.
  if (e.gfp != run.gfp || run.rows[3] == nullptr) run.rows[3] = &gfp_tally(e.gfp);
  if (who != run.who || run.rows[4] == nullptr) run.rows[4] = &process_tally(e.pid, e.comm_id);
  if (shape != run.shape) run.rows[5] = e.stack_id != traces::kNoStack ? &stack_[e.stack_id] : nullptr;
  run.gfp = e.gfp;
  run.who = who;
  run.shape = shape;
  run.order = order;
  run.rows[0] = &r_.total;
  run.rows[1] = &order_type_[order][static_cast<std::size_t>(e.migratetype + 1) & (kTypes - 1)];
  run.rows[2] = &context_[static_cast<std::size_t>(e.ctx)];
}

void PageStats::start_free_run(const PageEvent& e, std::uint64_t who, std::uint64_t shape, unsigned order) {
  FreeEventRun& run = free_run_;
  flush_free_run();
  if (who != run.who || run.rows[0] == nullptr) run.rows[1] = &process_tally(e.pid, e.comm_id);
  run.who = who;
  run.shape = shape;
  run.order = order;
  run.rows[0] = &r_.total;
  run.rows[2] = &context_[static_cast<std::size_t>(e.ctx)];
}

void PageStats::add(const PageEvent& e) { add(std::span<const PageEvent>(&e, 1)); }

void PageStats::count_between(const traces::Snapshot& start, const traces::Snapshot& end) {
  if (start.vmstat.empty() || end.vmstat.empty() || end.vmstat_ts_ns <= start.vmstat_ts_ns) return;
  counted_from_ns_ = start.vmstat_ts_ns;
  counted_to_ns_ = end.vmstat_ts_ns;
}

void PageStats::count_outside(std::span<const PageEvent> events) {
  for (const PageEvent& e : events) {
    if (e.ts_ns >= counted_from_ns_ && e.ts_ns <= counted_to_ns_) continue;
    const std::uint64_t pages = std::uint64_t{1} << (e.order & (kOrders - 1));
    if (e.kind == EventKind::Alloc && e.pfn != traces::kFailedPfn) outside_allocated_pages_ += pages;
    if (e.kind == EventKind::Free) outside_freed_pages_ += pages;
  }
}

void PageStats::add(std::span<const PageEvent> events, bool in_time_order) {
  if (events.empty()) return;
  note_times(events, in_time_order);
  if (counted_to_ns_ != 0 &&
      (!in_time_order || events.front().ts_ns < counted_from_ns_ || events.back().ts_ns > counted_to_ns_)) {
    count_outside(events);
  }
  // The live bitmap is larger than L2 and pfns jump around it: ask for the word of an
  // event a few places ahead so that it is in cache when its turn comes.
  constexpr std::size_t kAhead = 8;
  const std::size_t n = events.size();
  std::size_t i = 0;
  for (; i + kAhead < n; ++i) {
    if (const std::uint64_t word = events[i + kAhead].pfn >> 6; word < dense_words_) {
      __builtin_prefetch(&live_bits_[static_cast<std::size_t>(word)], 1);
    }
    add_one(events[i]);
  }
  for (; i < n; ++i) add_one(events[i]);
}

// The capture's first and last times and its events out of time order. In a span the decoder
// found in order, only its first event can be older than the one before it.
void PageStats::note_times(std::span<const PageEvent> events, bool in_time_order) {
  auto note = [this](std::uint64_t ts) {
    if (ts < prev_ts_) r_.quality.add(DataQuality::out_of_order_events);
    prev_ts_ = ts;
    r_.first_ts_ns = std::min(r_.first_ts_ns, ts);
    r_.last_ts_ns = std::max(r_.last_ts_ns, ts);
  };
  if (r_.events == 0) r_.first_ts_ns = events.front().ts_ns;
  r_.events += events.size();
  if (!in_time_order) {
    for (const PageEvent& e : events) note(e.ts_ns);
    return;
  }
  note(events.front().ts_ns);
  note(events.back().ts_ns);
}

inline void PageStats::add_one(const PageEvent& e) {
  const unsigned order = e.order & (kOrders - 1);
  if (e.kind == EventKind::Alloc && e.pfn != traces::kFailedPfn) {
    const std::uint64_t who = (std::uint64_t{e.pid} << 32) | e.comm_id;
    const std::uint64_t shape = (std::uint64_t{e.stack_id} << 32) | (std::uint64_t{static_cast<std::uint8_t>(e.ctx)} << 16) |
                                (order << 8) | (static_cast<unsigned>(e.migratetype + 1) & (kTypes - 1));
    if (e.gfp != alloc_run_.gfp || who != alloc_run_.who || shape != alloc_run_.shape) {
      start_alloc_run(e, who, shape, order);
    }
    ++alloc_run_.n;
    track_alloc(e.pfn, order);
  } else if (e.kind == EventKind::Free) {
    const std::uint64_t who = (std::uint64_t{e.pid} << 32) | e.comm_id;
    const std::uint64_t shape = (std::uint64_t{static_cast<std::uint8_t>(e.ctx)} << 8) | order;
    if (who != free_run_.who || shape != free_run_.shape) start_free_run(e, who, shape, order);
    ++free_run_.n;
    track_free(e.pfn, order);
  } else {
    add_other(e, order);
  }
}

void PageStats::add_other(const PageEvent& e, unsigned order) {
  const std::uint64_t pages = std::uint64_t{1} << order;
  switch (e.kind) {
    case EventKind::Alloc: {  // a failure: the successes are counted by add_one
      Tally& ot = order_type_[order][static_cast<std::size_t>(e.migratetype + 1) & (kTypes - 1)];
      Tally& ct = context_[static_cast<std::size_t>(e.ctx)];
      Tally& gt = gfp_tally(e.gfp);
      Tally& pt = process_tally(e.pid, e.comm_id);
      Tally* st = e.stack_id != traces::kNoStack ? &stack_[e.stack_id] : nullptr;
      for (Tally* t : {&r_.total, &ot, &ct, &gt, &pt, st}) {
        if (t == nullptr) continue;
        ++t->failures;
        t->failed_pages += pages;
      }
      const auto cls = static_cast<std::size_t>(classify(e.gfp, order, bits_));
      ++r_.failures_by_class[cls];
      r_.failed_pages_by_class[cls] += pages;
      break;
    }
    case EventKind::Free:  // counted by add_one
      break;
    case EventKind::FreeBatched:
      ++r_.batched_frees;
      r_.quality.add(DataQuality::batched_free_duplicates);
      break;
    case EventKind::PcpRefill:
      ++r_.pcp_refills;
      r_.pcp_refill_pages += pages;
      break;
    case EventKind::PcpDrain:
      ++r_.pcp_drains;
      r_.pcp_drain_pages += pages;
      break;
    case EventKind::Extfrag:
      ++r_.extfrag;
      if (e.fallback_order < header_.pageblock_order) ++r_.extfrag_fragmenting;
      if (e.change_ownership) ++r_.extfrag_ownership_changes;
      break;
    case EventKind::Isolate:  // compaction's free scanner: buddy-internal, like refills and drains
    case EventKind::ZoneCounters:  // never among a reader's events
      break;
    case EventKind::PageblockMove: {
      ++r_.pageblock_moves;
      const auto highatomic = [this](int mt) {
        return recorded_migratetype(header_, mt) == allocator::MigrateType::HighAtomic;
      };
      if (highatomic(e.migratetype) && !highatomic(e.fallback_migratetype)) ++r_.highatomic_reserved;
      if (highatomic(e.fallback_migratetype) && !highatomic(e.migratetype)) ++r_.highatomic_given_back;
      break;
    }
    case EventKind::ReclaimBegin:
    case EventKind::ReclaimEnd:
      reclaim_.add(e);
      break;
    case EventKind::KswapdWake:
      ++r_.kswapd_passes;
      break;
    case EventKind::KswapdSleep:
      ++r_.kswapd_sleeps;
      break;
  }
}

namespace {

std::string migratetype_name(const traces::TraceHeader& header, int mt) {
  if (mt < 0) return "unknown";
  const auto index = static_cast<std::size_t>(mt);
  return index < header.migratetype_names.size() ? header.migratetype_names[index] : "type" + std::to_string(mt);
}

void sort_rows(std::vector<Row>& rows, bool by_failures, std::size_t top_n) {
  std::stable_sort(rows.begin(), rows.end(), [by_failures](const Row& a, const Row& b) {
    if (by_failures) return a.tally.failures > b.tally.failures;
    if (a.tally.pages != b.tally.pages) return a.tally.pages > b.tally.pages;
    return a.tally.allocations > b.tally.allocations;
  });
  if (top_n != 0 && rows.size() > top_n) rows.resize(top_n);
}

std::vector<Row> failures_only(const std::vector<Row>& rows, std::size_t top_n) {
  std::vector<Row> out;
  for (const Row& row : rows) {
    if (row.tally.failures != 0) out.push_back(row);
  }
  sort_rows(out, true, top_n);
  return out;
}

}  // namespace

StatResult PageStats::finish(const traces::TraceReader& reader, std::size_t top_n, unsigned callsite_depth) {
  flush_alloc_run();
  flush_free_run();
  StatResult r = r_;
  describe_capture(r, reader, header_);
  r.callsite_depth = std::max(callsite_depth, 1u);
  r.alloc_only += live_dense_ + live_sparse_.size();

  add_capture_quality(r.quality, r);
  if (counted_to_ns_ != 0) {
    r.kernel_counters = check_kernel_counters(reader.start_snapshot(), reader.end_snapshot(),
                                              r.total.pages - outside_allocated_pages_,
                                              r.total.freed_pages - outside_freed_pages_);
  }

  for (unsigned order = 0; order < kOrders; ++order) {
    for (int t = 0; t < kTypes; ++t) {
      const Tally& tally = order_type_[order][static_cast<std::size_t>(t)];
      if (tally.allocations == 0 && tally.failures == 0) continue;
      Row row;
      row.order = order;
      row.migratetype = migratetype_name(header_, t - 1);
      row.key = "order " + std::to_string(order) + " " + row.migratetype;
      row.tally = tally;
      r.by_order_migratetype.push_back(row);
    }
  }
  for (const auto& [gfp, tally] : gfp_) {
    r.by_gfp.push_back(Row{header_.gfp_table.format(gfp), gfp, 0, 0, {}, tally});
  }
  for (int c = 0; c < traces::kExecContextCount; ++c) {
    const Tally& tally = context_[static_cast<std::size_t>(c)];
    if (tally.allocations == 0 && tally.failures == 0 && tally.frees == 0) continue;
    r.by_context.push_back(Row{std::string(to_string(static_cast<traces::ExecContext>(c))), 0, 0, 0, {}, tally});
  }
  for (const auto& [key, tally] : process_) {
    const auto pid = static_cast<std::uint32_t>(key >> 32);
    const auto comm = reader.comm(static_cast<std::uint32_t>(key & 0xffffffffu));
    r.by_process.push_back(Row{comm.empty() ? std::string("[unknown]") : std::string(comm), 0, pid, 0, {}, tally});
  }
  std::unordered_map<std::string, Tally> callsites;
  for (const auto& [id, tally] : stack_) {
    const traces::StackTrace* stack = reader.stack(id);
    Tally& t = callsites[stack != nullptr ? callsite_of(*stack, r.callsite_depth) : std::string("[stack lost]")];
    t.allocations += tally.allocations;
    t.pages += tally.pages;
    t.failures += tally.failures;
    t.failed_pages += tally.failed_pages;
  }
  for (const auto& [site, tally] : callsites) r.by_callsite.push_back(Row{site, 0, 0, 0, {}, tally});
  r.by_stack_id.assign(stack_.begin(), stack_.end());
  std::sort(r.by_stack_id.begin(), r.by_stack_id.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  r.without_stack = r.total;
  for (const auto& [id, tally] : r.by_stack_id) {
    r.without_stack.allocations -= tally.allocations;
    r.without_stack.pages -= tally.pages;
    r.without_stack.failures -= tally.failures;
    r.without_stack.failed_pages -= tally.failed_pages;
  }
  r.without_stack.frees = r.without_stack.freed_pages = 0;  // frees are not tallied by stack

  r.failures_by_order.clear();
  std::array<Tally, kOrders> order_failures{};
  for (const Row& row : r.by_order_migratetype) {
    order_failures[row.order].failures += row.tally.failures;
    order_failures[row.order].failed_pages += row.tally.failed_pages;
  }
  for (unsigned order = 0; order < kOrders; ++order) {
    if (order_failures[order].failures == 0) continue;
    Row row;
    row.key = "order " + std::to_string(order);
    row.order = order;
    row.tally = order_failures[order];
    r.failures_by_order.push_back(row);
  }
  r.failures_by_gfp = failures_only(r.by_gfp, top_n);
  r.failures_by_context = failures_only(r.by_context, 0);
  r.failures_by_process = failures_only(r.by_process, top_n);

  r.direct_reclaim = reclaim_.finish(header_, reader, top_n);
  sort_rows(r.by_gfp, false, top_n);
  sort_rows(r.by_process, false, top_n);
  sort_rows(r.by_callsite, false, top_n);
  return r;
}

}  // namespace labyrinth::replay
