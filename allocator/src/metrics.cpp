// Fragmentation metrics (docs/kernel-rules.md §11.1; mm/vmstat.c: fill_contig_page_info,
// unusable_free_index, __fragmentation_index, extfrag_for_order) and zone snapshots.
#include "labyrinth/allocator/metrics.hpp"

#include "model_impl.hpp"

namespace labyrinth::allocator {

ContigPageInfo fill_contig_page_info(std::span<const std::uint64_t> nr_free, unsigned order) {
  ContigPageInfo info;
  for (unsigned o = 0; o < nr_free.size(); ++o) {
    const std::uint64_t blocks = nr_free[o];
    info.free_blocks_total += blocks;
    info.free_pages += blocks << o;
    if (o >= order) {
      info.free_blocks_suitable += blocks << (o - order);
    }
  }
  return info;
}

int unusable_free_index(unsigned order, const ContigPageInfo& info) {
  if (info.free_pages == 0) {
    return 1000;
  }
  return static_cast<int>((info.free_pages - (info.free_blocks_suitable << order)) * 1000ULL / info.free_pages);
}

int fragmentation_index(unsigned order, const ContigPageInfo& info, unsigned max_order) {
  const std::uint64_t requested = std::uint64_t{1} << order;
  if (order > max_order) {
    return 0;
  }
  if (info.free_blocks_total == 0) {
    return 0;
  }
  if (info.free_blocks_suitable != 0) {
    return -1000;
  }
  return 1000 - static_cast<int>((1000 + info.free_pages * 1000ULL / requested) / info.free_blocks_total);
}

unsigned extfrag_for_order(unsigned order, const ContigPageInfo& info) {
  if (info.free_pages == 0) {
    return 0;
  }
  return static_cast<unsigned>((info.free_pages - (info.free_blocks_suitable << order)) * 100 / info.free_pages);
}

ZoneMetrics Model::metrics(std::uint16_t zone) const {
  const detail::Zone& z = impl_->zones.at(zone);
  const unsigned max_order = impl_->params.max_order;
  ZoneMetrics m;
  m.zone = zone;
  m.orders = max_order + 1;
  for (unsigned o = 0; o <= max_order; ++o) {
    m.nr_free[o] = z.area_.nr_free[o];
    for (unsigned t = 0; t < kMigrateTypes; ++t) {
      m.nr_free_by_type[t][o] = z.area_.blocks[o][t];
    }
    if (m.nr_free[o] != 0) {
      m.largest_free_order = static_cast<int>(o);
    }
  }
  const std::span<const std::uint64_t> nr_free(m.nr_free.data(), m.orders);
  for (unsigned o = 0; o <= max_order; ++o) {
    const ContigPageInfo info = fill_contig_page_info(nr_free, o);
    m.unusable_index[o] = unusable_free_index(o, info);
    m.fragmentation_index[o] = fragmentation_index(o, info, max_order);
  }
  m.pageblocks_by_type = z.pb_type_counts_;
  m.nr_free_pages = z.nr_free_pages();
  m.nr_free_cma = z.area_.pages[index_of(MigrateType::Cma)];
  m.nr_free_highatomic = z.area_.pages[index_of(MigrateType::HighAtomic)];
  m.nr_reserved_highatomic = z.nr_reserved_highatomic_;
  m.pcp_pages = z.pcp_pages_;
  m.mixed_pageblocks = z.mixed_pageblocks_;
  m.pageblocks = z.pb_.size();
  m.watermarks = z.wm_;
  m.watermark_boost = z.boost_;
  return m;
}

std::vector<PageblockState> Model::pageblocks(std::uint16_t zone) const {
  const detail::Zone& z = impl_->zones.at(zone);
  const unsigned pbo = impl_->params.pageblock_order;
  std::vector<PageblockState> out;
  out.reserve(z.pb_.size());
  for (std::size_t i = 0; i < z.pb_.size(); ++i) {
    const detail::PageblockMeta& b = z.pb_[i];
    PageblockState s;
    s.start_pfn = (z.pb_first_ + i) << pbo;
    s.free_pages = b.free_pages;
    s.allocated_pages = b.alloc_pages[0] + b.alloc_pages[1] + b.alloc_pages[2];
    s.type = b.type;
    s.mixed = b.mixed;
    out.push_back(s);
  }
  return out;
}

}  // namespace labyrinth::allocator
