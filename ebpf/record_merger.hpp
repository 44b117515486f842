// Internal: puts the records of all CPUs back into time order.
//
// Records reach user space in per-CPU batches, so the ring buffer interleaves CPUs with a
// lag of up to one batch. Each CPU's records arrive in that CPU's order, which is time
// order (tracepoint programs do not nest on a CPU); the merger keeps one queue per CPU and
// releases, up to a watermark, the k-way merge of their heads. The collector picks the
// watermark so that no record stamped before it can still be in flight (see sync()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <queue>
#include <utility>
#include <vector>

#include "bpf/page_record.h"

namespace labyrinth::ebpf::detail {

class RecordMerger {
 public:
  explicit RecordMerger(std::size_t cpus) : queues_(std::max<std::size_t>(cpus, 1)) {}

  void push(const pgrec_event& r) {
    const std::size_t cpu = r.cpu < queues_.size() ? r.cpu : queues_.size() - 1;
    Queue& q = queues_[cpu];
    if (r.ts_ns < released_) ++late_;
    if (q.size() > q.head && r.ts_ns < q.items.back().ts_ns) {
      // a record that bypassed the batch: rare, and close to the end
      auto pos = std::upper_bound(q.items.begin() + static_cast<std::ptrdiff_t>(q.head), q.items.end(), r.ts_ns,
                                  [](std::uint64_t ts, const pgrec_event& e) { return ts < e.ts_ns; });
      q.items.insert(pos, r);
      ++reordered_;
    } else {
      q.items.push_back(r);
    }
    ++queued_;
  }

  // One ring-buffer sample of `count` records: a CPU's batch, in that CPU's time order and after
  // what its queue holds, goes in with one copy; anything else record by record.
  void push_sample(const unsigned char* bytes, std::size_t count) {
    if (count == 0) return;
    pgrec_event first;
    std::memcpy(&first, bytes, sizeof first);
    Queue& q = queues_[first.cpu < queues_.size() ? first.cpu : queues_.size() - 1];
    std::uint64_t prev = q.size() > q.head ? q.items.back().ts_ns : 0;
    std::uint64_t late = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const unsigned char* at = bytes + i * sizeof(pgrec_event);
      std::uint64_t ts = 0;
      std::uint16_t cpu = 0;
      std::memcpy(&ts, at + offsetof(pgrec_event, ts_ns), sizeof ts);
      std::memcpy(&cpu, at + offsetof(pgrec_event, cpu), sizeof cpu);
      if (cpu != first.cpu || ts < prev) {
        for (std::size_t j = 0; j < count; ++j) {
          pgrec_event r;
          std::memcpy(&r, bytes + j * sizeof r, sizeof r);
          push(r);
        }
        return;
      }
      if (ts < released_) ++late;
      prev = ts;
    }
    const std::size_t old = q.items.size();
    q.items.resize(old + count);
    std::memcpy(q.items.data() + old, bytes, count * sizeof(pgrec_event));
    late_ += late;
    queued_ += count;
  }

  // Calls f(record) for every queued record stamped at or before `watermark`, in time
  // order (ties: lower CPU first, then arrival).
  template <typename F>
  void release(std::uint64_t watermark, F&& f) {
    using Head = std::pair<std::uint64_t, std::size_t>;  // ts, cpu
    std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
    for (std::size_t c = 0; c < queues_.size(); ++c) {
      const Queue& q = queues_[c];
      if (q.head < q.items.size() && q.items[q.head].ts_ns <= watermark) heads.emplace(q.items[q.head].ts_ns, c);
    }
    while (!heads.empty()) {
      const std::size_t c = heads.top().second;
      heads.pop();
      Queue& q = queues_[c];
      // Records come in runs (a batch of one CPU): emit this queue's records up to the next
      // head of another queue without touching the heap.
      const bool others = !heads.empty();
      const Head next = others ? heads.top() : Head{watermark, queues_.size()};
      const std::uint64_t limit = std::min(watermark, next.first);
      do {
        f(q.items[q.head]);
        ++q.head;
        --queued_;
      } while (q.head < q.items.size() &&
               (q.items[q.head].ts_ns < limit || (q.items[q.head].ts_ns == limit && (c < next.second || !others))));
      if (q.head < q.items.size() && q.items[q.head].ts_ns <= watermark) heads.emplace(q.items[q.head].ts_ns, c);
    }
    for (auto& q : queues_) q.compact();
    released_ = std::max(released_, watermark);
  }

  template <typename F>
  void release_all(F&& f) {
    release(~std::uint64_t{0}, std::forward<F>(f));
  }

  [[nodiscard]] std::size_t queued() const { return queued_; }
  // records stamped before a watermark that had already been released (out of order)
  [[nodiscard]] std::uint64_t late() const { return late_; }
  // records that arrived out of order within their CPU and were put in place
  [[nodiscard]] std::uint64_t reordered() const { return reordered_; }
  // what the queues hold on to, used or not
  [[nodiscard]] std::size_t capacity_bytes() const {
    std::size_t n = 0;
    for (const auto& q : queues_) n += q.items.capacity() * sizeof(pgrec_event);
    return n;
  }
  // A queue keeps at most this much spare room once it drains (records; 2.5 MiB).
  static constexpr std::size_t kKeptCapacity = std::size_t{1} << 16;

 private:
  struct Queue {
    std::vector<pgrec_event> items;
    std::size_t head = 0;
    std::size_t size() const { return items.size(); }
    // A backlog drained at once (a reader starved of CPU) leaves a large capacity behind:
    // give it back, so a long-running recorder returns to its steady memory (bench/flight's
    // hour-long soak kept 320 MiB of one such queue).
    void compact() {
      if (head == items.size()) {
        if (items.capacity() > kKeptCapacity) {
          std::vector<pgrec_event> fresh;
          fresh.reserve(kKeptCapacity);
          items.swap(fresh);
        } else {
          items.clear();
        }
        head = 0;
      } else if (head > 4096 && head * 2 > items.size()) {
        items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(head));
        head = 0;
        if (items.capacity() > kKeptCapacity && items.size() * 4 < items.capacity()) items.shrink_to_fit();
      }
    }
  };
  std::vector<Queue> queues_;
  std::size_t queued_ = 0;
  std::uint64_t released_ = 0;
  std::uint64_t late_ = 0;
  std::uint64_t reordered_ = 0;
};

}  // namespace labyrinth::ebpf::detail
