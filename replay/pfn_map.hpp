// Internal to laby_replay: simulate's map from a recorded allocation (head pfn, order) to the
// model's allocation of the same request. A flat array indexed by recorded pfn (5 bytes a
// page frame of the recorded zones) for speed, in zero-filled mappings (ZeroedArray) so that
// it costs memory only where the trace allocates, like the model's page metadata: a 4 TiB
// machine reserves 5 GiB of address space, not of memory. A hash map for pfns beyond it
// (hostile or hotplugged). An entry may also say "the model failed this request", so that its free is
// dropped rather than taken for a page allocated before the recording. Each recorded pfn also
// has a "queued" bit (simulate's reclaim queue), kept in the order byte so that one prefetched
// entry answers both, and an entry an "isolated" bit: the model's block stands for free pages
// compaction's free scanner took, which the kernel splits as it copies pages into them. A
// failed entry may be "reclaimable" instead: the kernel's allocation went to its LRU (page
// cache, anonymous memory), which the model does not hold; the map keeps the pages of those.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "labyrinth/allocator/huge_pages.hpp"

namespace labyrinth::replay::detail {

class PfnMap {
 public:
  struct Entry {
    std::uint64_t model_pfn = 0;
    unsigned order = 0;
    bool model_failed = false;
    bool isolated = false;
    bool reclaimable = false;  // a failed entry the kernel's LRU holds
  };

  // Recorded pfns the flat arrays take (more go to the hash map), their bytes per pfn, and a
  // hash map entry's (node and bucket).
  static constexpr std::uint64_t kDenseMax = std::uint64_t{1} << 32;
  static constexpr double kBytesPerPfn = sizeof(std::uint32_t) + sizeof(std::uint8_t);
  static constexpr double kSparseEntryBytes = 48;

  PfnMap() = default;
  // Recorded pfns in [base, limit) go to the flat arrays; model pfns must lie in
  // [base, base + 2^32 - 2) (the model's zones are the recorded ones).
  void reset(std::uint64_t base, std::uint64_t limit) {
    base_ = base;
    const std::uint64_t n = limit > base ? limit - base : 0;
    dense_n_ = n < kDenseMax ? n : 0;
    model_ = allocator::ZeroedArray<std::uint32_t>(static_cast<std::size_t>(dense_n_));
    order_ = allocator::ZeroedArray<std::uint8_t>(static_cast<std::size_t>(dense_n_));
    sparse_.clear();
    failed_reclaimable_pages_ = 0;
  }

  // Brings the entry of pfn into the cache ahead of its use.
  void prefetch(std::uint64_t pfn) const {
    if (pfn - base_ < dense_n_) {
      __builtin_prefetch(model_.data() + (pfn - base_));
      __builtin_prefetch(order_.data() + (pfn - base_));
    }
  }

  [[nodiscard]] std::optional<Entry> get(std::uint64_t pfn) const {
    if (pfn - base_ < dense_n_) {
      const std::uint32_t m = model_[pfn - base_];
      if (m == 0) return std::nullopt;
      const std::uint8_t b = order_[pfn - base_];
      const auto o = static_cast<std::uint8_t>(b & kOrderMask);
      if (m == kFailed) return Entry{0, o, true, false, (b & kFailedReclaimable) != 0};
      return Entry{base_ + m - 1, o, false, (b & kIsolated) != 0, false};
    }
    const auto it = sparse_.find(pfn);
    if (it == sparse_.end()) return std::nullopt;
    return it->second;
  }

  void set(std::uint64_t pfn, std::uint64_t model_pfn, unsigned order, bool isolated = false) {
    if (pfn - base_ < dense_n_ && model_pfn - base_ < kFailed - 1) {
      forget_reclaimable_failure(pfn - base_);
      model_[pfn - base_] = static_cast<std::uint32_t>(model_pfn - base_ + 1);
      set_order(pfn - base_, isolated ? (order | kIsolated) : order);
      return;
    }
    erase(pfn);
    sparse_[pfn] = Entry{model_pfn, order, false, isolated, false};
  }

  // The model failed a request the kernel served; `reclaimable`: the kernel's LRU holds it.
  void set_failed(std::uint64_t pfn, unsigned order, bool reclaimable = false) {
    if (reclaimable) failed_reclaimable_pages_ += std::uint64_t{1} << order;
    if (pfn - base_ < dense_n_) {
      forget_reclaimable_failure(pfn - base_);
      model_[pfn - base_] = kFailed;
      set_order(pfn - base_, reclaimable ? (order | kFailedReclaimable) : order);
      return;
    }
    erase(pfn);
    sparse_[pfn] = Entry{0, order, true, false, reclaimable};
  }

  void erase(std::uint64_t pfn) {
    if (pfn - base_ < dense_n_) {
      forget_reclaimable_failure(pfn - base_);
      model_[pfn - base_] = 0;
      return;
    }
    if (const auto it = sparse_.find(pfn); it != sparse_.end()) {
      if (it->second.model_failed && it->second.reclaimable) {
        failed_reclaimable_pages_ -= std::min(failed_reclaimable_pages_, std::uint64_t{1} << it->second.order);
      }
      sparse_.erase(it);
    }
  }

  // Pages of the failed entries the kernel's LRU holds (over every zone: reclaim works on the
  // node's LRU lists, not a zone's).
  [[nodiscard]] std::uint64_t failed_reclaimable_pages() const { return failed_reclaimable_pages_; }

  // The commonest free's lookup in one pass: a live entry of exactly `order` headed at a dense
  // pfn is erased; its model pfn and its queued bit are returned. Otherwise false, unchanged.
  [[nodiscard]] bool take_exact(std::uint64_t pfn, unsigned order, std::uint64_t& model_pfn, bool& queued) {
    const std::uint64_t i = pfn - base_;
    if (i >= dense_n_) return false;
    const std::uint32_t m = model_[i];
    if (m == 0 || m == kFailed) return false;
    const std::uint8_t b = order_[i];
    if ((b & kOrderMask) != order) return false;
    model_[i] = 0;
    model_pfn = base_ + m - 1;
    queued = (b & kQueued) != 0;
    return true;
  }

  // set() of a dense pfn with no live entry (none, or a failed one), the commonest allocation's
  // case, in one pass; false, unchanged, otherwise.
  [[nodiscard]] bool set_fresh(std::uint64_t pfn, std::uint64_t model_pfn, unsigned order) {
    const std::uint64_t i = pfn - base_;
    if (i >= dense_n_ || model_pfn - base_ >= kFailed - 1) return false;
    const std::uint32_t m = model_[i];
    if (m != 0 && m != kFailed) return false;
    if (m == kFailed) forget_reclaimable_failure(i);
    model_[i] = static_cast<std::uint32_t>(model_pfn - base_ + 1);
    set_order(i, order);
    return true;
  }

  // The entry whose recorded block [head, head + 2^order) contains pfn.
  [[nodiscard]] std::optional<std::pair<std::uint64_t, Entry>> containing(std::uint64_t pfn, unsigned max_order) const {
    for (unsigned o = 0; o <= max_order; ++o) {
      const std::uint64_t head = pfn & ~((std::uint64_t{1} << o) - 1);
      if (const auto e = get(head); e && e->order >= o) return std::make_pair(head, *e);
    }
    return std::nullopt;
  }

  // The "queued" bit of a recorded pfn: false for pfns beyond the flat arrays, and
  // set_queued is ignored for them (they are never queued).
  [[nodiscard]] bool queued(std::uint64_t pfn) const {
    return pfn - base_ < dense_n_ && (order_[pfn - base_] & kQueued) != 0;
  }
  void set_queued(std::uint64_t pfn, bool queued) {
    if (pfn - base_ >= dense_n_) return;
    std::uint8_t& b = order_[pfn - base_];
    b = static_cast<std::uint8_t>(queued ? (b | kQueued) : (b & static_cast<std::uint8_t>(~kQueued)));
  }
  [[nodiscard]] bool dense(std::uint64_t pfn) const { return pfn - base_ < dense_n_; }

  /// Memory in use: the written pages of the flat arrays and the hash map's entries.
  [[nodiscard]] std::size_t bytes() const {
    return model_.resident_bytes() + order_.resident_bytes() +
           sparse_.size() * static_cast<std::size_t>(kSparseEntryBytes);
  }

 private:
  static constexpr std::uint32_t kFailed = 0xffffffffu;
  static constexpr std::uint8_t kQueued = 0x80;
  static constexpr std::uint8_t kIsolated = 0x40;
  static constexpr std::uint8_t kFailedReclaimable = 0x40;  // kIsolated's bit: only live entries use that
  static constexpr std::uint8_t kOrderMask = 0x3f;

  // The dense entry i is about to be replaced or erased: a reclaimable failure's pages go.
  void forget_reclaimable_failure(std::uint64_t i) {
    if (model_[i] != kFailed || (order_[i] & kFailedReclaimable) == 0) return;
    failed_reclaimable_pages_ -= std::min(failed_reclaimable_pages_, std::uint64_t{1} << (order_[i] & kOrderMask));
    order_[i] = static_cast<std::uint8_t>(order_[i] & static_cast<std::uint8_t>(~kFailedReclaimable));
  }

  // The order and the isolated bit; the queued bit stays.
  void set_order(std::uint64_t i, unsigned order_and_isolated) {
    order_[i] = static_cast<std::uint8_t>((order_[i] & kQueued) | (order_and_isolated & (kOrderMask | kIsolated)));
  }
  std::uint64_t base_ = 0;
  std::uint64_t dense_n_ = 0;
  allocator::ZeroedArray<std::uint32_t> model_;  ///< model pfn - base + 1; 0: no entry
  allocator::ZeroedArray<std::uint8_t> order_;
  std::unordered_map<std::uint64_t, Entry> sparse_;
  std::uint64_t failed_reclaimable_pages_ = 0;
};

}  // namespace labyrinth::replay::detail
