#include "labyrinth/traces/import/event_sorter.hpp"

#include <algorithm>
#include <utility>

namespace labyrinth::traces::import {

EventSorter::EventSorter(std::uint64_t window_ns, std::size_t max_events, Emit emit)
    : window_ns_(window_ns), max_events_(std::max<std::size_t>(max_events, 1)), emit_(std::move(emit)) {}

void EventSorter::release_front() {
  const PageEvent& event = held_.front();
  last_released_ts_ = event.ts_ns;
  released_any_ = true;
  emit_(event);
  held_.pop_front();
}

void EventSorter::push(const PageEvent& event) {
  if (released_any_ && event.ts_ns < last_released_ts_) {
    // Later events already went out; nothing can put this one in its place any more.
    ++late_;
    emit_(event);
    return;
  }
  if (held_.empty() || event.ts_ns >= held_.back().ts_ns) {
    // The common case: in order. Ties keep their input order.
    held_.push_back(event);
  } else {
    ++reordered_;
    const auto at = std::upper_bound(held_.begin(), held_.end(), event.ts_ns,
                                     [](std::uint64_t ts, const PageEvent& e) { return ts < e.ts_ns; });
    held_.insert(at, event);
  }
  const std::uint64_t newest = held_.back().ts_ns;
  while (!held_.empty() && (held_.size() > max_events_ || held_.front().ts_ns + window_ns_ < newest)) {
    release_front();
  }
}

void EventSorter::flush() {
  while (!held_.empty()) release_front();
}

}  // namespace labyrinth::traces::import
