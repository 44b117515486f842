#include "compaction_guess.hpp"

#include <bit>

namespace labyrinth::replay::detail {

using allocator::BlockInfo;
using allocator::BlockState;
using allocator::MigrateType;
using allocator::Pfn;

namespace {

constexpr unsigned kAsyncScanStride = 32;  // COMPACT_CLUSTER_MAX
constexpr unsigned kFastScanLimit = 16;    // freelist_scan_limit() / 2 before any failed search

std::vector<BlockInfo> scan_free_blocks(const allocator::Model& model, std::uint64_t start, std::uint64_t end,
                                        unsigned stride) {
  std::vector<BlockInfo> out;
  for (std::uint64_t p = start; p < end; p += stride) {
    const auto b = model.block_containing(Pfn{p});
    if (!b || b->head.value != p) continue;
    if (b->state == BlockState::Free) out.push_back(*b);
    if (b->state != BlockState::Pcp) p += (std::uint64_t{1} << b->order) - 1;
  }
  return out;
}

std::uint64_t pages_of(const std::vector<BlockInfo>& blocks) {
  std::uint64_t n = 0;
  for (const auto& b : blocks) n += std::uint64_t{1} << b.order;
  return n;
}

}  // namespace

std::vector<BlockInfo> guess_block_scan(const allocator::Model& model, std::uint64_t start, std::uint64_t end,
                                        std::uint64_t taken_pages) {
  auto blocks = scan_free_blocks(model, start, end, 1);
  if (pages_of(blocks) != taken_pages) {
    auto sparse = scan_free_blocks(model, start, end, kAsyncScanStride);
    if (pages_of(sparse) == taken_pages) blocks = std::move(sparse);
  }
  return blocks;
}

std::optional<BlockInfo> guess_fast_isolation(const allocator::Model& model, std::uint64_t start, std::uint64_t end,
                                              std::uint64_t taken_pages, unsigned pageblock_order) {
  if (taken_pages == 0) return std::nullopt;
  const auto order = static_cast<std::uint8_t>(std::bit_width(taken_pages) - 1);
  const std::uint64_t pageblock = std::uint64_t{1} << pageblock_order;
  const std::uint64_t low = (start + (end - start) / 2) & ~(pageblock - 1);
  const auto block = [&](Pfn head, MigrateType mt) {
    BlockInfo b;
    b.head = head;
    b.order = order;
    b.migratetype = mt;
    return b;
  };
  if (const auto head = model.fast_isolate_pick(order, MigrateType::Movable, Pfn{start}, Pfn{low}, kFastScanLimit)) {
    return block(*head, MigrateType::Movable);
  }
  // The model's lists differ from the kernel's (pageblock types seeded from counts, an earlier
  // guess): keep the counts per order right with any block of the order in range.
  for (const MigrateType mt : {MigrateType::Movable, MigrateType::Reclaimable, MigrateType::Unmovable}) {
    if (const auto head = model.fast_isolate_pick(order, mt, Pfn{start}, Pfn{start}, ~0u)) return block(*head, mt);
  }
  return std::nullopt;
}

}  // namespace labyrinth::replay::detail
