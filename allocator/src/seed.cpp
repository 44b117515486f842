// Seeding the model from a snapshot of the kernel's free pages (docs/kernel-rules.md §11.3,
// §12.1): free runs become maximal aligned free blocks, every other page an allocation of the
// seed owner.
#include <algorithm>
#include <utility>
#include <vector>

#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::Zone;

void Model::Impl::reset_zone(Zone& z) const {
  z.clear_metadata();
  z.area_ = detail::FreeArea{};
  z.pb_type_counts_ = {};
  z.pb_type_counts_[index_of(MigrateType::Movable)] = z.pb_.size();
  for (detail::PerCpuPages& pcp : z.pcp_) {
    pcp = detail::PerCpuPages{};
    pcp.high = z.limits_.high_min;
  }
  z.boost_ = cfg.zones[z.id_].watermark_boost;
  z.nr_reserved_highatomic_ = 0;
  z.mixed_pageblocks_ = 0;
  z.pcp_pages_ = 0;
  z.below_high_ = false;
  z.boosted_flag_ = false;
}

SeedReport Model::Impl::seed(const Snapshot& snapshot) {
  SeedReport report;
  const unsigned pbo = params.pageblock_order;
  const unsigned max_order = params.max_order;

  // Free runs clipped to each zone, sorted and merged.
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> runs(zones.size());
  for (const FreeRun& r : snapshot.free_runs) {
    const std::uint64_t lo = r.start.value;
    const std::uint64_t hi = lo + r.pages;
    std::uint64_t inside = 0;
    for (const Zone& z : zones) {
      const std::uint64_t a = std::max(lo, z.start_);
      const std::uint64_t b = std::min(hi, z.end_);
      if (a < b) {
        runs[z.id_].emplace_back(a, b);
        inside += b - a;
      }
    }
    report.pages_outside_zones += r.pages - inside;
  }
  for (auto& zr : runs) {
    std::sort(zr.begin(), zr.end());
    std::vector<std::pair<std::uint64_t, std::uint64_t>> merged;
    for (const auto& [a, b] : zr) {
      if (!merged.empty() && a <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, b);
      } else {
        merged.emplace_back(a, b);
      }
    }
    zr = std::move(merged);
  }

  for (Zone& z : zones) {
    reset_zone(z);
    const auto& zr = runs[z.id_];
    // A busy snapshot, a free run every few hundred frames, writes nearly every 4 KiB page of
    // the per-frame records anyway (the links of its free blocks, the states of the allocated
    // ones between): on huge pages that takes one fault and one TLB entry per 2 MiB instead of
    // 512, for the same memory. A quiet one stays on 4 KiB pages, resident only where written.
    constexpr std::uint64_t kDenseRunFrames = 512;
    if (zr.size() * kDenseRunFrames >= z.frames()) {
      z.state_.advise_huge();
      z.links_.advise_huge();
    }

    // Pageblock types. Free pages per pageblock order the candidates for non-movable types.
    std::vector<std::uint64_t> free_in_pb;
    for (const ZonePageblockCounts& c : snapshot.pageblock_counts) {
      if (c.zone != z.id_) {
        continue;
      }
      if (free_in_pb.empty()) {
        free_in_pb.assign(z.pb_.size(), 0);
        for (const auto& [a, b] : zr) {
          for (std::uint64_t p = a; p < b;) {
            const std::uint64_t block_end = std::min(b, ((p >> pbo) + 1) << pbo);
            free_in_pb[static_cast<std::size_t>((p >> pbo) - z.pb_first_)] += block_end - p;
            p = block_end;
          }
        }
      }
      std::vector<std::uint32_t> order(z.pb_.size());
      for (std::uint32_t i = 0; i < order.size(); ++i) {
        order[i] = i;
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](std::uint32_t a, std::uint32_t b) { return free_in_pb[a] < free_in_pb[b]; });
      std::size_t next = 0;
      for (const MigrateType t : {MigrateType::Unmovable, MigrateType::Reclaimable, MigrateType::HighAtomic,
                                  MigrateType::Cma, MigrateType::Isolate}) {
        // Counts beyond the zone's pageblocks (a zone that grew, or a hostile file) are
        // counted as a shortfall at once, not one by one.
        const std::uint64_t want = c.counts[index_of(t)];
        const std::uint64_t take = std::min<std::uint64_t>(want, order.size() - next);
        for (std::uint64_t k = 0; k < take; ++k) {
          z.set_pageblock_type(order[next++], t);
        }
        report.pageblock_count_shortfall += want - take;
      }
    }
    for (const PageblockType& t : snapshot.pageblock_types) {
      if (z.contains(t.pfn.value)) {
        z.set_pageblock_type(z.pb_of(z.idx(t.pfn.value)), t.type);
      }
    }
    z.nr_reserved_highatomic_ = z.pb_type_counts_[index_of(MigrateType::HighAtomic)] * z.pageblock_pages();

    // Blocks: greedy maximal aligned decomposition. A block above pageblock_order must have
    // one type across its pageblocks: a free one as __free_one_page leaves it, a seed one so
    // that it is attributed to its pageblocks' type. Large blocks keep the seeding of a large
    // machine to one record per block, not per pageblock.
    auto uniform_type = [&](std::uint64_t p, unsigned k) {
      const std::uint32_t first = z.pb_of(z.idx(p));
      for (std::uint32_t i = 1; i < (1u << (k - pbo)); ++i) {
        if (z.pb_[first + i].type != z.pb_[first].type) {
          return false;
        }
      }
      return true;
    };
    // The blocks are decomposed a batch at a time, the pages of the per-frame records they
    // will write are then populated in as few calls as those pages' runs, and the blocks
    // written: on the reference VM a page fault costs several times a populated page
    // (zeroed::populate), and a busy snapshot's blocks write a few records on each of
    // thousands of scattered pages. Every pageblock's record and every max_order block's is
    // written, so those arrays are populated whole.
    zeroed::populate(z.pb_.data(), z.pb_.bytes());
    zeroed::populate(z.top_state_.data(), z.top_state_.bytes());
    zeroed::populate(z.top_links_.data(), z.top_links_.bytes());
    struct SeedBlock {
      std::uint32_t idx;
      std::uint8_t order;
      bool free;
      bool split_by_type;
    };
    constexpr std::size_t kBatch = 4096;  // 32 KiB: the batch's own pages are faulted in too
    std::vector<SeedBlock> batch;
    batch.reserve(kBatch);
    std::vector<std::size_t> states, links;  // frames whose records the batch writes
    auto flush = [&] {
      states.clear();
      links.clear();
      for (const SeedBlock& b : batch) {
        if (b.order == max_order) continue;  // its records are in the top arrays
        states.push_back(b.idx);
        if (b.free) links.push_back(b.idx);
      }
      z.state_.populate(states);
      z.links_.populate(links);
      for (const SeedBlock& b : batch) {
        if (b.free) {
          z.add_to_free_list(b.idx, b.order, z.pb_type(b.idx), true);
          z.set_moved_while_free(b.idx, b.order, b.split_by_type);
          report.free_pages += std::uint64_t{1} << b.order;
        } else {
          z.mark_allocated(b.idx, b.order, z.seed_alloc_type(b.idx), kSeedOwner, true);
        }
      }
      batch.clear();
    };
    auto emit = [&](std::uint64_t lo, std::uint64_t hi, bool free) {
      for (std::uint64_t p = lo; p < hi;) {
        unsigned k = std::min(max_order, static_cast<unsigned>(std::countr_zero(p | (std::uint64_t{1} << 63))));
        while ((std::uint64_t{1} << k) > hi - p) {
          --k;
        }
        bool split_by_type = false;
        while (k > pbo && !uniform_type(p, k)) {
          --k;
          split_by_type = true;
        }
        batch.push_back(SeedBlock{z.idx(p), static_cast<std::uint8_t>(k), free, split_by_type});
        if (batch.size() == kBatch) flush();
        p += std::uint64_t{1} << k;
      }
    };
    std::uint64_t cursor = z.start_;
    for (const auto& [a, b] : zr) {
      emit(cursor, a, false);
      emit(a, b, true);
      cursor = b;
    }
    emit(cursor, z.end_, false);
    flush();
  }
  return report;
}

}  // namespace labyrinth::allocator
