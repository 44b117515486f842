// Model construction, configuration checks, zonelists, reserves and queries.
#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

#include "labyrinth/allocator/watermarks.hpp"
#include "model_impl.hpp"

namespace labyrinth::allocator {

using detail::kNil;
using detail::PageKind;
using detail::Zone;

namespace {

void validate(const ModelConfig& c) {
  auto fail = [](const std::string& why) { throw std::invalid_argument("labyrinth allocator config: " + why); };
  if (c.page_size < 1024 || !std::has_single_bit(c.page_size)) {
    fail("page_size must be a power of two >= 1024");
  }
  if (c.max_order > kMaxOrderLimit) {
    fail("max_order above " + std::to_string(kMaxOrderLimit));
  }
  if (c.pageblock_order > c.max_order || c.pageblock_order == 0) {
    fail("pageblock_order must be in 1..max_order");
  }
  if (c.nr_cpus == 0 || c.nr_cpus > 0xffff) {
    fail("nr_cpus must be in 1..65535");
  }
  if (!c.cpu_to_node.empty() && c.cpu_to_node.size() != c.nr_cpus) {
    fail("cpu_to_node must be empty or have nr_cpus entries");
  }
  for (const int n : c.cpu_to_node) {
    if (n < 0 || n > 0xffff) {
      fail("cpu_to_node holds an invalid node");
    }
  }
  if (c.zones.empty() || c.zones.size() > 0xfffe) {
    fail("need 1..65534 zones");
  }
  // Page frame indices are 32-bit, and the metadata's address space grows with the span
  // (14 bytes a frame, reserved, not resident): 16 TiB of 4 KiB pages is 2^32 frames.
  std::uint64_t spanned = 0;
  for (const ZoneConfig& z : c.zones) {
    spanned = spanned + z.spanned_pages < spanned ? ~std::uint64_t{0} : spanned + z.spanned_pages;
  }
  if (spanned > kMaxMachineBytes / c.page_size) {
    const std::uint64_t gib = c.page_size >= (std::uint64_t{1} << 30) ? spanned * (c.page_size >> 30)
                                                                       : spanned / ((std::uint64_t{1} << 30) / c.page_size);
    fail("the zones span " + std::to_string(gib) + " GiB of page frames; the model handles machines up to 16 TiB");
  }
  for (const ZoneConfig& z : c.zones) {
    if (z.spanned_pages >= kNil) {
      fail("a zone spans more than 2^32 - 2 pages");
    }
    if (z.managed_pages > z.spanned_pages || z.present_pages > z.spanned_pages) {
      fail("a zone manages more pages than it spans");
    }
    if (z.node < 0 || z.node > 0xffff) {
      fail("a zone has an invalid node");
    }
    if (index_of(z.type) >= kZoneTypes) {
      fail("a zone has an invalid type");
    }
    if (z.start_pfn.value + z.spanned_pages < z.start_pfn.value) {
      fail("a zone wraps around the pfn space");
    }
  }
  std::vector<const ZoneConfig*> sorted;
  for (const ZoneConfig& z : c.zones) {
    sorted.push_back(&z);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const ZoneConfig* a, const ZoneConfig* b) { return a->start_pfn < b->start_pfn; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const ZoneConfig& a = *sorted[i - 1];
    if (a.spanned_pages != 0 && sorted[i]->spanned_pages != 0 &&
        a.start_pfn.value + a.spanned_pages > sorted[i]->start_pfn.value) {
      fail("zones overlap");
    }
  }
}

}  // namespace

Model::Impl::Impl(ModelConfig config) : cfg(std::move(config)) {
  validate(cfg);
  params.max_order = cfg.max_order;
  params.pageblock_order = cfg.pageblock_order;
  params.rules = cfg.rules;
  params.tunables = cfg.tunables;
  const auto pmd = cfg.rules.pcp_pmd_order;
  params.pmd_order = (pmd && *pmd > detail::kCostlyOrder && *pmd <= cfg.max_order) ? static_cast<int>(*pmd) : -1;
  params.pcp_lists = params.pmd_order >= 0 ? detail::kMaxPcpLists : detail::kLowOrderPcpLists;

  // build_all_zonelists(): mobility grouping needs at least pageblock_nr_pages * MIGRATE_TYPES.
  std::uint64_t total = 0;
  for (const ZoneConfig& z : cfg.zones) {
    total += z.managed_pages;
    has_highmem = has_highmem || z.type == ZoneType::HighMem;
    nr_nodes = std::max(nr_nodes, z.node + 1);
  }
  params.grouping_disabled = total < (std::uint64_t{1} << cfg.pageblock_order) * kMigrateTypes;

  cpu_node.assign(cfg.nr_cpus, 0);
  for (std::size_t i = 0; i < cfg.cpu_to_node.size(); ++i) {
    cpu_node[i] = cfg.cpu_to_node[i];
    nr_nodes = std::max(nr_nodes, cfg.cpu_to_node[i] + 1);
  }
  resolve_reserves(true);

  zones.reserve(cfg.zones.size());
  for (std::size_t i = 0; i < cfg.zones.size(); ++i) {
    zones.emplace_back(&params, static_cast<std::uint16_t>(i), cfg.zones[i], cfg.nr_cpus);
  }
  for (const Zone& z : zones) {
    if (z.end_ > z.start_) {
      by_start.push_back(Span{z.start_, z.end_, z.id_});
    }
  }
  std::sort(by_start.begin(), by_start.end(), [](const Span& a, const Span& b) { return a.start < b.start; });

  // build_zonelists(): the local node's zones from the highest kind down, then the other nodes
  // in ascending id (no distance table is known). Only zones with present pages.
  zonelists.resize(static_cast<std::size_t>(nr_nodes));
  for (int n = 0; n < nr_nodes; ++n) {
    auto& list = zonelists[static_cast<std::size_t>(n)];
    auto add_node = [&](int node) {
      std::vector<std::uint16_t> local;
      for (const Zone& z : zones) {
        if (z.node_ == node && z.present_ != 0 && z.end_ > z.start_) {
          local.push_back(z.id_);
        }
      }
      std::sort(local.begin(), local.end(), [this](std::uint16_t a, std::uint16_t b) {
        return index_of(zones[a].type_) > index_of(zones[b].type_);
      });
      list.insert(list.end(), local.begin(), local.end());
    };
    add_node(n);
    for (int m = 0; m < nr_nodes; ++m) {
      if (m != n) {
        add_node(m);
      }
    }
  }
  build_views();
}

// alloc_flags_nofragment(): ALLOC_NOFRAGMENT when ZONE_DMA32 exists and the preferred zone is
// Normal (on NUMA only if that node's DMA32 is populated), always under vm.defrag_mode.
void Model::Impl::build_views() {
  views.assign(zonelists.size(), {});
  for (std::size_t n = 0; n < zonelists.size(); ++n) {
    for (unsigned t = 0; t < kZoneTypes; ++t) {
      ZonelistView& v = views[n][t];
      for (const std::uint16_t id : zonelists[n]) {
        if (index_of(zones[id].type_) <= t) {
          v.zones.push_back(id);
        }
      }
      if (v.zones.empty()) {
        continue;
      }
      const Zone& pref = zones[v.zones.front()];
      bool nofragment = params.rules.zone_dma32 && pref.type_ == ZoneType::Normal;
      if (nofragment && nr_nodes > 1) {
        nofragment = std::any_of(zones.begin(), zones.end(), [&](const Zone& z) {
          return z.node_ == pref.node_ && z.type_ == ZoneType::Dma32 && z.present_ != 0;
        });
      }
      v.nofragment = nofragment || params.rules.defrag_mode;
    }
  }
}

Model::Impl::Impl(const Impl& o)
    : cfg(o.cfg),
      params(o.params),
      zones(o.zones),
      by_start(o.by_start),
      zonelists(o.zonelists),
      views(o.views),
      cpu_node(o.cpu_node),
      nr_nodes(o.nr_nodes),
      has_highmem(o.has_highmem),
      last_zone(o.last_zone),
      compaction(o.compaction) {
  for (Zone& z : zones) {
    z.params_ = &params;
    z.advise_pages();
  }
}

// Watermarks, lowmem_reserve and pcp limits (docs/kernel-rules.md §6.3, §6.4, §7.1) for every zone, keeping the
// recorded values when asked to.
void Model::Impl::resolve_reserves(bool keep_recorded) {
  const Tunables& t = params.tunables;
  std::vector<ZoneSize> sizes;
  for (const ZoneConfig& z : cfg.zones) {
    sizes.push_back(ZoneSize{z.type, z.managed_pages});
  }
  std::uint64_t min_free_kbytes = 0;
  if (t.min_free_kbytes) {
    min_free_kbytes = *t.min_free_kbytes;
  } else {
    // init_per_zone_wmark_min() runs before any watermark exists: high = 0 everywhere.
    const std::vector<Watermarks> zero(sizes.size());
    min_free_kbytes = calculate_min_free_kbytes(nr_free_buffer_pages(sizes, zero), cfg.page_size);
  }
  const std::vector<Watermarks> wm =
      setup_per_zone_wmarks(sizes, min_free_kbytes, t.watermark_scale_factor, cfg.page_size);
  for (std::size_t i = 0; i < cfg.zones.size(); ++i) {
    if (!keep_recorded || !cfg.zones[i].watermarks) {
      cfg.zones[i].watermarks = wm[i];
    }
  }
  for (int n = 0; n < nr_nodes; ++n) {
    std::vector<ZoneSize> node_sizes;
    std::vector<std::size_t> ids;
    for (std::size_t i = 0; i < cfg.zones.size(); ++i) {
      if (cfg.zones[i].node == n) {
        node_sizes.push_back(sizes[i]);
        ids.push_back(i);
      }
    }
    const std::vector<LowmemReserve> lr = setup_per_zone_lowmem_reserve(node_sizes, t.lowmem_reserve_ratio);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (!keep_recorded || !cfg.zones[ids[k]].lowmem_reserve) {
        cfg.zones[ids[k]].lowmem_reserve = lr[k];
      }
    }
  }
  for (ZoneConfig& z : cfg.zones) {
    if (keep_recorded && z.pcp) {
      continue;
    }
    unsigned node_cpus = 0;
    for (const int n : cpu_node) {
      node_cpus += n == z.node ? 1u : 0u;
    }
    if (node_cpus == 0) {
      node_cpus = cfg.nr_cpus;
    }
    z.pcp = allocator::pcp_limits(z.managed_pages, z.watermarks->low, cfg.page_size, node_cpus, t.percpu_pagelist_high_fraction);
  }
  for (std::size_t i = 0; i < zones.size(); ++i) {
    zones[i].wm_ = *cfg.zones[i].watermarks;
    zones[i].lowmem_ = *cfg.zones[i].lowmem_reserve;
    zones[i].limits_ = *cfg.zones[i].pcp;
  }
}

const Zone* Model::Impl::zone_search(std::uint64_t pfn) const {
  // Few zones: a linear scan over the sorted spans beats a binary search.
  for (const Span& sp : by_start) {
    if (pfn < sp.start) {
      break;
    }
    if (pfn < sp.end) {
      return &zones[sp.id];
    }
  }
  return nullptr;
}

// --- Model facade -------------------------------------------------------------------------

Model::Model(ModelConfig config) : impl_(std::make_unique<Impl>(std::move(config))) { seed_all_free(); }
Model::~Model() = default;
Model::Model(const Model& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Model& Model::operator=(const Model& other) {
  if (this != &other) {
    impl_ = std::make_unique<Impl>(*other.impl_);
  }
  return *this;
}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelConfig& Model::config() const { return impl_->cfg; }
std::size_t Model::zone_count() const { return impl_->zones.size(); }
const ZoneConfig& Model::zone_config(std::size_t zone) const { return impl_->cfg.zones.at(zone); }
bool Model::mobility_grouping_disabled() const { return impl_->params.grouping_disabled; }

std::optional<std::uint16_t> Model::zone_of(Pfn pfn) const {
  const Zone* z = impl_->zone_for(pfn.value);
  if (z == nullptr) {
    return std::nullopt;
  }
  return z->id_;
}

SeedReport Model::seed(const Snapshot& snapshot) { return impl_->seed(snapshot); }

void Model::seed_all_free() {
  Snapshot s;
  for (const Zone& z : impl_->zones) {
    s.free_runs.push_back(FreeRun{Pfn{z.start_}, z.managed_});
  }
  impl_->seed(s);
}

MetadataSpan Model::metadata_span(Pfn pfn) const {
  const Zone* z = static_cast<const Impl&>(*impl_).zone_for(pfn.value);
  if (z == nullptr) {
    return {};
  }
  return MetadataSpan{z->start_,
                      z->end_ - z->start_,
                      impl_->params.max_order,
                      sizeof(detail::PageState),
                      sizeof(detail::PageLinks),
                      reinterpret_cast<const char*>(z->state_.data()),
                      reinterpret_cast<const char*>(z->links_.data())};
}

Watermarks Model::watermarks(std::uint16_t zone) const { return impl_->zones.at(zone).wm_; }
// Asked after nearly every allocation (simulate's kswapd wake-up test): the zone is checked
// against the end of the table, without at()'s division by sizeof(Zone).
std::uint64_t Model::watermark_boost(std::uint16_t zone) const {
  const std::vector<detail::Zone>& zones = impl_->zones;
  if (zones.begin() + zone >= zones.end()) {
    throw std::out_of_range("watermark_boost: no zone " + std::to_string(zone));
  }
  return zones[zone].boost_;
}
const LowmemReserve& Model::lowmem_reserve(std::uint16_t zone) const { return impl_->zones.at(zone).lowmem_; }
PcpLimits Model::pcp_limits(std::uint16_t zone) const { return impl_->zones.at(zone).limits_; }

void Model::set_watermarks(std::uint16_t zone, const Watermarks& wm) {
  impl_->zones.at(zone).wm_ = wm;
  impl_->cfg.zones.at(zone).watermarks = wm;
}
void Model::set_watermark_boost(std::uint16_t zone, std::uint64_t boost) { impl_->zones.at(zone).boost_ = boost; }
bool Model::boost_watermark(std::uint16_t zone) { return impl_->zones.at(zone).boost_watermark(); }
void Model::set_checked_free_bias(std::uint16_t zone, std::int64_t pages) { impl_->zones.at(zone).checked_free_bias_ = pages; }
void Model::set_lowmem_reserve(std::uint16_t zone, const LowmemReserve& reserve) {
  impl_->zones.at(zone).lowmem_ = reserve;
  impl_->cfg.zones.at(zone).lowmem_reserve = reserve;
}
bool Model::set_managed_pages(std::uint16_t zone, std::uint64_t pages) {
  ZoneConfig& cfg = impl_->cfg.zones.at(zone);
  pages = std::min(pages, cfg.spanned_pages);
  if (pages == cfg.managed_pages) {
    return false;
  }
  cfg.managed_pages = pages;
  impl_->zones.at(zone).managed_ = pages;
  return true;
}

bool Model::decay_pcp_high(unsigned cpu) {
  if (cpu >= impl_->cfg.nr_cpus || impl_->params.tunables.pcp == PcpMode::Off) {
    return false;
  }
  bool todo = false;
  for (Zone& z : impl_->zones) {
    todo = z.decay_pcp_high(cpu) || todo;
  }
  return todo;
}

void Model::set_reclaim_active(std::uint16_t zone, bool active) { impl_->zones.at(zone).reclaim_active_ = active; }
bool Model::reclaim_active(std::uint16_t zone) const { return impl_->zones.at(zone).reclaim_active_; }

void Model::recompute_reserves() { impl_->resolve_reserves(false); }
const Tunables& Model::tunables() const { return impl_->params.tunables; }
void Model::set_tunables(const Tunables& tunables) {
  const bool pcp_off = tunables.pcp == PcpMode::Off && impl_->params.tunables.pcp != PcpMode::Off;
  if (pcp_off) {
    drain_all();  // nothing may stay stranded on lists that are no longer used
  }
  impl_->params.tunables = tunables;
  impl_->cfg.tunables = tunables;
}

std::optional<Pfn> Model::fast_isolate_pick(unsigned order, MigrateType mt, Pfn min_pfn, Pfn low_pfn,
                                            unsigned scan_limit) const {
  const Zone* z = impl_->zone_for(min_pfn.value);
  if (z == nullptr || order > impl_->params.max_order) {
    return std::nullopt;
  }
  std::optional<Pfn> high;
  const detail::LinkView m = z->link_view(order);
  unsigned scanned = 0;
  for (std::uint32_t i = z->area_.lists[order][index_of(mt)].tail; i != kNil; i = m[i].prev) {
    const std::uint64_t pfn = z->pfn(i);
    if (pfn >= low_pfn.value) {
      return Pfn{pfn};
    }
    if (pfn >= min_pfn.value && (!high || pfn > high->value)) {
      high = Pfn{pfn};
      scan_limit = std::max(1u, scan_limit / 2);  // a candidate shortens the scan
    }
    if (++scanned >= scan_limit) {
      break;
    }
  }
  return high;
}

std::vector<Pfn> Model::free_list(std::uint16_t zone, unsigned order, MigrateType mt) const {
  std::vector<Pfn> heads;
  if (zone >= impl_->zones.size() || order > impl_->params.max_order) {
    return heads;
  }
  const Zone& z = impl_->zones[zone];
  const detail::LinkView m = z.link_view(order);
  for (std::uint32_t i = z.area_.lists[order][index_of(mt)].head; i != kNil; i = m[i].next) {
    heads.push_back(Pfn{z.pfn(i)});
  }
  return heads;
}

std::optional<BlockState> Model::block_state(Pfn pfn) const {
  const Zone* z = impl_->zone_for(pfn.value);
  if (z == nullptr) {
    return std::nullopt;
  }
  const std::uint32_t h = z->find_head(z->idx(pfn.value));
  if (h == kNil) {
    return std::nullopt;
  }
  const detail::PageState m = z->state(h);
  switch (m.kind()) {
    case PageKind::Free: return BlockState::Free;
    case PageKind::Pcp: return BlockState::Pcp;
    case PageKind::Alloc: return m.seed_owned() ? BlockState::Seed : BlockState::Allocated;
    case PageKind::Tail: break;
  }
  return std::nullopt;
}

std::optional<BlockInfo> Model::block_containing(Pfn pfn) const {
  const Zone* z = impl_->zone_for(pfn.value);
  if (z == nullptr) {
    return std::nullopt;
  }
  const std::uint32_t h = z->find_head(z->idx(pfn.value));
  if (h == kNil) {
    return std::nullopt;
  }
  const detail::PageState m = z->state(h);
  BlockInfo b;
  b.head = Pfn{z->pfn(h)};
  b.order = m.order;
  b.migratetype = m.mt();
  b.zone = z->id_;
  switch (m.kind()) {
    case PageKind::Free:
      b.state = BlockState::Free;
      break;
    case PageKind::Pcp:
      b.state = BlockState::Pcp;
      b.cpu = static_cast<std::uint16_t>(z->pcp_cpu(h, m));
      break;
    case PageKind::Alloc:
      b.state = m.seed_owned() ? BlockState::Seed : BlockState::Allocated;
      b.owner = z->owner(h, m);
      break;
    case PageKind::Tail:
      return std::nullopt;
  }
  return b;
}

std::optional<MigrateType> Model::pageblock_type(Pfn pfn) const {
  const Zone* z = impl_->zone_for(pfn.value);
  if (z == nullptr) {
    return std::nullopt;
  }
  return z->pb_type(z->idx(pfn.value));
}

std::uint64_t Model::nr_free_pages(std::uint16_t zone) const { return impl_->zones.at(zone).nr_free_pages(); }
std::uint64_t Model::pcp_pages(std::uint16_t zone) const { return impl_->zones.at(zone).pcp_pages_; }
std::uint64_t Model::pcp_count(std::uint16_t zone, unsigned cpu) const {
  return static_cast<std::uint64_t>(impl_->zones.at(zone).pcp_.at(cpu).count);
}
std::int64_t Model::pcp_high(std::uint16_t zone, unsigned cpu) const { return impl_->zones.at(zone).pcp_.at(cpu).high; }
ZoneLevels Model::levels(std::uint16_t zone) const {
  const Zone& z = impl_->zones.at(zone);
  return ZoneLevels{z.wm_, z.boost_, z.nr_free_pages(), z.pcp_pages_,
                    static_cast<std::uint64_t>(z.unusable_free(0, alloc::kCma))};
}
const ModelCounters& Model::counters() const { return impl_->params.counters; }

MetadataCosts metadata_costs(unsigned nr_cpus) {
  return MetadataCosts{sizeof(detail::PageState) + sizeof(detail::PageLinks), sizeof(detail::PageblockMeta),
                       sizeof(detail::PageState) + sizeof(detail::PageLinks),
                       sizeof(Zone) + std::size_t{nr_cpus} * sizeof(detail::PerCpuPages)};
}

std::size_t Model::metadata_bytes() const {
  std::size_t bytes = sizeof(Impl) - sizeof(Impl::GfpMemo);  // a cache of prepare(), no metadata
  for (const Zone& z : impl_->zones) {
    bytes += sizeof(Zone) + z.metadata_bytes() + z.pcp_.capacity() * sizeof(detail::PerCpuPages);
  }
  return bytes;
}

std::size_t Model::metadata_resident_bytes() const {
  std::size_t bytes = 0;
  for (const Zone& z : impl_->zones) {
    bytes += z.metadata_resident_bytes();
  }
  return bytes;
}

std::uint64_t Model::page_frames() const {
  std::uint64_t n = 0;
  for (const Zone& z : impl_->zones) {
    n += z.end_ - z.start_;
  }
  return n;
}

}  // namespace labyrinth::allocator
