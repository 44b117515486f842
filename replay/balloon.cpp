// The simulate balloon: memory taken away at the start, as if the machine were smaller.
//
// It takes free pages only (every allocation of the recording stays valid), from the highest
// pfns of the highest zone kind first (Normal before DMA32 before DMA, like memory
// hot-unplug of the top of memory or a smaller mem=), in the largest aligned blocks the free
// lists hold, so it does not fragment what is left beyond what the start state already was.
// The pages stay allocated to kBalloonOwner; the watermarks keep their values (the kernel
// does not recompute them when a balloon inflates).
#include <algorithm>

#include "engine.hpp"

namespace labyrinth::replay::detail {

using allocator::Pfn;

std::uint64_t inflate_balloon(allocator::Model& model, std::uint64_t pages) {
  std::vector<std::uint16_t> zones(model.zone_count());
  for (std::size_t i = 0; i < zones.size(); ++i) zones[i] = static_cast<std::uint16_t>(i);
  std::stable_sort(zones.begin(), zones.end(), [&](std::uint16_t a, std::uint16_t b) {
    const auto& za = model.zone_config(a);
    const auto& zb = model.zone_config(b);
    if (za.type != zb.type) return allocator::index_of(za.type) > allocator::index_of(zb.type);
    return za.start_pfn > zb.start_pfn;
  });
  std::uint64_t taken = 0;
  for (const std::uint16_t z : zones) {
    if (taken >= pages) break;
    // Free blocks of the zone, highest first.
    std::vector<std::pair<std::uint64_t, unsigned>> blocks;
    const auto& zc = model.zone_config(z);
    const std::uint64_t end = zc.start_pfn.value + zc.spanned_pages;
    for (std::uint64_t p = zc.start_pfn.value; p < end;) {
      const auto b = model.block_containing(Pfn{p});
      if (!b) {
        ++p;
        continue;
      }
      if (b->state == allocator::BlockState::Free && b->head.value == p) blocks.emplace_back(p, b->order);
      p = std::max(p + 1, b->head.value + (std::uint64_t{1} << b->order));
    }
    for (auto it = blocks.rbegin(); it != blocks.rend() && taken < pages; ++it) {
      const auto [head, order] = *it;
      const std::uint64_t size = std::uint64_t{1} << order;
      const std::uint64_t want = std::min(size, pages - taken);
      if (want == size) {
        if (model.carve(Pfn{head}, order, allocator::MigrateType::Movable, kBalloonOwner).ok()) taken += size;
        continue;
      }
      // The top `want` pages of the block, as aligned pieces from the top down.
      std::uint64_t top = head + size;
      for (int o = static_cast<int>(order) - 1; o >= 0; --o) {
        const std::uint64_t piece = std::uint64_t{1} << o;
        if ((want & piece) == 0) continue;
        top -= piece;
        if (model.carve(Pfn{top}, static_cast<unsigned>(o), allocator::MigrateType::Movable, kBalloonOwner).ok()) {
          taken += piece;
        }
      }
    }
  }
  return taken;
}

}  // namespace labyrinth::replay::detail
