// Internal to laby_replay: events held back in arrival order (mirror holds those after the end
// snapshot until its free-page map was surely read). Chunks of 65536 events (4 MiB) on huge
// pages: a vector grown by doubling faulted in and copied about twice the memory held, a
// fault per 4 KiB (8,000 faults, a tenth of a mirror replay's CPU on a 5 M-event trace).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "labyrinth/allocator/huge_pages.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::replay::detail {

class HeldEvents {
 public:
  void append(std::span<const traces::PageEvent> events) {
    while (!events.empty()) {
      if (chunks_.empty() || chunks_.back().size() == kChunkEvents) {
        chunks_.emplace_back().reserve(kChunkEvents);
      }
      Chunk& c = chunks_.back();
      const std::size_t n = std::min(events.size(), kChunkEvents - c.size());
      c.insert(c.end(), events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n));
      events = events.subspan(n);
      size_ += n;
    }
  }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] const traces::PageEvent& back() const { return chunks_.back().back(); }
  // The events in order, as one span per chunk.
  [[nodiscard]] std::vector<std::span<const traces::PageEvent>> spans() const {
    return {chunks_.begin(), chunks_.end()};
  }
  void clear() {
    chunks_.clear();
    size_ = 0;
  }

 private:
  static constexpr std::size_t kChunkEvents = std::size_t{1} << 16;
  using Chunk = std::vector<traces::PageEvent, allocator::HugePageAllocator<traces::PageEvent>>;
  std::vector<Chunk> chunks_;
  std::size_t size_ = 0;
};

}  // namespace labyrinth::replay::detail
