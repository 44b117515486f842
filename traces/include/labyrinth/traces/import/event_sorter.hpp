// Stage 3 of an import: a small reorder buffer (Perfetto's sorter role). Captures read from
// trace_pipe can hold events of one CPU slightly after later events of another; the sorter
// holds events for a window of trace time and releases them in timestamp order (ties keep
// their input order). Events that arrive after a later event was already released cannot be
// fixed: they are released at once and counted as late. Constant memory: at most
// `max_events` are held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces::import {

class EventSorter {
 public:
  using Emit = std::function<void(const PageEvent&)>;
  EventSorter(std::uint64_t window_ns, std::size_t max_events, Emit emit);

  void push(const PageEvent& event);
  void flush();  // release everything held (at the end of the input)

  [[nodiscard]] std::uint64_t reordered() const { return reordered_; }  // arrived out of order, fixed
  [[nodiscard]] std::uint64_t late() const { return late_; }            // arrived too late, released as is
  [[nodiscard]] std::size_t held() const { return held_.size(); }

 private:
  void release_front();

  std::uint64_t window_ns_;
  std::size_t max_events_;
  Emit emit_;
  std::deque<PageEvent> held_;
  bool released_any_ = false;
  std::uint64_t last_released_ts_ = 0;
  std::uint64_t reordered_ = 0;
  std::uint64_t late_ = 0;
};

}  // namespace labyrinth::traces::import
