// The model behind the C API: zones laid out from pfn 0 (DMA, DMA32, Normal), every page
// managed, the Linux 6.10+ gfp layout.
#include "c_api_bridge.hpp"

#include <algorithm>
#include <new>

#include "labyrinth/allocator/model.hpp"

namespace laby_c_bridge {

namespace la = labyrinth::allocator;

struct Handle {
  la::Model model;
};

Handle* create(const Options& o) noexcept {
  try {
    la::ModelConfig cfg;
    cfg.page_size = o.page_size;
    cfg.max_order = o.max_order;
    cfg.pageblock_order = std::min(o.pageblock_order, o.max_order);
    cfg.nr_cpus = o.nr_cpus;
    std::uint64_t next = 0;
    auto add = [&](la::ZoneType type, std::uint64_t pages) {
      if (pages == 0) {
        return;
      }
      la::ZoneConfig z;
      z.type = type;
      z.start_pfn = la::Pfn{next};
      z.spanned_pages = pages;
      z.managed_pages = pages;
      cfg.zones.push_back(z);
      next += pages;
    };
    add(la::ZoneType::Dma, o.dma_pages);
    add(la::ZoneType::Dma32, o.dma32_pages);
    add(la::ZoneType::Normal, o.normal_pages);
    if (o.min_free_kbytes >= 0) {
      cfg.tunables.min_free_kbytes = static_cast<std::uint64_t>(o.min_free_kbytes);
    }
    cfg.tunables.watermark_scale_factor = o.watermark_scale_factor;
    cfg.tunables.pcp = o.pcp ? la::PcpMode::Auto : la::PcpMode::Off;
    cfg.tunables.highatomic = o.highatomic;
    return new Handle{la::Model(std::move(cfg))};
  } catch (...) {
    return nullptr;
  }
}

void destroy(Handle* h) noexcept { delete h; }

AllocOut allocate(Handle* h, std::uint64_t gfp, unsigned order, unsigned cpu, std::uint64_t owner) noexcept {
  AllocOut out;
  const la::AllocResult r = h->model.allocate(gfp, order, cpu, owner);
  out.ok = r.ok();
  out.pfn = r.pfn.value;
  out.failure = static_cast<int>(r.failure);  // same numbering as enum labyrinth_failure
  return out;
}

int free_block(Handle* h, std::uint64_t pfn, unsigned cpu) noexcept {
  const auto b = h->model.block_containing(la::Pfn{pfn});
  if (!b) {
    return -1;
  }
  if (b->state == la::BlockState::Free || b->state == la::BlockState::Pcp) {
    return -2;
  }
  if (b->head.value != pfn || b->state != la::BlockState::Allocated) {
    return -3;
  }
  const la::FreeResult r = h->model.free(la::Pfn{pfn}, b->order, cpu);
  return r.ok() ? 0 : -3;
}

std::uint64_t nr_free_pages(const Handle* h) noexcept {
  std::uint64_t n = 0;
  for (std::size_t z = 0; z < h->model.zone_count(); ++z) {
    n += h->model.nr_free_pages(static_cast<std::uint16_t>(z));
  }
  return n;
}

}  // namespace laby_c_bridge
