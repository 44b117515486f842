// Free lists, buddy splitting and per-block bookkeeping of a zone
// (mm/page_alloc.c: __add_to_free_list, __del_page_from_free_list, move_to_free_list, expand).
#include <bit>

#include "zone.hpp"

namespace labyrinth::allocator::detail {

Zone::Zone(Params* params, std::uint16_t id, const ZoneConfig& cfg, unsigned nr_cpus)
    : params_(params),
      id_(id),
      node_(cfg.node),
      type_(cfg.type),
      pageblock_order_(static_cast<std::uint8_t>(params->pageblock_order)),
      pb_bias_(static_cast<std::uint32_t>(cfg.start_pfn.value & ((std::uint64_t{1} << params->pageblock_order) - 1))),
      start_(cfg.start_pfn.value),
      end_(cfg.start_pfn.value + cfg.spanned_pages),
      managed_(cfg.managed_pages),
      present_(cfg.present_pages != 0 ? cfg.present_pages : cfg.managed_pages),
      pb_first_(cfg.start_pfn.value >> params->pageblock_order),
      max_order_(params->max_order),
      top_bias_(static_cast<std::uint32_t>(cfg.start_pfn.value & ((std::uint64_t{1} << params->max_order) - 1))),
      state_(cfg.spanned_pages),
      links_(cfg.spanned_pages),
      pcp_(nr_cpus) {
  if (cfg.spanned_pages != 0) {
    advise_pages();
    const std::uint64_t tops = ((end_ - 1) >> params->max_order) - (start_ >> params->max_order) + 1;
    top_state_ = ZeroedArray<PageState>(static_cast<std::size_t>(tops));
    top_links_ = ZeroedArray<PageLinks>(static_cast<std::size_t>(tops));
    const std::uint64_t last = (end_ - 1) >> params->pageblock_order;
    pb_ = ZeroedArray<PageblockMeta>(static_cast<std::size_t>(last - pb_first_ + 1));
    clear_metadata();
  }
  if (cfg.watermarks) {
    wm_ = *cfg.watermarks;
  }
  boost_ = cfg.watermark_boost;
  if (cfg.lowmem_reserve) {
    lowmem_ = *cfg.lowmem_reserve;
  }
  if (cfg.pcp) {
    limits_ = *cfg.pcp;
  }
}

// Only the first and the last pageblock can straddle the zone's edges.
void Zone::clear_metadata() {
  state_.clear();
  links_.clear();
  top_state_.clear();
  top_links_.clear();
  pb_.clear();
  if (pb_.size() == 0) {
    return;
  }
  const unsigned pbo = params_->pageblock_order;
  pb_[0].straddles = (start_ & ((std::uint64_t{1} << pbo) - 1)) != 0 || end_ - start_ < (std::uint64_t{1} << pbo);
  pb_[pb_.size() - 1].straddles = pb_[pb_.size() - 1].straddles || (end_ & ((std::uint64_t{1} << pbo) - 1)) != 0;
}

// The links, six bytes in seven of the per-frame records, on 4 KiB pages: a replay writes those
// of the blocks its events touch, scattered over the machine, and on huge pages each first
// write to a 2 MiB region made the kernel zero all of it (a 3 M-event mirror replay of a 24 GiB
// machine: 102 MB resident, 36 MB now, and the zeroing was a tenth to a fifth of its CPU). The
// states, read by every buddy check, stay on huge pages; a busy seed puts the links there too.
void Zone::advise_pages() { links_.advise_small(); }

void Zone::add_to_free_list(std::uint32_t idx, unsigned order, MigrateType mt, bool tail) {
  link_free_block(idx, order, mt, tail);
  pb_free_add(idx, order, true);
}

void Zone::del_from_free_list(std::uint32_t idx, unsigned order) {
  unlink_free_block(idx, order);
  pb_free_add(idx, order, false);
}

// move_to_free_list(): list_move_tail onto the new type's list; the free page counts move
// with it (account_freepages).
void Zone::move_to_free_list(std::uint32_t idx, MigrateType to) {
  const PageState s = state(idx);
  const unsigned order = s.order;
  if (s.mt() == to) {
    return;
  }
  const unsigned from = index_of(s.mt());
  const unsigned t = index_of(to);
  with_links(order, [&](auto m) { list_unlink(m, area_.lists[order][from], idx); });
  --area_.blocks[order][from];
  if (area_.lists[order][from].head == kNil) {
    area_.mask[from] &= ~(1u << order);
  }
  area_.pages[from] -= std::uint64_t{1} << order;
  const unsigned iso = index_of(MigrateType::Isolate);
  if (from == iso) {
    area_.nr_free_pages += std::uint64_t{1} << order;  // account_freepages(): Isolate is not counted
  } else if (t == iso) {
    area_.nr_free_pages -= std::uint64_t{1} << order;
  }
  state_ref(idx, order).set(PageKind::Free, order, to, true);
  with_links(order, [&](auto m) { list_push_back(m, area_.lists[order][t], idx); });
  ++area_.blocks[order][t];
  area_.mask[t] |= 1u << order;
  area_.pages[t] += std::uint64_t{1} << order;
}

namespace {

// expand() generalised to keep any aligned sub-block: at each level, from order high-1 down to
// low, `put(start, order)` gets the half without `target`. With target == head this is exactly
// the kernel's expand(), which keeps the lowest pages.
template <typename Put>
void for_each_split_half(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low, Put put) {
  std::uint32_t cur = head;
  while (high > low) {
    --high;
    const std::uint32_t size = 1u << high;
    if (target >= cur + size) {
      put(cur, high);
      cur += size;
    } else {
      put(cur + size, high);
    }
  }
}

}  // namespace

// The halves go to the head of their free lists.
void Zone::split_halves_to_free_lists(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low,
                                      MigrateType mt) {
  for_each_split_half(head, high, target, low, [&](std::uint32_t h, unsigned o) { add_to_free_list(h, o, mt, false); });
}

// del_from_free_list + split_to_free_lists in one: the pageblocks' free pages change by the
// target's alone (the halves stay free), so they are counted once rather than at every step.
void Zone::take_from_free_block(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low,
                                MigrateType mt) {
  unlink_free_block(head, high);
  for_each_split_half(head, high, target, low, [&](std::uint32_t h, unsigned o) { link_free_block(h, o, mt, false); });
  pb_free_add(target, low, false);
}

void Zone::split_seed_block(std::uint32_t head, unsigned high, std::uint32_t target, unsigned low) {
  const MigrateType mt = state_at(head, high).mt();
  unmark_allocated(head);
  std::uint32_t cur = head;
  while (high > low) {
    --high;
    const std::uint32_t size = 1u << high;
    if (target >= cur + size) {
      mark_allocated(cur, high, mt, kSeedOwner, true);
      cur += size;
    } else {
      mark_allocated(cur + size, high, mt, kSeedOwner, true);
    }
  }
  mark_allocated(cur, low, mt, kSeedOwner, true);
}

std::uint32_t Zone::find_head(std::uint32_t idx) const {
  // The head of idx's block of order o is its pfn with the o low bits cleared; orders whose
  // head is the same frame share its record, so only the distinct heads are read, each against
  // the smallest order reaching it (a record that fails there fails for every larger order):
  // the pfn's set bits below max_order, one probe each, instead of a probe per order.
  const unsigned top = max_order_;
  const std::uint64_t below_top = (std::uint64_t{1} << top) - 1;
  std::uint64_t h = pfn(idx);
  unsigned o = 0;  // the smallest order whose head is h
  for (;;) {
    if (h < start_) {
      return kNil;
    }
    const auto hi = static_cast<std::uint32_t>(h - start_);
    if (o == top) {
      const PageState m = top_state_[top_of(hi)];
      return m.kind() != PageKind::Tail && m.order >= top ? hi : kNil;
    }
    const PageState m = state_[hi];
    if (m.kind() != PageKind::Tail && m.order >= o) {
      return hi;
    }
    const std::uint64_t low = h & below_top;
    o = low == 0 ? top : static_cast<unsigned>(std::countr_zero(low)) + 1;
    h &= ~((std::uint64_t{1} << o) - 1);
  }
}

// Pages allocated before the recording are attributed to their pageblock's type, which is
// what the kernel's grouping by mobility makes most likely (e.g. LRU pages in Movable blocks).
MigrateType Zone::seed_alloc_type(std::uint32_t idx) const {
  const MigrateType t = pb_type(idx);
  if (is_mergeable(t)) {
    return t;
  }
  return t == MigrateType::HighAtomic ? MigrateType::Unmovable : MigrateType::Movable;
}

}  // namespace labyrinth::allocator::detail
