// Internal: one zone of the model. Page metadata is split by temperature: a 2-byte PageState
// per page frame (what a buddy check or a head search reads) apart from 12 bytes of list links
// (PageLinks), both pfn-indexed with intrusive u32 index lists (free lists and pcp lists), so
// every buddy check and list removal is O(1) and every allocation/free is O(max_order).
// Blocks of MAX_PAGE_ORDER keep both records in a per-block table instead (top_state_,
// top_links_): a free machine is seeded by writing one record per free block, and the per-frame
// arrays, zero-filled mappings, take memory only where smaller blocks were ever made.
// Not part of the public API.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/huge_pages.hpp"
#include "labyrinth/allocator/model.hpp"
#include "labyrinth/allocator/results.hpp"
#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator::detail {

inline constexpr std::uint32_t kNil = 0xffffffffu;
inline constexpr unsigned kCostlyOrder = 3;          // PAGE_ALLOC_COSTLY_ORDER
inline constexpr unsigned kLowOrderPcpLists = 12;    // NR_LOWORDER_PCP_LISTS
inline constexpr unsigned kMaxPcpLists = 14;         // + 2 THP lists

/// What a page frame is: the head of a free buddy block, of a block on a pcp list, of an
/// allocated block, or a non-head page inside one of those (Tail).
enum class PageKind : std::uint8_t { Tail = 0, Free = 1, Pcp = 2, Alloc = 3 };

/// The hot half of a page frame's metadata, 2 bytes. All zero: a Tail page, the state of every
/// page frame a model never split a block at.
struct PageState {
  static constexpr unsigned kMark = 0x20u;  ///< bit 5 of `bits`

  std::uint8_t order = 0;
  /// bits 0-1 kind, 2-4 migratetype, 5 a mark whose meaning depends on the kind: see
  /// seed_owned() (Alloc) and moved_while_free() (Free).
  std::uint8_t bits = 0;

  [[nodiscard]] bool empty() const { return (order | bits) == 0; }
  [[nodiscard]] PageKind kind() const { return static_cast<PageKind>(bits & 3u); }
  [[nodiscard]] MigrateType mt() const { return static_cast<MigrateType>((bits >> 2) & 7u); }
  /// Alloc: allocated before the recording, known only from the seed snapshot (its owner is
  /// kSeedOwner; the trace frees or carves it with the kernel's orders).
  [[nodiscard]] bool seed_owned() const { return (bits & kMark) != 0; }
  /// Free: moved to another migratetype's list while free; it may legitimately sit unmerged
  /// next to an equal free buddy, as in the kernel.
  [[nodiscard]] bool moved_while_free() const { return (bits & kMark) != 0; }
  /// `mark`: seed_owned for Alloc, moved_while_free for Free.
  void set(PageKind kind, unsigned block_order, MigrateType mt, bool mark = false) {
    order = static_cast<std::uint8_t>(block_order);
    bits = static_cast<std::uint8_t>(static_cast<unsigned>(kind) | (index_of(mt) << 2) | (mark ? kMark : 0u));
  }
  void set_moved_while_free(bool moved) {
    bits = static_cast<std::uint8_t>(moved ? (bits | kMark) : (bits & ~kMark));
  }
};
static_assert(sizeof(PageState) == 2, "the hot record must stay small enough to stay in cache");

/// The cold half, 12 bytes: prev/next link the block into a free list or pcp list; for an
/// allocated block they hold the 64-bit owner instead (not stored for seed-owned blocks).
/// Only meaningful while the PageState says so: nothing clears it.
struct PageLinks {
  std::uint32_t prev = 0;
  std::uint32_t next = 0;
  std::uint16_t cpu = 0;  ///< Pcp: the CPU whose list holds it

  [[nodiscard]] Owner owner() const { return (static_cast<Owner>(next) << 32) | prev; }
  void set_owner(Owner owner) {
    prev = static_cast<std::uint32_t>(owner);
    next = static_cast<std::uint32_t>(owner >> 32);
  }
};
static_assert(sizeof(PageState) + sizeof(PageLinks) <= 16, "within the 16-byte budget per page frame");

/// The links of the blocks of one order: per frame, or per MAX_PAGE_ORDER block (shift =
/// max_order, bias = the zone start's offset in its first such block). Lists hold frame
/// indices either way. The list functions take it or a plain PageLinks* (per frame, the hot
/// case: Zone::with_links picks).
struct LinkView {
  PageLinks* base;
  std::uint32_t bias;
  unsigned shift;
  PageLinks& operator[](std::uint32_t i) const { return base[(i + bias) >> shift]; }
};

struct ListHead {
  std::uint32_t head = kNil;
  std::uint32_t tail = kNil;
};

template <typename Links>
inline void list_push_front(Links m, ListHead& l, std::uint32_t i) {
  m[i].prev = kNil;
  m[i].next = l.head;
  if (l.head != kNil) {
    m[l.head].prev = i;
  } else {
    l.tail = i;
  }
  l.head = i;
}
template <typename Links>
inline void list_push_back(Links m, ListHead& l, std::uint32_t i) {
  m[i].next = kNil;
  m[i].prev = l.tail;
  if (l.tail != kNil) {
    m[l.tail].next = i;
  } else {
    l.head = i;
  }
  l.tail = i;
}
template <typename Links>
inline void list_unlink(Links m, ListHead& l, std::uint32_t i) {
  const std::uint32_t p = m[i].prev;
  const std::uint32_t n = m[i].next;
  if (p != kNil) {
    m[p].next = n;
  } else {
    l.head = n;
  }
  if (n != kNil) {
    m[n].prev = p;
  } else {
    l.tail = p;
  }
}

/// struct free_area[] of a zone plus the bookkeeping the model needs in O(1).
struct FreeArea {
  std::array<std::array<ListHead, kMigrateTypes>, kOrderSlots> lists{};
  std::array<std::array<std::uint64_t, kMigrateTypes>, kOrderSlots> blocks{};  ///< per list
  std::array<std::uint64_t, kOrderSlots> nr_free{};  ///< free_area[o].nr_free
  std::array<std::uint32_t, kMigrateTypes> mask{};   ///< bit o: lists[o][mt] non-empty
  std::array<std::uint64_t, kMigrateTypes> pages{};  ///< free pages on each type's lists
  std::uint64_t nr_free_pages = 0;                   ///< NR_FREE_PAGES: all but Isolate
};

/// A migratetype stored so that zero bytes mean Movable, the type of every pageblock at boot,
/// so that the pageblock table of a large machine can start as zero pages too.
class StoredMigrateType {
 public:
  StoredMigrateType() = default;
  StoredMigrateType(MigrateType t)  // NOLINT(google-explicit-constructor): a stored MigrateType
      : code_(static_cast<std::uint8_t>(index_of(t) ^ index_of(MigrateType::Movable))) {}
  operator MigrateType() const {  // NOLINT(google-explicit-constructor)
    return static_cast<MigrateType>(code_ ^ index_of(MigrateType::Movable));
  }

 private:
  std::uint8_t code_ = 0;
};

/// One pageblock; all zero bytes is a Movable pageblock with nothing free or allocated.
struct PageblockMeta {
  std::array<std::uint32_t, kPcpTypes> alloc_pages{};  ///< allocated pages by allocation type
  std::uint32_t free_pages = 0;                         ///< pages of buddy blocks inside it
  StoredMigrateType type;
  bool straddles = false;  ///< not entirely inside the zone
  bool mixed = false;
};

struct PerCpuPages {
  std::array<ListHead, kMaxPcpLists> lists{};
  std::int64_t count = 0;
  std::int64_t high = 0;
  std::int64_t alloc_factor = 0;
  std::int64_t free_count = 0;
  bool prev_free_high_order = false;  ///< PCPF_PREV_FREE_HIGH_ORDER
};

/// Model-wide parameters every zone reads; owned by Model::Impl.
struct Params {
  unsigned max_order = 10;
  unsigned pageblock_order = 9;
  int pmd_order = 9;  ///< -1: no THP pcp lists
  unsigned pcp_lists = kMaxPcpLists;
  bool grouping_disabled = false;
  KernelRules rules;
  Tunables tunables;
  ModelCounters counters;
};

enum class RmqueueMode : std::uint8_t { Normal, Cma, Claim, Steal };

class Zone {
 public:
  Zone(Params* params, std::uint16_t id, const ZoneConfig& cfg, unsigned nr_cpus);

  // --- geometry ---
  [[nodiscard]] bool contains(std::uint64_t pfn) const { return pfn >= start_ && pfn < end_; }
  [[nodiscard]] std::uint32_t idx(std::uint64_t pfn) const { return static_cast<std::uint32_t>(pfn - start_); }
  [[nodiscard]] std::uint64_t pfn(std::uint32_t idx) const { return start_ + idx; }
  [[nodiscard]] std::uint32_t pb_of(std::uint32_t idx) const {
    return static_cast<std::uint32_t>((std::uint64_t{idx} + pb_bias_) >> pageblock_order_);
  }
  [[nodiscard]] MigrateType pb_type(std::uint32_t idx) const { return pb_[pb_of(idx)].type; }
  [[nodiscard]] std::uint64_t pageblock_pages() const { return std::uint64_t{1} << params_->pageblock_order; }

  // --- page metadata: per frame below MAX_PAGE_ORDER, per top block at it ---
  [[nodiscard]] bool is_top(unsigned order) const { return __builtin_expect(order == max_order_, 0) != 0; }
  [[nodiscard]] std::uint32_t top_of(std::uint32_t idx) const { return (idx + top_bias_) >> max_order_; }
  /// The record of the block of `order` whose head is idx (empty when there is none).
  [[nodiscard]] PageState state_at(std::uint32_t idx, unsigned order) const {
    return is_top(order) ? top_state_[top_of(idx)] : state_[idx];
  }
  PageState& state_ref(std::uint32_t idx, unsigned order) {
    return is_top(order) ? top_state_[top_of(idx)] : state_[idx];
  }
  /// The record of page frame idx, whatever its block's order: Tail for a non-head.
  [[nodiscard]] PageState state(std::uint32_t idx) const {
    const PageState s = state_[idx];
    if (__builtin_expect(!s.empty() || ((idx + top_bias_) & ((1u << max_order_) - 1)) != 0, 1)) {
      return s;
    }
    return top_state_[top_of(idx)];
  }
  PageLinks& links(std::uint32_t idx, unsigned order) {
    return is_top(order) ? top_links_[top_of(idx)] : links_[idx];
  }
  [[nodiscard]] const PageLinks& links(std::uint32_t idx, unsigned order) const {
    return is_top(order) ? top_links_[top_of(idx)] : links_[idx];
  }
  [[nodiscard]] LinkView link_view(unsigned order) {
    return is_top(order) ? LinkView{top_links_.data(), top_bias_, max_order_} : LinkView{links_.data(), 0, 0};
  }
  [[nodiscard]] LinkView link_view(unsigned order) const { return const_cast<Zone*>(this)->link_view(order); }
  /// f(links) with the links of `order`'s blocks: a plain per-frame pointer below the top order.
  template <typename F>
  void with_links(unsigned order, F&& f) {
    if (is_top(order)) {
      f(LinkView{top_links_.data(), top_bias_, max_order_});
    } else {
      f(links_.data());
    }
  }
  /// f(state, links) for the block of `order` headed at idx, behind one test of the order: the
  /// hot paths (pcp lists, allocation marks) would otherwise test it for each record, and
  /// again after every byte store (a PageState write may alias any member).
  template <typename F>
  [[gnu::always_inline]] void with_block(std::uint32_t idx, unsigned order, F&& f) {
    if (is_top(order)) {
      f(top_state_[top_of(idx)], LinkView{top_links_.data(), top_bias_, max_order_});
    } else {
      f(state_[idx], links_.data());
    }
  }
  /// The owner of the allocated block s heads at idx.
  [[nodiscard]] Owner owner(std::uint32_t idx, PageState s) const {
    return s.seed_owned() ? kSeedOwner : links(idx, s.order).owner();
  }
  /// The CPU whose list holds the pcp block s heads at idx.
  [[nodiscard]] unsigned pcp_cpu(std::uint32_t idx, PageState s) const { return links(idx, s.order).cpu; }
  void set_moved_while_free(std::uint32_t idx, unsigned order, bool moved) {
    if (moved) {
      state_ref(idx, order).set_moved_while_free(true);
    }
  }
  [[nodiscard]] std::uint32_t frames() const { return static_cast<std::uint32_t>(end_ - start_); }
  /// Bytes of metadata address space; only the pages written are resident.
  [[nodiscard]] std::size_t metadata_bytes() const {
    return state_.bytes() + links_.bytes() + top_state_.bytes() + top_links_.bytes() + pb_.bytes();
  }
  [[nodiscard]] std::size_t metadata_resident_bytes() const {
    return state_.resident_bytes() + links_.resident_bytes() + top_state_.resident_bytes() +
           top_links_.resident_bytes() + pb_.resident_bytes();
  }
  /// Every page frame back to a Tail record and every pageblock to an empty Movable one.
  void clear_metadata();
  /// Page sizes for the per-frame arrays (free_area.cpp), at creation and in a copy.
  void advise_pages();

  // --- free lists (free_area.cpp) ---
  void add_to_free_list(std::uint32_t idx, unsigned order, MigrateType mt, bool tail);
  /// add_to_free_list / del_from_free_list without the pageblocks' free-page counts, for a
  /// split or a merge that settles those once for the whole block (pb_free_add).
  void link_free_block(std::uint32_t idx, unsigned order, MigrateType mt, bool tail);
  void unlink_free_block(std::uint32_t idx, unsigned order);
  void del_from_free_list(std::uint32_t idx) { del_from_free_list(idx, state(idx).order); }
  /// The free block of `order` headed at idx off its list.
  void del_from_free_list(std::uint32_t idx, unsigned order);
  void move_to_free_list(std::uint32_t idx, MigrateType to);
  [[nodiscard]] bool page_is_buddy(std::uint64_t buddy_pfn, unsigned order) const {
    if (!contains(buddy_pfn)) {
      return false;
    }
    const PageState b = state_at(idx(buddy_pfn), order);
    return b.kind() == PageKind::Free && b.order == order;
  }
  /// Splits the block [head, head + 2^high) down to the order-`low` block holding `target`;
  /// the other halves go to the head of mt's free lists, largest first (expand()).
  void split_to_free_lists(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low, MigrateType mt) {
    // Inline for the common case, a block of the very order asked (a pcp hit in mirror, an
    // exact free block): nothing to split, no call, and mt need not be looked up.
    if (high > low) {
      split_halves_to_free_lists(head, high, target, low, mt);
    }
  }
  void split_halves_to_free_lists(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low,
                                  MigrateType mt);
  /// The free block of `high` at head off its list, split down to the order-`low` block at
  /// target (del_from_free_list, then split_to_free_lists with the block's own type mt).
  void take_from_free_block(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low, MigrateType mt);
  /// Same split of a seed-owned block: every piece, the target's included, stays seed-owned.
  void split_seed_block(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low);
  /// Head of the block containing idx (any kind), or kNil.
  [[nodiscard]] std::uint32_t find_head(std::uint32_t idx) const;

  // --- allocation bookkeeping (free_area.cpp) ---
  void mark_allocated(std::uint32_t idx, unsigned order, MigrateType mt, Owner owner, bool seed);
  void unmark_allocated(std::uint32_t idx) { unmark_allocated(idx, state(idx)); }
  /// s: the allocated block's record, already read by the caller. Returns its owner.
  Owner unmark_allocated(std::uint32_t idx, PageState s);
  [[nodiscard]] MigrateType seed_alloc_type(std::uint32_t idx) const;

  // --- buddy allocation (rmqueue.cpp) ---
  std::uint32_t rmqueue_smallest(unsigned order, MigrateType mt);
  std::uint32_t rmqueue(unsigned order, MigrateType mt, AllocFlags flags, RmqueueMode& mode, BlockSource& src);
  std::uint32_t rmqueue_buddy(unsigned order, MigrateType mt, AllocFlags flags, BlockSource& src);
  bool boost_watermark();
  bool reserve_highatomic_pageblock(std::uint32_t idx, unsigned order);
  bool unreserve_highatomic_pageblock(MigrateType to, bool force);

  // --- freeing (free_page.cpp) ---
  /// free_one_page(): split_large_buddy + __free_one_page with each pageblock's type.
  void free_one_page(std::uint32_t idx, unsigned order);
  /// __free_one_page(): merge and insert on mt's list.
  [[gnu::always_inline]] inline void free_one_page_piece(std::uint32_t idx, unsigned order, MigrateType mt);

  // --- per-cpu lists (pcp.cpp) ---
  [[nodiscard]] bool pcp_allowed_order(unsigned order) const {
    return order <= kCostlyOrder || static_cast<int>(order) == params_->pmd_order;
  }
  [[nodiscard]] unsigned pindex(unsigned order, MigrateType mt) const {
    if (order <= kCostlyOrder) {
      return order * kPcpTypes + index_of(mt);
    }
    return kLowOrderPcpLists + (mt == MigrateType::Movable ? 1u : 0u);
  }
  [[nodiscard]] unsigned pindex_to_order(unsigned pindex) const {
    return pindex < kLowOrderPcpLists ? pindex / kPcpTypes : static_cast<unsigned>(params_->pmd_order);
  }
  /// rmqueue_pcplist() + __rmqueue_pcplist(): the first block of the (order, mt) list (the
  /// last with from_tail), refilling it from the buddy lists when empty (only when may_refill:
  /// PcpMode::Auto).
  std::uint32_t rmqueue_pcplist(unsigned cpu, unsigned order, MigrateType mt, AllocFlags flags, bool may_refill,
                                bool from_tail = false) {
    PerCpuPages& pcp = pcp_[cpu];
    pcp.free_count >>= 1;
    const ListHead& l = pcp.lists[pindex(order, mt)];
    if (l.head == kNil && (!may_refill || !refill_pcplist(cpu, order, mt, flags))) {
      return kNil;
    }
    const std::uint32_t idx = from_tail ? l.tail : l.head;
    pcp_remove(idx, order);
    ++params_->counters.pcp_hits;
    return idx;
  }
  bool refill_pcplist(unsigned cpu, unsigned order, MigrateType mt, AllocFlags flags);
  /// Frees to cpu's pcp list (free_unref_page / free_frozen_page_commit). Returns false when
  /// the page went to the buddy lists instead (Isolate pageblock).
  bool free_to_pcp(unsigned cpu, std::uint32_t idx, unsigned order, bool apply_limits);
  /// Mirror's two commonest events, each in one pass over the block's records (per frame: the
  /// block is below the top order). allocate_from_pcp: the pcp block s heads at idx becomes an
  /// allocation of its own order (pcp_remove, then mark_allocated); returns the CPU whose list
  /// held it. free_to_pcp_manual: the allocated block s heads at idx goes to the head of cpu's
  /// list for the type of its pageblock pbi, not Isolate (unmark_allocated, then free_to_pcp
  /// without limits: a pcp order, PcpMode::Manual); returns its owner.
  unsigned allocate_from_pcp(std::uint32_t idx, PageState s, MigrateType mt, Owner owner);
  Owner free_to_pcp_manual(std::uint32_t idx, PageState s, unsigned cpu, std::uint32_t pbi);
  void pcp_add(unsigned cpu, std::uint32_t idx, unsigned order, MigrateType list_mt, bool tail);
  void pcp_remove(std::uint32_t idx) { pcp_remove(idx, state(idx).order); }
  /// The pcp block of `order` headed at idx off its list.
  [[gnu::always_inline]] inline void pcp_remove(std::uint32_t idx, unsigned order);
  std::uint64_t free_pcppages_bulk(unsigned cpu, std::int64_t count, unsigned pindex);
  std::uint64_t drain_pcp(unsigned cpu);
  bool decay_pcp_high(unsigned cpu);

  // --- pageblocks (pageblocks.cpp) ---
  void set_pageblock_type(std::uint32_t pbi, MigrateType mt);
  void change_pageblock_range(std::uint32_t idx, unsigned order, MigrateType mt);
  /// move_freepages_block(): -1 when the pageblock straddles the zone edge.
  std::int64_t move_freepages_block(std::uint32_t pbi, MigrateType to);
  void refresh_mixed(std::uint32_t pbi);

  // --- watermarks (zone_watermark.cpp) ---
  [[nodiscard]] std::uint64_t nr_free_pages() const { return area_.nr_free_pages; }
  /// NR_FREE_PAGES as the watermark checks read it (Model::set_checked_free_bias), floored at 0.
  [[nodiscard]] std::int64_t checked_free_pages() const {
    const std::int64_t v = static_cast<std::int64_t>(area_.nr_free_pages) + checked_free_bias_;
    return v < 0 ? 0 : v;
  }
  [[nodiscard]] std::uint64_t wmark_pages(Watermark w) const {
    const std::uint64_t base = w == Watermark::Min ? wm_.min : (w == Watermark::Low ? wm_.low : wm_.high);
    return base + boost_;
  }
  /// __zone_watermark_unusable_free(): the pages of a 2^order block beyond the first, free
  /// highatomic pages (or, before 6.12, the whole reserve) unless the request may use reserves,
  /// and free CMA pages unless it may use CMA.
  [[nodiscard]] std::int64_t unusable_free(unsigned order, AllocFlags flags) const {
    std::int64_t unusable = (std::int64_t{1} << order) - 1;
    if ((flags & alloc::kReserves) == 0) {
      unusable += static_cast<std::int64_t>(params_->rules.unusable_counts_free_highatomic
                                                ? area_.pages[index_of(MigrateType::HighAtomic)]
                                                : nr_reserved_highatomic_);
    }
    if ((flags & alloc::kCma) == 0) {
      unusable += static_cast<std::int64_t>(area_.pages[index_of(MigrateType::Cma)]);
    }
    return unusable;
  }
  /// __zone_watermark_ok with free_pages = NR_FREE_PAGES, reporting the arithmetic.
  [[nodiscard]] WatermarkCheck watermark_ok(unsigned order, std::int64_t mark, ZoneType highest, AllocFlags flags) const;
  /// zone_watermark_fast(): an order-0 short-cut without reserve reductions, then the rest.
  [[nodiscard]] bool watermark_fast(unsigned order, std::int64_t mark, ZoneType highest, AllocFlags flags) const {
    if (order == 0) {
      const std::int64_t free_pages = checked_free_pages();
      const std::int64_t reserved = unusable_free(0, flags);
      const std::int64_t usable = free_pages - (free_pages < reserved ? free_pages : reserved);
      if (usable > mark + static_cast<std::int64_t>(lowmem_[index_of(highest)])) {
        return true;
      }
    }
    return watermark_slow(order, mark, highest, flags);
  }
  [[nodiscard]] bool watermark_slow(unsigned order, std::int64_t mark, ZoneType highest, AllocFlags flags) const;

  // --- state (public within the library) ---
  Params* params_;
  std::uint16_t id_;
  int node_;
  ZoneType type_;
  // Read by pb_of() and the free lists' steps, kept here in the padding before start_
  // (sizeof(Zone), which metadata_bytes reports, stays as it was): params_->pageblock_order,
  // and start_ mod 2^pageblock_order.
  std::uint8_t pageblock_order_;
  std::uint32_t pb_bias_;
  std::uint64_t start_;
  std::uint64_t end_;
  std::uint64_t managed_;
  std::uint64_t present_;
  std::uint64_t pb_first_;
  unsigned max_order_;      ///< params_->max_order, read on every metadata access
  std::uint32_t top_bias_;  ///< start_ mod 2^max_order
  ZeroedArray<PageState> state_;      ///< per frame: heads of blocks below max_order
  ZeroedArray<PageLinks> links_;      ///< per frame
  ZeroedArray<PageState> top_state_;  ///< per max_order-aligned block
  ZeroedArray<PageLinks> top_links_;
  FreeArea area_;
  ZeroedArray<PageblockMeta> pb_;
  std::vector<PerCpuPages> pcp_;
  PcpLimits limits_;
  Watermarks wm_;
  std::uint64_t boost_ = 0;
  std::int64_t checked_free_bias_ = 0;  ///< Model::set_checked_free_bias
  LowmemReserve lowmem_{};
  std::uint64_t nr_reserved_highatomic_ = 0;
  std::uint64_t mixed_pageblocks_ = 0;
  std::array<std::uint64_t, kMigrateTypes> pb_type_counts_{};  ///< pageblocks per type
  std::uint64_t pcp_pages_ = 0;
  bool below_high_ = false;      ///< ZONE_BELOW_HIGH
  bool boosted_flag_ = false;    ///< ZONE_BOOSTED_WATERMARK
  bool reclaim_active_ = false;  ///< ZONE_RECLAIM_ACTIVE

 private:
  void pb_free_add(std::uint32_t idx, unsigned order, bool add);
  void pb_alloc_add(std::uint32_t idx, unsigned order, MigrateType mt, bool add) {
    pb_alloc_add_at(pb_of(idx), order, mt, add);
  }
  /// pbi: the pageblock of the block's head, when the caller has it.
  void pb_alloc_add_at(std::uint32_t pbi, unsigned order, MigrateType mt, bool add);
  std::uint32_t rmqueue_claim(unsigned order, MigrateType start_mt, AllocFlags flags);
  std::uint32_t rmqueue_steal(unsigned order, MigrateType start_mt);
  std::uint32_t try_to_claim_block(std::uint32_t idx, unsigned current_order, unsigned order, MigrateType start_mt,
                                   MigrateType block_mt, AllocFlags flags);
  [[nodiscard]] int find_suitable_fallback(unsigned order, MigrateType mt, bool claimable) const;
  [[nodiscard]] bool should_try_claim_block(unsigned order, MigrateType start_mt) const;
  [[nodiscard]] bool buddy_merge_likely(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const;
  std::int64_t nr_pcp_alloc(PerCpuPages& pcp, unsigned order);
  std::int64_t nr_pcp_high(PerCpuPages& pcp, std::int64_t batch, bool free_high);
  std::int64_t nr_pcp_free(const PerCpuPages& pcp, std::int64_t batch, std::int64_t high, bool free_high) const;
  std::int64_t rmqueue_bulk(unsigned order, std::int64_t count, unsigned cpu, MigrateType mt, AllocFlags flags);
};

// --- inline hot paths ----------------------------------------------------------------------

// A pageblock is "mixed" when it has a mergeable type and holds allocated pages that were
// requested with another mergeable type (pollution by fallback).
inline void Zone::refresh_mixed(std::uint32_t pbi) {
  PageblockMeta& b = pb_[pbi];
  const std::uint32_t all = b.alloc_pages[0] + b.alloc_pages[1] + b.alloc_pages[2];
  const bool mixed = is_mergeable(b.type) && all != b.alloc_pages[index_of(b.type)];
  if (mixed != b.mixed) {
    b.mixed = mixed;
    if (mixed) {
      ++mixed_pageblocks_;
    } else {
      --mixed_pageblocks_;
    }
  }
}

inline void Zone::pb_alloc_add_at(std::uint32_t pbi, unsigned order, MigrateType mt, bool add) {
  const unsigned pbo = params_->pageblock_order;
  const unsigned t = index_of(mt);
  if (order <= pbo) {  // the common case: one pageblock
    auto& b = pb_[pbi];
    b.alloc_pages[t] = add ? b.alloc_pages[t] + (1u << order) : b.alloc_pages[t] - (1u << order);
    if (b.type != mt) {  // only a foreign type's count can change the mixed status
      refresh_mixed(pbi);
    }
    return;
  }
  const unsigned blocks = order <= pbo ? 1u : 1u << (order - pbo);
  const std::uint32_t n = order <= pbo ? 1u << order : 1u << pbo;
  for (unsigned k = 0; k < blocks; ++k, ++pbi) {
    auto& b = pb_[pbi];
    b.alloc_pages[t] = add ? b.alloc_pages[t] + n : b.alloc_pages[t] - n;
    refresh_mixed(pbi);
  }
}

inline void Zone::mark_allocated(std::uint32_t idx, unsigned order, MigrateType mt, Owner owner, bool seed) {
  with_block(idx, order, [&](PageState& s, auto m) {
    if (!seed) {
      m[idx].set_owner(owner);
    }
    s.set(PageKind::Alloc, order, mt, seed);
  });
  pb_alloc_add(idx, order, mt, true);
}

inline Owner Zone::unmark_allocated(std::uint32_t idx, PageState s) {
  Owner owner = kSeedOwner;
  with_block(idx, s.order, [&](PageState& st, auto m) {
    if (!s.seed_owned()) {
      owner = m[idx].owner();
    }
    st = PageState{};
  });
  pb_alloc_add(idx, s.order, s.mt(), false);
  return owner;
}

inline void Zone::pcp_add(unsigned cpu, std::uint32_t idx, unsigned order, MigrateType list_mt, bool tail) {
  PerCpuPages& pcp = pcp_[cpu];
  ListHead& l = pcp.lists[pindex(order, list_mt)];
  with_block(idx, order, [&](PageState& s, auto m) {
    m[idx].cpu = static_cast<std::uint16_t>(cpu);
    if (tail) {
      list_push_back(m, l, idx);
    } else {
      list_push_front(m, l, idx);
    }
    s.set(PageKind::Pcp, order, list_mt);
  });
  const auto n = std::int64_t{1} << order;
  pcp.count += n;
  pcp_pages_ += static_cast<std::uint64_t>(n);
}

inline void Zone::pcp_remove(std::uint32_t idx, unsigned order) {
  with_block(idx, order, [&](PageState& s, auto m) {
    PerCpuPages& pcp = pcp_[m[idx].cpu];
    list_unlink(m, pcp.lists[pindex(order, s.mt())], idx);
    const auto n = std::int64_t{1} << order;
    pcp.count -= n;
    pcp_pages_ -= static_cast<std::uint64_t>(n);
    s = PageState{};
  });
}

inline unsigned Zone::allocate_from_pcp(std::uint32_t idx, PageState s, MigrateType mt, Owner owner) {
  const unsigned order = s.order;
  PageLinks& l = links_[idx];
  const unsigned cpu = l.cpu;
  PerCpuPages& pcp = pcp_[cpu];
  list_unlink(links_.data(), pcp.lists[pindex(order, s.mt())], idx);
  const auto n = std::int64_t{1} << order;
  pcp.count -= n;
  pcp_pages_ -= static_cast<std::uint64_t>(n);
  l.set_owner(owner);
  state_[idx].set(PageKind::Alloc, order, mt);
  pb_alloc_add(idx, order, mt, true);
  return cpu;
}

inline Owner Zone::free_to_pcp_manual(std::uint32_t idx, PageState s, unsigned cpu, std::uint32_t pbi) {
  const unsigned order = s.order;
  const MigrateType pageblock_mt = pb_[pbi].type;
  // HighAtomic and CMA pages go to the Movable list, as in free_to_pcp().
  const MigrateType list_mt = is_mergeable(pageblock_mt) ? pageblock_mt : MigrateType::Movable;
  PageLinks& l = links_[idx];
  const Owner owner = s.seed_owned() ? kSeedOwner : l.owner();
  pb_alloc_add_at(pbi, order, s.mt(), false);
  PerCpuPages& pcp = pcp_[cpu];
  l.cpu = static_cast<std::uint16_t>(cpu);
  list_push_front(links_.data(), pcp.lists[pindex(order, list_mt)], idx);
  state_[idx].set(PageKind::Pcp, order, list_mt);
  const auto n = std::int64_t{1} << order;
  pcp.count += n;
  pcp_pages_ += static_cast<std::uint64_t>(n);
  return owner;
}

/// fallbacks[][] (mm/page_alloc.c).
inline constexpr std::array<std::array<MigrateType, 2>, kPcpTypes> kFallbacks{{
    {MigrateType::Reclaimable, MigrateType::Movable},    // Unmovable
    {MigrateType::Reclaimable, MigrateType::Unmovable},  // Movable
    {MigrateType::Unmovable, MigrateType::Movable},      // Reclaimable
}};

}  // namespace labyrinth::allocator::detail

#include "free_list_steps.hpp"  // the free lists' inline steps, which need Zone complete
