// Model::check_invariants(): a full O(pages) audit used by the property tests.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::kNil;
using detail::ListHead;
using detail::PageKind;
using detail::PageState;
using detail::Zone;

namespace {

std::string where(const Zone& z, std::uint32_t idx) {
  return "zone " + std::to_string(z.id_) + " (" + std::string(zone_type_name(z.type_)) + ") pfn " +
         std::to_string(z.pfn(idx)) + ": ";
}

// Walks one intrusive list of blocks of `order`, checking the back links; calls f on each element.
template <typename F>
std::optional<std::string> walk(const Zone& z, const ListHead& l, unsigned order, F&& f) {
  std::uint32_t prev = kNil;
  std::uint64_t steps = 0;
  const detail::LinkView m = z.link_view(order);
  for (std::uint32_t i = l.head; i != kNil; i = m[i].next) {
    if (i >= z.frames()) {
      return "list link out of the zone";
    }
    if (m[i].prev != prev) {
      return where(z, i) + "broken back link";
    }
    if (++steps > z.frames()) {
      return where(z, i) + "list cycle";
    }
    if (auto e = f(i)) {
      return e;
    }
    prev = i;
  }
  if (l.tail != prev) {
    return "list tail does not match the last element";
  }
  return std::nullopt;
}

std::uint64_t listed_pages_except_isolate(const std::array<std::uint64_t, kMigrateTypes>& pages) {
  std::uint64_t n = 0;
  for (unsigned t = 0; t < kMigrateTypes; ++t) {
    n += t == index_of(MigrateType::Isolate) ? 0 : pages[t];
  }
  return n;
}

// Zone::state(p) without reading a never-written page of the state array, which holds zero
// bytes: a read would fault a page in (this guest's kernel gives anonymous read faults a page
// of their own), and the heads of a large free machine's MAX_PAGE_ORDER blocks, one per
// 2 KiB of it, would bring in the whole array.
PageState state_of(const Zone& z, const std::vector<unsigned char>& written, std::size_t per_page, std::uint32_t p) {
  if (written.empty() || (written[p / per_page] & 1u) != 0) {
    return z.state(p);
  }
  return ((p + z.top_bias_) & ((1u << z.max_order_) - 1)) == 0 ? z.top_state_[z.top_of(p)] : PageState{};
}

// The first page frame in [from, to) whose record is not a Tail's, or kNil. Pages of the
// state array never faulted in hold Tail records only; the others are read 32 bytes (sixteen
// records) at a time, then eight, the kind bits of each masked: most of an audit is this scan.
// Inside a block no frame starts a MAX_PAGE_ORDER block, so state_ alone answers (no top_state_).
std::uint32_t first_non_tail(const Zone& z, const std::vector<unsigned char>& written, std::size_t per_page,
                             std::uint32_t from, std::uint32_t to) {
  static_assert(sizeof(PageState) == 2, "four records a word");
  constexpr std::uint64_t kKindBits = 0x0300030003000300ull;  // `bits` is each record's second byte
  const PageState* states = z.state_.data();
  const auto word_at = [states](std::uint32_t q) {
    std::uint64_t word = 0;
    std::memcpy(&word, states + q, sizeof word);
    return word;
  };
  for (std::uint32_t q = from; q < to;) {
    const auto page_end = static_cast<std::uint32_t>(std::min<std::uint64_t>(to, (q / per_page + 1) * per_page));
    if (!written.empty() && (written[q / per_page] & 1u) == 0) {
      q = page_end;  // a zero page
      continue;
    }
    const std::uint32_t end = written.empty() ? to : page_end;
    while (end - q >= 16 && ((word_at(q) | word_at(q + 4) | word_at(q + 8) | word_at(q + 12)) & kKindBits) == 0) {
      q += 16;
    }
    while (end - q >= 4 && (word_at(q) & kKindBits) == 0) {
      q += 4;
    }
    for (const std::uint32_t stop = q + std::min(end - q, 4u); q < stop; ++q) {  // q + 4 may wrap
      if (states[q].kind() != PageKind::Tail) {
        return q;
      }
    }
  }
  return kNil;
}

}  // namespace

std::optional<std::string> Model::check_invariants() const {
  const Impl& s = *impl_;
  const unsigned max_order = s.params.max_order;
  const unsigned pbo = s.params.pageblock_order;
  for (const Zone& z : s.zones) {
    const std::uint32_t size = z.frames();
    // Free lists.
    std::array<std::uint64_t, kMigrateTypes> pages{};
    std::uint64_t listed_free = 0;
    for (unsigned o = 0; o <= max_order; ++o) {
      std::uint64_t nr = 0;
      for (unsigned t = 0; t < kMigrateTypes; ++t) {
        std::uint64_t count = 0;
        auto e = walk(z, z.area_.lists[o][t], o, [&](std::uint32_t i) -> std::optional<std::string> {
          const PageState m = z.state_at(i, o);
          if (m.kind() != PageKind::Free || m.order != o || index_of(m.mt()) != t) {
            return where(z, i) + "on free list [" + std::to_string(o) + "][" + std::to_string(t) +
                   "] but not a free head of that order and type";
          }
          ++count;
          return std::nullopt;
        });
        if (e) {
          return e;
        }
        if (count != z.area_.blocks[o][t]) {
          return "zone " + std::to_string(z.id_) + ": free list count mismatch";
        }
        if (((z.area_.mask[t] >> o) & 1u) != (count != 0 ? 1u : 0u)) {
          return "zone " + std::to_string(z.id_) + ": non-empty mask mismatch";
        }
        pages[t] += count << o;
        nr += count;
      }
      if (nr != z.area_.nr_free[o]) {
        return "zone " + std::to_string(z.id_) + ": nr_free mismatch at order " + std::to_string(o);
      }
      listed_free += nr;
    }
    if (pages != z.area_.pages) {
      return "zone " + std::to_string(z.id_) + ": free page counts per type mismatch";
    }
    if (z.area_.nr_free_pages != listed_pages_except_isolate(pages)) {
      return "zone " + std::to_string(z.id_) + ": NR_FREE_PAGES mismatch";
    }
    // Per-cpu lists.
    std::uint64_t pcp_total = 0;
    std::uint64_t listed_pcp = 0;
    for (std::size_t c = 0; c < z.pcp_.size(); ++c) {
      std::int64_t count = 0;
      for (unsigned pi = 0; pi < detail::kMaxPcpLists; ++pi) {
        const unsigned order = pi < s.params.pcp_lists ? z.pindex_to_order(pi) : 0;
        auto e = walk(z, z.pcp_[c].lists[pi], order, [&](std::uint32_t i) -> std::optional<std::string> {
          const PageState m = z.state_at(i, order);
          if (m.kind() != PageKind::Pcp || z.pcp_cpu(i, m) != c || pi >= s.params.pcp_lists ||
              z.pindex(m.order, m.mt()) != pi) {
            return where(z, i) + "on a pcp list it does not belong to";
          }
          count += std::int64_t{1} << m.order;
          ++listed_pcp;
          return std::nullopt;
        });
        if (e) {
          return e;
        }
      }
      if (count != z.pcp_[c].count) {
        return "zone " + std::to_string(z.id_) + ": pcp count mismatch on cpu " + std::to_string(c);
      }
      pcp_total += static_cast<std::uint64_t>(count);
    }
    if (pcp_total != z.pcp_pages_) {
      return "zone " + std::to_string(z.id_) + ": pcp page total mismatch";
    }
    // Every page frame belongs to exactly one block.
    std::vector<detail::PageblockMeta> pb(z.pb_.size());
    // Pages of the state array never faulted in hold Tail records only: a model of a large,
    // mostly free machine is audited in time proportional to its blocks.
    const std::vector<unsigned char> written = z.state_.residency();
    const std::size_t per_page = decltype(z.state_)::per_page();
    std::uint64_t heads_free = 0;
    std::uint64_t heads_pcp = 0;
    for (std::uint32_t p = 0; p < size;) {
      const PageState m = state_of(z, written, per_page, p);
      const std::uint64_t pfn = z.pfn(p);
      if (m.kind() == PageKind::Tail) {
        return where(z, p) + "belongs to no block";
      }
      const unsigned k = m.order;
      if (k > max_order || (pfn & ((std::uint64_t{1} << k) - 1)) != 0 || p + (std::uint64_t{1} << k) > size) {
        return where(z, p) + "block of order " + std::to_string(k) + " misaligned or past the zone end";
      }
      if (const std::uint32_t q = first_non_tail(z, written, per_page, p + 1, p + (1u << k)); q != kNil) {
        return where(z, q) + "overlaps the block at pfn " + std::to_string(pfn) + " (exclusive ownership)";
      }
      const std::uint32_t first_pb = z.pb_of(p);
      const unsigned nblocks = k <= pbo ? 1u : 1u << (k - pbo);
      const std::uint32_t per = k <= pbo ? 1u << k : 1u << pbo;
      switch (m.kind()) {
        case PageKind::Free: {
          ++heads_free;
          for (unsigned b = 0; b < nblocks; ++b) {
            if (z.pb_[first_pb + b].type != m.mt()) {
              return where(z, p) + "free block on the " + std::string(migratetype_name(m.mt())) +
                     " list inside a " + std::string(migratetype_name(z.pb_[first_pb + b].type)) + " pageblock";
            }
            pb[first_pb + b].free_pages += per;
          }
          if (k < max_order) {
            const std::uint64_t buddy = pfn ^ (std::uint64_t{1} << k);
            if (z.page_is_buddy(buddy, k)) {
              const PageState bm = z.state_at(z.idx(buddy), k);
              const bool types_block = m.mt() != bm.mt() && (!is_mergeable(m.mt()) || !is_mergeable(bm.mt()));
              const bool moved = m.moved_while_free() || bm.moved_while_free();
              if (k < pbo || !(types_block || moved)) {
                return where(z, p) + "free buddies of order " + std::to_string(k) + " left unmerged";
              }
            }
          }
          break;
        }
        case PageKind::Pcp:
          ++heads_pcp;
          break;
        case PageKind::Alloc:
          if (!is_mergeable(m.mt())) {
            return where(z, p) + "allocation with a non-mergeable type";
          }
          for (unsigned b = 0; b < nblocks; ++b) {
            pb[first_pb + b].alloc_pages[index_of(m.mt())] += per;
          }
          break;
        case PageKind::Tail:
          break;
      }
      p += 1u << k;
    }
    if (heads_free != listed_free) {
      return "zone " + std::to_string(z.id_) + ": free blocks off their lists";
    }
    if (heads_pcp != listed_pcp) {
      return "zone " + std::to_string(z.id_) + ": pcp blocks off their lists";
    }
    std::uint64_t mixed = 0;
    std::array<std::uint64_t, kMigrateTypes> types{};
    for (std::size_t b = 0; b < pb.size(); ++b) {
      const detail::PageblockMeta& have = z.pb_[b];
      if (have.free_pages != pb[b].free_pages || have.alloc_pages != pb[b].alloc_pages) {
        return "zone " + std::to_string(z.id_) + ": pageblock " + std::to_string(b) + " counters mismatch";
      }
      bool is_mixed = false;
      if (is_mergeable(have.type)) {
        for (unsigned t = 0; t < kPcpTypes; ++t) {
          is_mixed = is_mixed || (t != index_of(have.type) && have.alloc_pages[t] != 0);
        }
      }
      if (is_mixed != have.mixed) {
        return "zone " + std::to_string(z.id_) + ": pageblock " + std::to_string(b) + " mixed flag stale";
      }
      mixed += is_mixed ? 1 : 0;
      ++types[index_of(have.type)];
    }
    if (mixed != z.mixed_pageblocks_) {
      return "zone " + std::to_string(z.id_) + ": mixed pageblock count mismatch";
    }
    if (types != z.pb_type_counts_) {
      return "zone " + std::to_string(z.id_) + ": pageblock type counts mismatch";
    }
  }
  return std::nullopt;
}

}  // namespace labyrinth::allocator
