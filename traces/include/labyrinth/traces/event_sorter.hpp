// Puts events in timestamp order (after Perfetto's TraceSorter): before they reach the model
// in `replay`, and before they are written in `import`. A recorder's per-CPU ring buffers and
// an importer's merged text interleave CPUs slightly out of order; replaying a free after the
// allocation that reused the page would corrupt the model. The sorter holds the events of the
// last `window_ns` of trace time (at most `max_held` events, so memory is constant), sorts
// only the tail that arrived out of order (stable: equal timestamps keep file order), and
// releases the rest in order. An event older than one already released cannot be fixed: it
// is released at once and counted late.
//
// The importer pushes one event at a time, the replayer whole decoded chunks; out_of_order()
// counts the late events too (the importer reports out_of_order() - late() as reordered).
//
// The held events live in a ring of max_held + one batch, so that releasing costs no copy;
// a release that wraps reaches the sink as two spans.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {

class EventSorter {
 public:
  explicit EventSorter(std::uint64_t window_ns = 10'000'000, std::size_t max_held = 1u << 18)
      : window_ns_(window_ns), max_held_(std::max<std::size_t>(max_held, 1)), cap_(max_held_ + kBatch) {
    ring_.reserve(cap_);  // touched only as the ring fills
  }

  // Adds a chunk; calls sink(std::span<const PageEvent>) with events that are now final.
  // in_order: the caller knows the chunk is in timestamp order (its decoder saw it), so
  // that the sorter need not read the whole chunk to find out.
  template <typename Sink>
  void push(std::span<const PageEvent> chunk, Sink&& sink, bool in_order = false) {
    // Fast path, the common case: the chunk in order and no older than anything held. The
    // held events older than the window go first; then, if none is left, the chunk's events
    // older than the window go to the sink straight from the chunk, without a copy (only the
    // last window's worth is copied into the ring).
    if (!chunk.empty() && chunk.front().ts_ns >= std::max(last_released_, size_ != 0 ? ts_at(size_ - 1) : 0) &&
        (in_order || std::is_sorted(chunk.begin(), chunk.end(), [](const PageEvent& a, const PageEvent& b) {
          return a.ts_ns < b.ts_ns;
        }))) {
      max_ts_ = std::max(max_ts_, chunk.back().ts_ns);
      emit(past_window(), sink);
      if (size_ == 0) {
        auto cut = max_ts_ <= window_ns_
                       ? std::size_t{0}
                       : static_cast<std::size_t>(
                             std::upper_bound(chunk.begin(), chunk.end(), max_ts_ - window_ns_ - 1,
                                              [](std::uint64_t ts, const PageEvent& e) { return ts < e.ts_ns; }) -
                             chunk.begin());
        if (chunk.size() - cut > max_held_) cut = chunk.size() - max_held_;
        if (cut != 0) {
          last_released_ = chunk[cut - 1].ts_ns;
          sink(chunk.first(cut));
        }
        // The rest (sorted, within the window, at most max_held_ events) is held: one copy,
        // without append()'s order checks.
        chunk = chunk.subspan(cut);
        head_ = 0;
        if (ring_.size() < chunk.size()) grow(chunk.size());
        std::copy(chunk.begin(), chunk.end(), ring_.begin());
        size_ = chunk.size();
        return;
      }
    }
    std::size_t i = 0;
    while (i < chunk.size()) {
      // One batch at a time, so that the ring never holds more than max_held_ + one batch.
      const std::size_t n = std::min(chunk.size() - i, kBatch);
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

  [[nodiscard]] std::uint64_t out_of_order() const { return out_of_order_; }  // seen out of order, fixed
  [[nodiscard]] std::uint64_t late() const { return late_; }                  // released out of order
  [[nodiscard]] std::size_t held() const { return size_; }

 private:
  static constexpr std::size_t kBatch = std::size_t{1} << 16;

  // The ring to n slots (n <= cap_, within its reserved storage). Its new pages are made
  // resident in one call first: they are written at once, and faulting them in one by one cost
  // a replay on the reference VM about 13 us a page (event_sorter.cpp).
  void grow(std::size_t n);

  // Physical slot of the k-th held event (k < cap_).
  [[nodiscard]] std::size_t slot(std::size_t k) const {
    const std::size_t p = head_ + k;
    return p >= cap_ ? p - cap_ : p;
  }
  [[nodiscard]] std::uint64_t ts_at(std::size_t k) const { return ring_[slot(k)].ts_ns; }
  // The number of held events more than the window older than the newest event seen (a
  // prefix: they are sorted). An event exactly the window older is still held.
  [[nodiscard]] std::size_t past_window() const {
    return max_ts_ <= window_ns_ ? 0 : upper_bound(max_ts_ - window_ns_ - 1);
  }
  // The number of held events with ts <= value (they are sorted).
  [[nodiscard]] std::size_t upper_bound(std::uint64_t value) const {
    std::size_t lo = 0, n = size_;
    while (n != 0) {
      const std::size_t half = n / 2;
      if (ts_at(lo + half) <= value) {
        lo += half + 1;
        n -= half + 1;
      } else {
        n = half;
      }
    }
    return lo;
  }

  void append(std::span<const PageEvent> events) {
    if (size_ == 0) head_ = 0;
    const std::size_t n = events.size();  // <= kBatch, and size_ <= max_held_: it fits
    const std::size_t first_new = size_;
    std::size_t w = slot(size_);
    if (ring_.size() < cap_ && w + n > ring_.size()) grow(std::min(cap_, w + n));
    // Copy in, and find the first event older than its predecessor (the held events are
    // sorted, the newest of them is the running maximum).
    std::size_t dirty = ~std::size_t{0};
    std::uint64_t prev = size_ != 0 ? ts_at(size_ - 1) : last_released_;
    for (std::size_t k = 0; k < n; ++k) {
      const PageEvent& e = events[k];
      ring_[w] = e;
      if (++w == cap_) w = 0;
      if (e.ts_ns < prev) {
        ++out_of_order_;
        if (dirty == ~std::size_t{0}) dirty = first_new + k;
      } else {
        prev = e.ts_ns;
      }
    }
    size_ += n;
    max_ts_ = std::max(max_ts_, prev);
    if (dirty == ~std::size_t{0}) return;
    // Only the tail from the first event later than the smallest newcomer needs sorting.
    std::uint64_t min_new = ~std::uint64_t{0};
    for (std::size_t k = dirty; k < size_; ++k) min_new = std::min(min_new, ts_at(k));
    std::size_t from = 0, len = dirty;
    while (len != 0) {  // upper_bound of min_new in [0, dirty)
      const std::size_t half = len / 2;
      if (ts_at(from + half) <= min_new) {
        from += half + 1;
        len -= half + 1;
      } else {
        len = half;
      }
    }
    if (head_ + size_ > cap_) {
      // The held events wrap around the ring: make them contiguous to sort (rare: only when
      // out-of-order events arrive, once per turn of the ring).
      std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(head_), ring_.end());
      head_ = 0;
    }
    const auto base = ring_.begin() + static_cast<std::ptrdiff_t>(head_);
    std::stable_sort(base + static_cast<std::ptrdiff_t>(from), base + static_cast<std::ptrdiff_t>(size_),
                     [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; });
  }

  template <typename Sink>
  void release(Sink& sink, bool all) {
    std::size_t end = size_;
    if (!all) {
      end = past_window();
      // Over the memory bound: release the oldest regardless of the window.
      if (size_ - end > max_held_) end = size_ - max_held_;
    }
    emit(end, sink);
  }

  // Releases the first `count` held events (sorted) to the sink, as one or two spans.
  template <typename Sink>
  void emit(std::size_t count, Sink& sink) {
    if (count == 0) return;
    // Sorted, so the late ones (older than what was released before) are a prefix.
    if (ts_at(0) < last_released_) {
      std::size_t lo = 0, len = count;
      while (len != 0) {
        const std::size_t half = len / 2;
        if (ts_at(lo + half) < last_released_) {
          lo += half + 1;
          len -= half + 1;
        } else {
          len = half;
        }
      }
      late_ += lo;
    }
    last_released_ = std::max(last_released_, ts_at(count - 1));
    const std::size_t h = head_;
    const std::size_t first = std::min(count, cap_ - h);
    head_ = slot(count);
    size_ -= count;
    sink(std::span<const PageEvent>(ring_.data() + h, first));
    if (first < count) sink(std::span<const PageEvent>(ring_.data(), count - first));
  }

  std::uint64_t window_ns_;
  std::size_t max_held_;
  std::size_t cap_;
  std::vector<PageEvent> ring_;  // grows to cap_, then wraps
  std::size_t head_ = 0;                 // slot of the oldest held event
  std::size_t size_ = 0;                 // events held
  std::uint64_t max_ts_ = 0;
  std::uint64_t last_released_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t late_ = 0;
};

}  // namespace labyrinth::traces
