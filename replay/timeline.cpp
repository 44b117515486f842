#include "labyrinth/replay/timeline.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace labyrinth::replay {

namespace {

void merge_into(TimelineSample& into, const TimelineSample& later) {
  const std::uint64_t allocs = into.atomic_allocations + later.atomic_allocations;
  const std::uint64_t fails = into.atomic_failures + later.atomic_failures;
  const std::uint64_t span = into.span_ns + later.span_ns;
  into = later;
  into.atomic_allocations = allocs;
  into.atomic_failures = fails;
  into.span_ns = span;
}

}  // namespace

Timeline::Timeline(std::uint64_t interval_ns, std::size_t max_points, std::vector<TimelineZone> zones, unsigned orders,
                   std::FILE* csv)
    : interval_(std::max<std::uint64_t>(interval_ns, 1)),
      max_points_(std::max<std::size_t>(max_points, 2)),
      zones_(std::move(zones)),
      orders_(std::min(orders, allocator::kOrderSlots)),
      csv_(csv),
      pending_(zones_.size()),
      acc_(zones_.size()),
      acc_n_(zones_.size(), 0) {
  if (csv_ != nullptr) write_csv_header(csv_, orders_);
}

void Timeline::write_csv_header(std::FILE* out, unsigned orders) {
  fmt::print(out, "ts_ns,interval_ns,node,zone,free_pages,pcp_pages,largest_free_order,mixed_pageblocks,"
                  "atomic_allocations,atomic_failures,highatomic_reserved_pages,highatomic_free_pages");
  for (unsigned o = 0; o < orders; ++o) fmt::print(out, ",free_blocks_o{}", o);
  for (unsigned o = 0; o < orders; ++o) fmt::print(out, ",unusable_index_o{}", o);
  for (unsigned o = 0; o < orders; ++o) fmt::print(out, ",fragmentation_index_o{}", o);
  fmt::print(out, "\n");
}

void Timeline::start(std::uint64_t t0_ns) {
  started_ = true;
  last_ = t0_ns;
  next_ = t0_ns > kEndOfTime - interval_ ? kEndOfTime : t0_ns + interval_;
}

void Timeline::sample_until(std::uint64_t ts_ns, const allocator::Model& model) {
  while (started_ && ts_ns >= next_ && next_ != last_) {
    take(next_, next_ - last_, model);
    last_ = next_;
    // More empty intervals ahead than the timeline keeps points: they would all show this
    // same state, so one sample covers them (a jump of years in the timestamps must not
    // cost a sample per interval).
    const std::uint64_t empty = (ts_ns - next_) / interval_;
    if (empty > max_points_) {
      next_ += empty * interval_;
      take(next_, next_ - last_, model);
      last_ = next_;
    }
    next_ = next_ > kEndOfTime - interval_ ? kEndOfTime : next_ + interval_;
  }
}

void Timeline::finish(std::uint64_t end_ns, const allocator::Model& model) {
  if (!started_) return;
  sample_until(end_ns, model);
  bool pending = false;
  for (const auto& p : pending_) pending = pending || p.atomic_allocations != 0 || p.atomic_failures != 0;
  if (end_ns > last_ || taken_ == 0 || pending) take(std::max(end_ns, last_), end_ns > last_ ? end_ns - last_ : 0, model);
  for (std::size_t z = 0; z < zones_.size(); ++z) {
    if (acc_n_[z] != 0) zones_[z].samples.push_back(acc_[z]);
    acc_n_[z] = 0;
  }
  started_ = false;
  next_ = ~std::uint64_t{0};
}

void Timeline::take(std::uint64_t ts_ns, std::uint64_t span_ns, const allocator::Model& model) {
  ++taken_;
  for (std::size_t z = 0; z < zones_.size(); ++z) {
    const allocator::ZoneMetrics m = model.metrics(static_cast<std::uint16_t>(z));
    TimelineSample s = pending_[z];
    pending_[z] = TimelineSample{};
    s.ts_ns = ts_ns;
    s.span_ns = span_ns;
    s.free_pages = m.nr_free_pages;
    s.pcp_pages = m.pcp_pages;
    s.largest_free_order = m.largest_free_order;
    s.mixed_pageblocks = m.mixed_pageblocks;
    s.highatomic_reserved_pages = m.nr_reserved_highatomic;
    s.highatomic_free_pages = m.nr_free_highatomic;
    s.min_pages = m.watermarks.min;
    s.low_pages = m.watermarks.low;
    s.high_pages = m.watermarks.high;
    s.boost_pages = m.watermark_boost;
    s.nr_free = m.nr_free;
    s.unusable_index = m.unusable_index;
    s.fragmentation_index = m.fragmentation_index;
    if (csv_ != nullptr) {
      fmt::print(csv_, "{},{},{},{},{},{},{},{},{},{},{},{}", s.ts_ns, s.span_ns, zones_[z].node, zones_[z].zone,
                 s.free_pages, s.pcp_pages, s.largest_free_order, s.mixed_pageblocks, s.atomic_allocations,
                 s.atomic_failures, s.highatomic_reserved_pages, s.highatomic_free_pages);
      for (unsigned o = 0; o < orders_; ++o) fmt::print(csv_, ",{}", s.nr_free[o]);
      for (unsigned o = 0; o < orders_; ++o) fmt::print(csv_, ",{}", s.unusable_index[o]);
      for (unsigned o = 0; o < orders_; ++o) fmt::print(csv_, ",{}", s.fragmentation_index[o]);
      fmt::print(csv_, "\n");
    }
    keep(z, s);
  }
  compact_if_full();
}

void Timeline::keep(std::size_t z, const TimelineSample& s) {
  if (acc_n_[z] == 0) {
    acc_[z] = s;
  } else {
    merge_into(acc_[z], s);
  }
  if (++acc_n_[z] < factor_) return;
  zones_[z].samples.push_back(acc_[z]);
  acc_n_[z] = 0;
}

void Timeline::compact_if_full() {
  if (zones_.empty() || zones_.front().samples.size() < max_points_) return;
  // Too many points: merge neighbours in every zone and keep half as many from now on.
  for (auto& zone : zones_) {
    auto& v = zone.samples;
    std::size_t out = 0;
    for (std::size_t i = 0; i < v.size(); i += 2) {
      TimelineSample merged = v[i];
      if (i + 1 < v.size()) merge_into(merged, v[i + 1]);
      v[out++] = merged;
    }
    v.resize(out);
  }
  factor_ *= 2;
}

}  // namespace labyrinth::replay
