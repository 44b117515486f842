// The end-state check's free map of the model (model_free_runs), which skips pageblocks
// without free pages, against a lookup of every page frame, on models left in random states.
#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "labyrinth/replay/validation.hpp"

namespace labyrinth::replay {
namespace {

using allocator::Pfn;

// Every pfn of the zone looked up: what model_free_runs must give.
std::vector<std::pair<std::uint64_t, std::uint64_t>> every_frame(const allocator::Model& model, std::uint16_t zone) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  const allocator::ZoneConfig& zc = model.zone_config(zone);
  for (std::uint64_t p = zc.start_pfn.value; p < zc.start_pfn.value + zc.spanned_pages; ++p) {
    const auto b = model.block_containing(Pfn{p});
    if (!b || b->state != allocator::BlockState::Free) continue;
    if (!runs.empty() && runs.back().second == p) {
      ++runs.back().second;
    } else {
      runs.emplace_back(p, p + 1);
    }
  }
  return runs;
}

TEST(ModelFreeRuns, SameAsLookingUpEveryFrame) {
  allocator::ModelConfig cfg;
  cfg.tunables.pcp = allocator::PcpMode::Off;
  allocator::ZoneConfig zone;
  zone.start_pfn = Pfn{1};  // not pageblock-aligned, as DMA starts
  zone.spanned_pages = (1u << 16) - 1;
  zone.managed_pages = zone.spanned_pages;
  cfg.zones.push_back(zone);
  for (unsigned seed : {1u, 2u, 3u}) {
    allocator::Model model(cfg);
    std::mt19937_64 rng(seed);
    std::vector<std::pair<std::uint64_t, unsigned>> live;
    // Fill most of the zone (whole pageblocks end up allocated), then free some at random.
    for (int i = 0; i < 40000; ++i) {
      const unsigned order = rng() % 4 == 0 ? static_cast<unsigned>(rng() % 11) : 0u;
      const std::uint64_t pfn = (1 + rng() % zone.spanned_pages) & ~((std::uint64_t{1} << order) - 1);
      if (model.carve(Pfn{pfn}, order, allocator::MigrateType::Movable, 1).ok()) live.emplace_back(pfn, order);
    }
    for (const auto& [pfn, order] : live)
      if (rng() % 8 == 0) (void)model.free(Pfn{pfn}, order, 0);
    const auto expected = every_frame(model, 0);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(model_free_runs(model, 0), expected) << "seed " << seed;
  }
}

}  // namespace
}  // namespace labyrinth::replay
