// Mirror replay: carving the kernel's chosen block, freeing, pcp refills and drains, and
// pageblock ownership changes (docs/kernel-rules.md §12.2). Every bad request is reported and
// leaves the model unchanged.
#include <algorithm>

#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::kNil;
using detail::PageKind;
using detail::PageState;
using detail::Zone;

namespace {
// A block request names an order the model has and a pfn aligned to it.
bool valid_block(std::uint64_t pfn, unsigned order, unsigned max_order) {
  return order <= max_order && (pfn & ((std::uint64_t{1} << order) - 1)) == 0;
}

// z (the zone of pfn, or nullptr) if it holds all of the block [pfn, pfn + 2^order).
Zone* holding_block(Zone* z, std::uint64_t pfn, unsigned order) {
  return z != nullptr && pfn + (std::uint64_t{1} << order) <= z->end_ ? z : nullptr;
}
}  // namespace

// Turns [idx, idx + 2^order) from seed-owned pages into unowned pages if every block in it is
// seed-owned and inside it (a block containing the whole range is handled by the callers).
bool Model::Impl::take_seed_range(Zone& z, std::uint32_t idx, unsigned order) {
  const std::uint32_t end = idx + (1u << order);
  for (std::uint32_t p = idx; p < end;) {
    const PageState m = z.state(p);
    if (m.kind() != PageKind::Alloc || !m.seed_owned() || p + (1u << m.order) > end) {
      return false;
    }
    p += 1u << m.order;
  }
  for (std::uint32_t p = idx; p < end;) {
    const unsigned k = z.state(p).order;
    z.unmark_allocated(p);
    p += 1u << k;
  }
  return true;
}

// Mirror's commonest free (pcp lists as recorded, a pcp order below the top one, not an
// Isolate pageblock): the allocation goes onto its pcp list in one pass, as route_free() would
// put it there. False, nothing changed, otherwise.
inline bool Model::Impl::free_to_recorded_pcp(Zone& z, std::uint32_t idx, PageState s, unsigned cpu, FreeResult& r) {
  const unsigned order = s.order;
  if (z.is_top(order) || !z.pcp_allowed_order(order)) {
    return false;
  }
  const std::uint32_t pbi = z.pb_of(idx);
  if (z.pb_[pbi].type == MigrateType::Isolate) {
    return false;
  }
  ++params.counters.frees;
  r.owner = z.free_to_pcp_manual(idx, s, cpu, pbi);
  r.to_pcp = true;
  return true;
}

bool Model::Impl::route_free(Zone& z, std::uint32_t idx, unsigned order, unsigned cpu) {
  ++params.counters.frees;
  const PcpMode mode = pcp_mode();
  if (mode != PcpMode::Off && z.pcp_allowed_order(order)) {
    return z.free_to_pcp(cpu, idx, order, mode == PcpMode::Auto);
  }
  z.free_one_page(idx, order);
  return false;
}

CarveResult Model::carve(Pfn pfn, unsigned order, MigrateType mt, Owner owner) {
  Impl& s = *impl_;
  CarveResult r;
  // The common case first: a pcp block of the very order at pfn (an allocation from a per-CPU
  // list). Below the top order its record is state_[i], the one find_head() would stop at; such
  // a block is aligned and inside its zone, so it needs none of the checks below but the type's.
  if (Zone* z = s.zone_for(pfn.value); z != nullptr && !z->is_top(order) && is_mergeable(mt)) {
    const std::uint32_t i = z->idx(pfn.value);
    const PageState head = z->state_[i];
    if (head.kind() == PageKind::Pcp && head.order == order) {
      r.zone = z->id_;
      r.block_order = head.order;
      r.cpu = static_cast<std::uint16_t>(z->allocate_from_pcp(i, head, mt, owner));
      r.status = CarveStatus::CarvedFromPcp;
      return r;
    }
  }
  if (!valid_block(pfn.value, order, s.params.max_order)) {
    r.status = CarveStatus::InvalidOrder;
    return r;
  }
  if (!is_mergeable(mt)) {
    r.status = CarveStatus::InvalidType;
    return r;
  }
  Zone* z = holding_block(s.zone_for(pfn.value), pfn.value, order);
  if (z == nullptr) {
    r.status = CarveStatus::OutsideZone;
    return r;
  }
  r.zone = z->id_;
  const std::uint32_t i = z->idx(pfn.value);
  const std::uint32_t h = z->find_head(i);
  const PageState m = h != kNil ? z->state(h) : PageState{};
  if (h != kNil && m.order >= order) {
    r.block_order = m.order;
    switch (m.kind()) {
      case PageKind::Free:
        z->take_from_free_block(h, m.order, i, order, m.mt());
        z->mark_allocated(i, order, mt, owner, false);
        r.status = CarveStatus::Carved;
        return r;
      case PageKind::Pcp:
        r.cpu = static_cast<std::uint16_t>(z->pcp_cpu(h, m));
        z->pcp_remove(h);
        // A pcp block larger than the request (the model disagrees with the kernel about
        // its order): the rest goes back to the buddy lists.
        z->split_to_free_lists(h, m.order, i, order, z->pb_type(h));
        z->mark_allocated(i, order, mt, owner, false);
        r.status = CarveStatus::CarvedFromPcp;
        return r;
      case PageKind::Alloc:
        if (m.seed_owned()) {
          z->split_seed_block(h, m.order, i, order);
          z->unmark_allocated(i);
          z->mark_allocated(i, order, mt, owner, false);
          r.status = CarveStatus::CarvedFromSeed;
          return r;
        }
        r.status = CarveStatus::NotFree;
        r.owner = z->owner(h, m);
        return r;
      case PageKind::Tail:
        break;
    }
  }
  // The range holds several smaller blocks.
  if (s.take_seed_range(*z, i, order)) {
    z->mark_allocated(i, order, mt, owner, false);
    r.status = CarveStatus::CarvedFromSeed;
    return r;
  }
  const PageState first = z->state(i);
  if (first.kind() == PageKind::Alloc && !first.seed_owned()) {
    r.status = CarveStatus::NotFree;
    r.owner = z->owner(i, first);
    return r;
  }
  r.status = CarveStatus::RangeMixed;
  return r;
}

template <bool kRecordedPcp>
[[gnu::always_inline]] inline FreeResult Model::Impl::free_block(Pfn pfn, unsigned order, unsigned cpu) {
  Impl& s = *this;
  FreeResult r;
  if (!valid_block(pfn.value, order, s.params.max_order)) {
    r.status = FreeStatus::InvalidOrder;
    return r;
  }
  if (cpu >= s.cfg.nr_cpus) {
    r.status = FreeStatus::InvalidCpu;
    return r;
  }
  Zone* z = holding_block(s.zone_for(pfn.value), pfn.value, order);
  if (z == nullptr) {
    r.status = FreeStatus::OutsideZone;
    return r;
  }
  r.zone = z->id_;
  const std::uint32_t i = z->idx(pfn.value);
  // The record of the block the request names; any other block holding i is found below.
  const PageState m = z->state_at(i, order);
  if (m.kind() == PageKind::Alloc && m.order == order) {
    r.migratetype = m.mt();
    r.allocated_order = m.order;
    r.status = m.seed_owned() ? FreeStatus::FreedSeed : FreeStatus::Freed;
    if constexpr (kRecordedPcp) {
      if (s.free_to_recorded_pcp(*z, i, m, cpu, r)) {
        return r;
      }
    }
    r.owner = z->unmark_allocated(i, m);
    r.to_pcp = s.route_free(*z, i, order, cpu);
    return r;
  }
  const std::uint32_t h = z->find_head(i);
  if (h == kNil) {
    r.status = FreeStatus::UnknownPage;
    return r;
  }
  const PageState mh = z->state(h);
  if (mh.kind() == PageKind::Free || mh.kind() == PageKind::Pcp) {
    r.status = FreeStatus::DoubleFree;
    return r;
  }
  r.owner = z->owner(h, mh);
  r.migratetype = mh.mt();
  r.allocated_order = mh.order;
  r.allocation_head = Pfn{z->pfn(h)};
  if (mh.seed_owned()) {
    // Pages allocated before the recording: the trace frees them with the kernel's order.
    bool taken = false;
    if (mh.order >= order) {
      z->split_seed_block(h, mh.order, i, order);
      z->unmark_allocated(i);
      taken = true;
    } else {
      taken = s.take_seed_range(*z, i, order);
    }
    if (taken) {
      r.status = FreeStatus::FreedSeed;
      r.allocated_order = static_cast<std::uint8_t>(order);
      r.to_pcp = s.route_free(*z, i, order, cpu);
      return r;
    }
    r.status = FreeStatus::UnknownPage;
    return r;
  }
  r.status = h == i ? FreeStatus::WrongOrder : FreeStatus::UnknownPage;
  return r;
}

// One body, two copies inline: with pcp lists as recorded (mirror) the commonest free is
// inline too; the allocate-and-free path of simulate and the C API (PcpMode::Auto) pays no test
// for it.
FreeResult Model::free(Pfn pfn, unsigned order, unsigned cpu) {
  Impl& s = *impl_;
  return s.pcp_mode() == PcpMode::Manual ? s.free_block<true>(pfn, order, cpu) : s.free_block<false>(pfn, order, cpu);
}

SplitStatus Model::split_allocation(Pfn head, unsigned new_order) {
  Impl& s = *impl_;
  Zone* z = s.zone_for(head.value);
  if (z == nullptr) {
    return SplitStatus::OutsideZone;
  }
  const std::uint32_t i = z->idx(head.value);
  const PageState m = z->state(i);
  if (m.kind() != PageKind::Alloc) {
    return SplitStatus::NotAllocated;
  }
  if (new_order > m.order) {
    return SplitStatus::InvalidOrder;
  }
  const unsigned k = m.order;
  const Owner owner = z->owner(i, m);
  z->unmark_allocated(i);
  for (std::uint32_t p = i; p < i + (1u << k); p += 1u << new_order) {
    z->mark_allocated(p, new_order, m.mt(), owner, m.seed_owned());
  }
  return SplitStatus::Split;
}

PcpResult Model::pcp_refill(Pfn pfn, unsigned order, unsigned cpu, MigrateType list_type) {
  Impl& s = *impl_;
  PcpResult r;
  r.cpu = static_cast<std::uint16_t>(std::min(cpu, 0xffffu));
  if (s.pcp_mode() == PcpMode::Off) {
    r.status = PcpStatus::Disabled;
    return r;
  }
  if (!valid_block(pfn.value, order, s.params.max_order)) {
    r.status = PcpStatus::InvalidOrder;
    return r;
  }
  if (cpu >= s.cfg.nr_cpus) {
    r.status = PcpStatus::InvalidCpu;
    return r;
  }
  if (!is_mergeable(list_type)) {
    r.status = PcpStatus::InvalidType;
    return r;
  }
  Zone* z = holding_block(s.zone_for(pfn.value), pfn.value, order);
  if (z == nullptr) {
    r.status = PcpStatus::OutsideZone;
    return r;
  }
  if (!z->pcp_allowed_order(order)) {
    r.status = PcpStatus::NotPcpOrder;
    return r;
  }
  r.zone = z->id_;
  const std::uint32_t i = z->idx(pfn.value);
  const std::uint32_t h = z->find_head(i);
  const PageState m = h != kNil ? z->state(h) : PageState{};
  if (h != kNil && m.order >= order) {
    if (m.kind() == PageKind::Free) {
      z->take_from_free_block(h, m.order, i, order, m.mt());
      z->pcp_add(cpu, i, order, list_type, true);
      return r;
    }
    if (m.kind() == PageKind::Alloc && m.seed_owned()) {
      z->split_seed_block(h, m.order, i, order);
      z->unmark_allocated(i);
      z->pcp_add(cpu, i, order, list_type, true);
      r.status = PcpStatus::MovedFromSeed;
      return r;
    }
    r.status = PcpStatus::NotInBuddy;
    return r;
  }
  if (s.take_seed_range(*z, i, order)) {
    z->pcp_add(cpu, i, order, list_type, true);
    r.status = PcpStatus::MovedFromSeed;
    return r;
  }
  r.status = PcpStatus::NotInBuddy;
  return r;
}

PcpResult Model::pcp_drain(Pfn pfn, unsigned order) {
  Impl& s = *impl_;
  PcpResult r;
  if (s.pcp_mode() == PcpMode::Off) {
    r.status = PcpStatus::Disabled;
    return r;
  }
  if (!valid_block(pfn.value, order, s.params.max_order)) {
    r.status = PcpStatus::InvalidOrder;
    return r;
  }
  Zone* z = s.zone_for(pfn.value);
  if (z == nullptr) {
    r.status = PcpStatus::OutsideZone;
    return r;
  }
  r.zone = z->id_;
  const std::uint32_t i = z->idx(pfn.value);
  const PageState m = z->state(i);
  if (m.kind() != PageKind::Pcp || m.order != order) {
    r.status = PcpStatus::NotOnPcp;
    return r;
  }
  r.cpu = static_cast<std::uint16_t>(z->pcp_cpu(i, m));
  z->pcp_remove(i);
  z->free_one_page_piece(i, order, z->pb_type(i));
  s.params.counters.pcp_drained_pages += std::uint64_t{1} << order;
  return r;
}

std::uint64_t Model::drain_cpu(unsigned cpu) {
  if (cpu >= impl_->cfg.nr_cpus) {
    return 0;
  }
  std::uint64_t n = 0;
  for (Zone& z : impl_->zones) {
    n += z.drain_pcp(cpu);
  }
  return n;
}

std::uint64_t Model::drain_all() {
  std::uint64_t n = 0;
  for (unsigned cpu = 0; cpu < impl_->cfg.nr_cpus; ++cpu) {
    n += drain_cpu(cpu);
  }
  return n;
}

PageblockResult Model::change_pageblock_type(Pfn pfn, MigrateType type) {
  Impl& s = *impl_;
  PageblockResult r;
  if (index_of(type) >= kMigrateTypes) {
    r.status = PageblockStatus::InvalidType;
    return r;
  }
  Zone* z = s.zone_for(pfn.value);
  if (z == nullptr) {
    r.status = PageblockStatus::OutsideZone;
    return r;
  }
  r.zone = z->id_;
  const std::uint64_t nr = z->pageblock_pages();
  auto account = [&](MigrateType from, std::uint64_t pages) {
    if (from == MigrateType::HighAtomic) {
      z->nr_reserved_highatomic_ -= std::min(pages, z->nr_reserved_highatomic_);
    }
    if (type == MigrateType::HighAtomic) {
      z->nr_reserved_highatomic_ += pages;
    }
  };
  const std::uint32_t i = z->idx(pfn.value);
  const std::uint32_t h = z->find_head(i);
  const PageState hs = h != kNil ? z->state(h) : PageState{};
  if (h != kNil && hs.kind() == PageKind::Free && hs.order > s.params.pageblock_order) {
    // A claim of a free block of pageblock_order or more takes all its pageblocks.
    const unsigned k = hs.order;
    const MigrateType from = z->pb_type(h);
    if (from == type && hs.mt() == type) {
      r.status = PageblockStatus::Unchanged;
      return r;
    }
    z->move_to_free_list(h, type);
    z->change_pageblock_range(h, k, type);
    r.pages_moved = std::uint64_t{1} << k;
    account(from, r.pages_moved);
    return r;
  }
  const std::uint32_t pbi = z->pb_of(i);
  const MigrateType from = z->pb_[pbi].type;
  if (from == type) {
    r.status = PageblockStatus::Unchanged;
    return r;
  }
  const std::int64_t moved = z->move_freepages_block(pbi, type);
  if (moved < 0) {
    r.status = PageblockStatus::ZoneEdge;
    return r;
  }
  r.pages_moved = static_cast<std::uint64_t>(moved);
  account(from, nr);
  return r;
}

bool Model::reserve_highatomic_pageblock(Pfn pfn, unsigned order) {
  Zone* z = impl_->zone_for(pfn.value);
  if (z == nullptr || !valid_block(pfn.value, order, impl_->params.max_order)) {
    return false;
  }
  return z->reserve_highatomic_pageblock(z->idx(pfn.value), order);
}

bool Model::unreserve_highatomic_pageblock(std::uint16_t zone, MigrateType to, bool force) {
  if (!is_mergeable(to)) {
    return false;
  }
  return impl_->zones.at(zone).unreserve_highatomic_pageblock(to, force);
}

}  // namespace labyrinth::allocator
