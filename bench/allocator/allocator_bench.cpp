// Allocator model benchmarks: alloc+free pairs (with and without per-cpu lists), carving, free
// with merging, metrics, and the metadata cost per page frame.
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "labyrinth/allocator/allocator.hpp"

namespace la = labyrinth::allocator;

namespace {

constexpr la::GfpLayout kGfp = la::GfpLayout::linux_6_10();

// One Normal zone of `pages` pages (4 GiB by default), every page free.
la::ModelConfig zone_config(std::uint64_t pages, la::PcpMode pcp) {
  la::ModelConfig c;
  la::ZoneConfig z;
  z.type = la::ZoneType::Normal;
  z.start_pfn = la::Pfn{1u << 20};
  z.spanned_pages = z.managed_pages = pages;
  c.zones.push_back(z);
  c.nr_cpus = 4;
  c.tunables.pcp = pcp;
  return c;
}

constexpr std::uint64_t kPages = 1u << 20;

// The kernel's hot path: an order-0 GFP_KERNEL page served from (and freed to) a pcp list.
void BM_AllocFreeOrder0Pcp(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Auto));
  const la::Gfp gfp = kGfp.kernel();
  for (auto _ : state) {
    const la::AllocResult r = m.allocate(gfp, 0, 0, 1);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(m.free(r.pfn, 0, 0));
  }
  state.SetLabel("alloc+free pair");
}
BENCHMARK(BM_AllocFreeOrder0Pcp);

// Without pcp every pair is __rmqueue_smallest + expand and __free_one_page. In a free zone the
// page splits an order-10 block and merges it back: the O(max_order) worst case.
void BM_AllocFreeOrder0NoPcpSplitMerge(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  const la::Gfp gfp = kGfp.kernel();
  for (auto _ : state) {
    const la::AllocResult r = m.allocate(gfp, 0, 0, 1);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(m.free(r.pfn, 0, 0));
  }
  state.SetLabel("alloc+free pair, 10 splits + 10 merges");
}
BENCHMARK(BM_AllocFreeOrder0NoPcpSplitMerge);

// Without pcp in a fragmented zone (every other page allocated): no split, no merge.
void BM_AllocFreeOrder0NoPcpFragmented(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  for (std::uint64_t p = 0; p < kPages; p += 2) {
    m.carve(la::Pfn{(1u << 20) + p}, 0, la::MigrateType::Unmovable, 7);
  }
  const la::Gfp gfp = kGfp.kernel();
  for (auto _ : state) {
    const la::AllocResult r = m.allocate(gfp, 0, 0, 1);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(m.free(r.pfn, 0, 0));
  }
  state.SetLabel("alloc+free pair, no split or merge");
}
BENCHMARK(BM_AllocFreeOrder0NoPcpFragmented);

void BM_AllocFreeByOrder(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Auto));
  const auto order = static_cast<unsigned>(state.range(0));
  const la::Gfp gfp = kGfp.highuser_movable();
  for (auto _ : state) {
    const la::AllocResult r = m.allocate(gfp, order, 1, 1);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(m.free(r.pfn, order, 1));
  }
  state.SetLabel("alloc+free pair, movable");
}
BENCHMARK(BM_AllocFreeByOrder)->Arg(0)->Arg(3)->Arg(4)->Arg(9)->Arg(10);

// Mirror replay: carve a random recorded pfn out of the free block holding it, then free it.
void BM_CarveFreeRandomPfn(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> pfns(1u << 16);
  for (auto& p : pfns) {
    p = (1u << 20) + (rng() % kPages);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const la::Pfn pfn{pfns[i++ & (pfns.size() - 1)]};
    benchmark::DoNotOptimize(m.carve(pfn, 0, la::MigrateType::Movable, 3));
    benchmark::DoNotOptimize(m.free(pfn, 0, 0));
  }
  state.SetLabel("carve+free pair");
}
BENCHMARK(BM_CarveFreeRandomPfn);

// Carving alone: carve 4096 random distinct pfns per timed batch (manual time).
void BM_Carve(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  std::mt19937_64 rng(2);
  std::vector<std::uint64_t> pfns;
  for (std::uint64_t p = 0; p < kPages; p += 256) {
    pfns.push_back((1u << 20) + p + rng() % 256);
  }
  std::shuffle(pfns.begin(), pfns.end(), rng);
  pfns.resize(4096);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const std::uint64_t p : pfns) {
      benchmark::DoNotOptimize(m.carve(la::Pfn{p}, 0, la::MigrateType::Movable, 3));
    }
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    for (const std::uint64_t p : pfns) {
      m.free(la::Pfn{p}, 0, 0);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(pfns.size()));
  state.SetLabel("per carve: see items_per_second");
}
BENCHMARK(BM_Carve)->UseManualTime();

// Free with merging: a max-order block carved into 1024 single pages, then freed in an order
// that merges at every level (timed part only).
void BM_FreeWithMerge(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  const std::uint64_t base = (1u << 20) + 4096;
  for (auto _ : state) {
    for (std::uint64_t p = 0; p < 1024; ++p) {
      m.carve(la::Pfn{base + p}, 0, la::MigrateType::Movable, 3);
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t p = 0; p < 1024; ++p) {
      benchmark::DoNotOptimize(m.free(la::Pfn{base + p}, 0, 0));
    }
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  state.SetLabel("1024 frees, 1023 merges; per free: see items_per_second");
}
BENCHMARK(BM_FreeWithMerge)->UseManualTime();

// Metrics of a fragmented zone (buddyinfo, pagetypeinfo, both indices for every order).
void BM_Metrics(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Off));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200000; ++i) {
    m.carve(la::Pfn{(1u << 20) + rng() % kPages}, 0, la::MigrateType::Unmovable, 5);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.metrics(0));
  }
}
BENCHMARK(BM_Metrics);

// Watermark verdict for reporting, without allocating.
void BM_CheckRequest(benchmark::State& state) {
  la::Model m(zone_config(kPages, la::PcpMode::Auto));
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.check_request(kGfp.atomic(), 0, 0));
  }
}
BENCHMARK(BM_CheckRequest);

// The cost of the model itself: a 64 GiB machine (16 Mi page frames of 4 KiB) in three zones
// like x86-64's, reported as bytes of model state per page frame.
void BM_MetadataPerPageFrame(benchmark::State& state) {
  la::ModelConfig c;
  const std::uint64_t total = 64ull << 30 >> 12;
  const std::array<std::pair<la::ZoneType, std::uint64_t>, 3> zones{
      {{la::ZoneType::Dma, 4096}, {la::ZoneType::Dma32, (4ull << 30 >> 12) - 4096}, {la::ZoneType::Normal, 0}}};
  std::uint64_t start = 0;
  for (const auto& [type, pages] : zones) {
    la::ZoneConfig z;
    z.type = type;
    z.start_pfn = la::Pfn{start};
    z.spanned_pages = z.managed_pages = pages != 0 ? pages : total - start;
    start += z.spanned_pages;
    c.zones.push_back(z);
  }
  c.nr_cpus = 64;
  double bytes = 0;
  double frames = 0;
  for (auto _ : state) {
    la::Model m(c);
    bytes = static_cast<double>(m.metadata_bytes());
    frames = static_cast<double>(m.page_frames());
    benchmark::DoNotOptimize(m);
  }
  state.counters["bytes_per_page_frame"] = bytes / frames;
  state.counters["model_MiB"] = bytes / (1024.0 * 1024.0);
  state.SetLabel("64 GiB, 16 Mi page frames, 64 CPUs (time = construct + seed)");
}
BENCHMARK(BM_MetadataPerPageFrame)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
