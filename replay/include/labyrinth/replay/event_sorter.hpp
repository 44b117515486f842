// Puts a trace's events in timestamp order before they reach the model (after Perfetto's
// TraceSorter). A recorder's per-CPU ring buffers and an importer's merged text interleave
// CPUs slightly out of order; replaying a free after the allocation that reused the page
// would corrupt the model. The sorter holds the events of the last `window_ns` of trace time
// (at most `max_held` events, so memory is constant), sorts only the tail that arrived out of
// order (stable: equal timestamps keep file order), and releases the rest in order. An event
// older than one already released cannot be fixed: it is released at once and counted late.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::replay {

class EventSorter {
 public:
  explicit EventSorter(std::uint64_t window_ns = 10'000'000, std::size_t max_held = 1u << 18)
      : window_ns_(window_ns), max_held_(std::max<std::size_t>(max_held, 1)) {
    held_.reserve(max_held_ + (1u << 16));
  }

  // Adds a chunk; calls sink(std::span<const PageEvent>) with events that are now final.
  template <typename Sink>
  void push(std::span<const traces::PageEvent> chunk, Sink&& sink) {
    // Fast path, the common case: nothing held and the chunk in order. Events older than the
    // window go to the sink straight from the chunk, without a copy.
    if (held() == 0 && !chunk.empty() && chunk.front().ts_ns >= last_released_ &&
        std::is_sorted(chunk.begin(), chunk.end(),
                       [](const traces::PageEvent& a, const traces::PageEvent& b) { return a.ts_ns < b.ts_ns; })) {
      max_ts_ = std::max(max_ts_, chunk.back().ts_ns);
      const std::uint64_t limit = max_ts_ > window_ns_ ? max_ts_ - window_ns_ : 0;
      auto cut = static_cast<std::size_t>(
          std::upper_bound(chunk.begin(), chunk.end(), limit,
                           [](std::uint64_t ts, const traces::PageEvent& e) { return ts < e.ts_ns; }) -
          chunk.begin());
      if (chunk.size() - cut > max_held_) cut = chunk.size() - max_held_;
      if (cut != 0) {
        last_released_ = chunk[cut - 1].ts_ns;
        sink(chunk.first(cut));
      }
      chunk = chunk.subspan(cut);
      if (chunk.empty()) return;
    }
    std::size_t i = 0;
    while (i < chunk.size()) {
      // Bound the batch so that held_ never grows beyond max_held_ + one batch.
      const std::size_t n = std::min(chunk.size() - i, std::size_t{1} << 16);
      append(chunk.subspan(i, n));
      i += n;
      release(sink, false);
    }
  }

  // Releases everything still held (end of the trace).
  template <typename Sink>
  void finish(Sink&& sink) {
    release(sink, true);
  }

  // Releases the held events with ts <= until (e.g. up to an end snapshot's time).
  template <typename Sink>
  void release_until(std::uint64_t until, Sink&& sink) {
    const auto begin = held_.begin() + static_cast<std::ptrdiff_t>(head_);
    const auto end = std::upper_bound(begin, held_.end(), until,
                                      [](std::uint64_t ts, const traces::PageEvent& e) { return ts < e.ts_ns; });
    if (end == begin) return;
    const std::span<const traces::PageEvent> out(&*begin, static_cast<std::size_t>(end - begin));
    last_released_ = std::max(last_released_, out.back().ts_ns);
    head_ += out.size();
    sink(out);
  }

  [[nodiscard]] std::uint64_t out_of_order() const { return out_of_order_; }  // seen out of order, fixed
  [[nodiscard]] std::uint64_t late() const { return late_; }                  // released out of order
  [[nodiscard]] std::size_t held() const { return held_.size() - head_; }

 private:
  void append(std::span<const traces::PageEvent> events) {
    if (head_ != 0 && (head_ >= max_held_ || head_ == held_.size())) {
      held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    const std::size_t first_new = held_.size();
    held_.insert(held_.end(), events.begin(), events.end());
    // The earliest position the new events disturb.
    std::size_t dirty = held_.size();
    std::uint64_t prev = first_new > head_ ? held_[first_new - 1].ts_ns : last_released_;
    for (std::size_t k = first_new; k < held_.size(); ++k) {
      const std::uint64_t ts = held_[k].ts_ns;
      if (ts < prev) {
        ++out_of_order_;
        if (dirty == held_.size()) dirty = k;
      } else {
        prev = ts;
      }
      max_ts_ = std::max(max_ts_, ts);
    }
    if (dirty != held_.size()) {
      // Only the tail from the first event later than the smallest newcomer needs sorting.
      std::uint64_t min_new = ~std::uint64_t{0};
      for (std::size_t k = dirty; k < held_.size(); ++k) min_new = std::min(min_new, held_[k].ts_ns);
      const auto begin = held_.begin() + static_cast<std::ptrdiff_t>(head_);
      const auto from = std::upper_bound(begin, held_.begin() + static_cast<std::ptrdiff_t>(dirty), min_new,
                                         [](std::uint64_t ts, const traces::PageEvent& e) { return ts < e.ts_ns; });
      std::stable_sort(from, held_.end(),
                       [](const traces::PageEvent& a, const traces::PageEvent& b) { return a.ts_ns < b.ts_ns; });
    }
  }

  template <typename Sink>
  void release(Sink& sink, bool all) {
    std::size_t end = held_.size();
    if (!all) {
      const std::uint64_t limit = max_ts_ > window_ns_ ? max_ts_ - window_ns_ : 0;
      const auto begin = held_.begin() + static_cast<std::ptrdiff_t>(head_);
      end = static_cast<std::size_t>(
          std::upper_bound(begin, held_.end(), limit,
                           [](std::uint64_t ts, const traces::PageEvent& e) { return ts < e.ts_ns; }) -
          held_.begin());
      // Over the memory bound: release the oldest regardless of the window.
      if (held_.size() - end > max_held_) end = held_.size() - max_held_;
    }
    if (end <= head_) return;
    const std::span<const traces::PageEvent> out(held_.data() + head_, end - head_);
    for (const auto& e : out) {
      if (e.ts_ns < last_released_) ++late_;
    }
    last_released_ = std::max(last_released_, out.back().ts_ns);
    head_ = end;
    sink(out);
    if (head_ == held_.size()) {
      held_.clear();
      head_ = 0;
    }
  }

  std::uint64_t window_ns_;
  std::size_t max_held_;
  std::vector<traces::PageEvent> held_;
  std::size_t head_ = 0;
  std::uint64_t max_ts_ = 0;
  std::uint64_t last_released_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t late_ = 0;
};

}  // namespace labyrinth::replay
