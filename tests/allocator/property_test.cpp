// Seeded random operation sequences; after every operation the model's invariants must hold
// (no unmerged free buddies, consistent counts and lists, every page frame in exactly one
// block) and a shadow map checks exclusive ownership: no two live allocations overlap.
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "alloc_test_util.hpp"

namespace labyrinth::allocator::testing {
namespace {

struct Live {
  unsigned order;
  Owner owner;
};

class Harness {
 public:
  Harness(ModelConfig cfg, std::uint64_t seed) : m_(std::move(cfg)), rng_(seed), seed_(seed) {}

  Model& model() { return m_; }
  std::mt19937_64& rng() { return rng_; }
  std::map<std::uint64_t, Live>& live() { return live_; }

  std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }

  unsigned random_order() {
    const std::uint64_t r = pick(100);
    if (r < 55) {
      return 0;
    }
    if (r < 85) {
      return static_cast<unsigned>(1 + pick(3));
    }
    return static_cast<unsigned>(4 + pick(m_.config().max_order - 3));
  }

  // The new block must not overlap any live one.
  void add_live(std::uint64_t pfn, unsigned order, Owner owner, const std::string& op) {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    auto it = live_.lower_bound(pfn);
    if (it != live_.end()) {
      ASSERT_GE(it->first, end) << where(op) << "overlaps live block at " << it->first;
    }
    if (it != live_.begin()) {
      --it;
      ASSERT_LE(it->first + (std::uint64_t{1} << it->second.order), pfn) << where(op) << "overlaps " << it->first;
    }
    live_[pfn] = Live{order, owner};
  }

  [[nodiscard]] bool overlaps_live(std::uint64_t pfn, unsigned order) const {
    const std::uint64_t end = pfn + (std::uint64_t{1} << order);
    auto it = live_.lower_bound(pfn);
    if (it != live_.end() && it->first < end) {
      return true;
    }
    if (it != live_.begin()) {
      --it;
      return it->first + (std::uint64_t{1} << it->second.order) > pfn;
    }
    return false;
  }

  std::string where(const std::string& op) const {
    return "seed " + std::to_string(seed_) + " step " + std::to_string(step_) + " " + op + ": ";
  }

  void check(const std::string& op) {
    const auto err = m_.check_invariants();
    ASSERT_FALSE(err.has_value()) << where(op) << *err;
    ++step_;
  }

  std::uint64_t step_ = 0;

 private:
  Model m_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  std::map<std::uint64_t, Live> live_;
};

struct Geometry {
  unsigned max_order;
  unsigned pageblock_order;
  std::uint64_t min_free_kbytes;
};
constexpr Geometry kLinux{10, 9, 1024};
// Small pageblocks: many of them, and a highatomic reserve (managed / 100 >= a pageblock).
// High watermarks (min ~1024 pages a zone) widen the window where only the slow path serves.
constexpr Geometry kSmallBlocks{8, 5, 8192};

ModelConfig two_zones(PcpMode mode, Geometry g = kLinux) {
  ModelConfig c;
  c.max_order = g.max_order;
  c.pageblock_order = g.pageblock_order;
  c.rules.pcp_pmd_order = g.pageblock_order;
  ZoneConfig dma32;
  dma32.type = ZoneType::Dma32;
  dma32.start_pfn = Pfn{4096 + 1};  // unaligned start, like ZONE_DMA
  dma32.spanned_pages = dma32.managed_pages = 8191;
  ZoneConfig normal;
  normal.type = ZoneType::Normal;
  normal.start_pfn = Pfn{12288};
  normal.spanned_pages = normal.managed_pages = 8192;
  c.zones = {dma32, normal};
  c.nr_cpus = 2;
  c.tunables.pcp = mode;
  // Small pcp limits so that refills, drains and the free_high heuristic all happen.
  for (ZoneConfig& z : c.zones) {
    z.pcp = PcpLimits{7, 28, 112, false};
  }
  c.tunables.min_free_kbytes = g.min_free_kbytes;
  return c;
}

// Request mix; GFP_ATOMIC is weighted up so that zones spend time between 3/8 of min and low,
// where only the slow path (and the highatomic reserve) serves it.
const std::vector<Gfp>& gfps() {
  static const std::vector<Gfp> g{kGfpKernel,
                                  kGfpAtomic,
                                  kGfpAtomic,
                                  kGfpAtomic,
                                  kGfpNowait,
                                  kGfpMovable,
                                  kGfpMovable,
                                  kGfpReclaimable,
                                  kGfpKernel | kGfp.dma32,
                                  kGfpAtomic | kGfp.nomemalloc,
                                  kGfp.kernel() | kGfp.memalloc};
  return g;
}

void snapshot_equal(const Model& a, const ZoneMetrics& before, std::uint16_t zone, const std::string& what) {
  const ZoneMetrics now = a.metrics(zone);
  EXPECT_EQ(now.nr_free, before.nr_free) << what;
  EXPECT_EQ(now.nr_free_pages, before.nr_free_pages) << what;
  EXPECT_EQ(now.pcp_pages, before.pcp_pages) << what;
}

void add(ModelCounters& sum, const ModelCounters& k) {
  sum.allocations += k.allocations;
  sum.failures += k.failures;
  sum.claims += k.claims;
  sum.steals += k.steals;
  sum.pcp_refills += k.pcp_refills;
  sum.pcp_drained_pages += k.pcp_drained_pages;
  sum.boosts += k.boosts;
  sum.highatomic_reservations += k.highatomic_reservations;
  sum.direct_reclaims += k.direct_reclaims;
  sum.nofragment_retries += k.nofragment_retries;
}

// Adds what the run did to `sum` (gtest's ASSERT_* needs a void function).
void run_simulation(std::uint64_t seed, PcpMode mode, int steps, Geometry g, ModelCounters& sum) {
  Harness h(two_zones(mode, g), seed);
  Model& m = h.model();
  Owner next_owner = 1;
  for (int i = 0; i < steps; ++i) {
    // Alternate fill and drain phases so that zones run into their watermarks and fragment:
    // allocations take op < alloc_end, frees alloc_end <= op < 80, the rest the other kinds.
    const bool filling = i % 1200 < 900;
    const std::uint64_t alloc_end = filling ? 75 : 20;
    const std::uint64_t op = h.pick(100);
    if (op < alloc_end) {
      const Gfp gfp = gfps()[h.pick(gfps().size())];
      const unsigned order = h.random_order();
      const AllocResult r = m.allocate(gfp, order, static_cast<unsigned>(h.pick(2)), next_owner);
      if (r.ok()) {
        ASSERT_LE(index_of(m.zone_config(r.zone).type), index_of(gfp_zone(gfp, kGfp, false)));
        h.add_live(r.pfn.value, order, next_owner, "allocate");
        ++next_owner;
      } else {
        ASSERT_NE(r.failure, AllocFailure::None);
      }
      h.check("allocate");
    } else if (op < 80 && !h.live().empty()) {
      auto it = h.live().begin();
      std::advance(it, static_cast<long>(h.pick(std::min<std::uint64_t>(h.live().size(), 64))));
      if (h.pick(2) == 0) {
        it = h.live().end();
        --it;
      }
      const std::uint64_t pfn = it->first;
      const Live l = it->second;
      const FreeResult f = m.free(Pfn{pfn}, l.order, static_cast<unsigned>(h.pick(2)));
      ASSERT_EQ(f.status, FreeStatus::Freed) << h.where("free") << pfn;
      ASSERT_EQ(f.owner, l.owner) << h.where("free");
      h.live().erase(it);
      h.check("free");
    } else if (op < 86) {
      // Carve a random range (mirror-style): success must not overlap a live block, NotFree
      // must.
      const unsigned order = h.random_order();
      const std::uint64_t pfn = (4096 + h.pick(16384)) & ~((std::uint64_t{1} << order) - 1);
      const auto mt = static_cast<MigrateType>(h.pick(3));
      const CarveResult c = m.carve(Pfn{pfn}, order, mt, next_owner);
      if (c.ok()) {
        ASSERT_NE(c.status, CarveStatus::CarvedFromSeed);  // no seed pages in this model
        h.add_live(pfn, order, next_owner, "carve");
        ++next_owner;
      } else if (c.status == CarveStatus::NotFree) {
        ASSERT_TRUE(h.overlaps_live(pfn, order)) << h.where("carve");
      }
      h.check("carve");
    } else if (op < 92 && !h.live().empty()) {
      // Bad frees are reported and change nothing.
      auto it = h.live().begin();
      std::advance(it, static_cast<long>(h.pick(h.live().size())));
      const std::uint64_t pfn = it->first;
      const unsigned order = it->second.order;
      const std::uint16_t zone = *m.zone_of(Pfn{pfn});
      const ZoneMetrics before = m.metrics(zone);
      if (order > 0) {
        EXPECT_EQ(m.free(Pfn{pfn}, order - 1, 0).status, FreeStatus::WrongOrder) << h.where("wrong order");
        EXPECT_EQ(m.free(Pfn{pfn + 1}, 0, 0).status, FreeStatus::UnknownPage) << h.where("inside");
      } else {
        const auto b = m.block_containing(Pfn{pfn ^ 1});
        if (b && (b->state == BlockState::Free || b->state == BlockState::Pcp)) {
          EXPECT_EQ(m.free(Pfn{pfn ^ 1}, 0, 0).status, FreeStatus::DoubleFree) << h.where("double free");
        }
      }
      snapshot_equal(m, before, zone, h.where("bad free"));
      h.check("bad free");
    } else if (op < 95 && !h.live().empty()) {
      auto it = h.live().begin();
      std::advance(it, static_cast<long>(h.pick(h.live().size())));
      if (it->second.order > 0) {
        const std::uint64_t pfn = it->first;
        const Live l = it->second;
        ASSERT_EQ(m.split_allocation(Pfn{pfn}, 0), SplitStatus::Split);
        h.live().erase(it);
        for (std::uint64_t p = pfn; p < pfn + (std::uint64_t{1} << l.order); ++p) {
          h.live()[p] = Live{0, l.owner};
        }
      }
      h.check("split");
    } else if (op < 97) {
      m.drain_cpu(static_cast<unsigned>(h.pick(2)));
      h.check("drain");
    } else {
      const std::uint64_t pfn = 4096 + h.pick(16384);
      // Mergeable types only: HighAtomic blocks must come from the reserve logic, which stops
      // at ~1% of the zone (explicit HighAtomic changes are covered by the mirror run).
      const auto mt = static_cast<MigrateType>(h.pick(3));
      if (m.zone_of(Pfn{pfn})) {
        (void)m.change_pageblock_type(Pfn{pfn}, mt);
      }
      h.check("change_pageblock_type");
    }
    if (::testing::Test::HasFatalFailure()) {
      return;
    }
  }
  add(sum, m.counters());
  // Free everything: all managed pages must come back.
  for (const auto& [pfn, l] : h.live()) {
    EXPECT_TRUE(m.free(Pfn{pfn}, l.order, 0).ok());
  }
  m.drain_all();
  h.check("final");
  // Isolated free pages are not NR_FREE_PAGES; everything else is free again.
  std::uint64_t isolated = 0;
  for (std::uint16_t z = 0; z < 2; ++z) {
    const ZoneMetrics zm = m.metrics(z);
    EXPECT_EQ(zm.pcp_pages, 0u);
    for (unsigned o = 0; o < zm.orders; ++o) {
      isolated += zm.nr_free_by_type[index_of(MigrateType::Isolate)][o] << o;
    }
  }
  EXPECT_EQ(m.nr_free_pages(0) + m.nr_free_pages(1) + isolated, 8191u + 8192u);
}


class Simulate : public ::testing::TestWithParam<std::uint64_t> {};

// Each run checks itself; the sums make sure the runs reach the paths they are meant to test.
TEST_P(Simulate, InvariantsHoldAfterEveryOperationWithPcp) {
  ModelCounters sum;
  run_simulation(GetParam(), PcpMode::Auto, 3600, kLinux, sum);
  run_simulation(GetParam(), PcpMode::Auto, 3600, kSmallBlocks, sum);
  EXPECT_GT(sum.pcp_refills, 0u);
  EXPECT_GT(sum.pcp_drained_pages, 0u);
  EXPECT_GT(sum.claims, 0u);
  EXPECT_GT(sum.failures, 0u);
  EXPECT_GT(sum.direct_reclaims, 0u);
}

TEST_P(Simulate, InvariantsHoldAfterEveryOperationWithoutPcp) {
  ModelCounters sum;
  run_simulation(GetParam(), PcpMode::Off, 3600, kLinux, sum);
  run_simulation(GetParam(), PcpMode::Off, 3600, kSmallBlocks, sum);
  EXPECT_EQ(sum.pcp_refills, 0u);
  EXPECT_GT(sum.claims, 0u);
  EXPECT_GT(sum.steals, 0u);
  EXPECT_GT(sum.highatomic_reservations, 0u);
  EXPECT_GT(sum.boosts, 0u);
  EXPECT_GT(sum.nofragment_retries, 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, Simulate, ::testing::Values(1u, 2u, 3u, 42u, 1234u, 99991u));

// Mirror replay: recorded refills, drains, carves and frees on a seeded model.
TEST_P(Simulate, InvariantsHoldUnderMirrorOperations) {
  ModelConfig c = two_zones(PcpMode::Manual);
  Harness h(c, GetParam());
  Model& m = h.model();
  std::vector<FreeRun> free_runs;
  for (std::uint64_t p = 4097; p < 20480;) {
    const std::uint64_t len = 1 + h.pick(300);
    if (h.pick(3) != 0) {
      free_runs.push_back(FreeRun{Pfn{p}, len});
    }
    p += len + h.pick(200);
  }
  m.seed(runs(free_runs));
  h.check("seed");
  std::vector<std::uint64_t> on_pcp;
  Owner owner = 1;
  std::map<std::string, int> seen;  // which outcomes the run reached
  for (int i = 0; i < 2500; ++i) {
    const std::uint64_t op = h.pick(100);
    const unsigned order = h.pick(4) == 0 ? static_cast<unsigned>(h.pick(11)) : 0u;
    const std::uint64_t pfn = (4096 + h.pick(16384)) & ~((std::uint64_t{1} << order) - 1);
    if (op < 35) {
      const CarveResult r = m.carve(Pfn{pfn}, order, static_cast<MigrateType>(h.pick(3)), owner);
      ++seen["carve" + std::to_string(static_cast<int>(r.status))];
      if (r.ok()) {
        h.add_live(pfn, order, owner++, "carve");
      } else if (r.status == CarveStatus::NotFree) {
        EXPECT_TRUE(h.overlaps_live(pfn, order)) << h.where("carve");
      }
      h.check("carve");
    } else if (op < 65 && !h.live().empty()) {
      auto it = h.live().begin();
      std::advance(it, static_cast<long>(h.pick(h.live().size())));
      const FreeResult f = m.free(Pfn{it->first}, it->second.order, static_cast<unsigned>(h.pick(2)));
      ASSERT_EQ(f.status, FreeStatus::Freed) << h.where("free");
      if (f.to_pcp) {
        on_pcp.push_back(it->first);
      }
      h.live().erase(it);
      h.check("free");
    } else if (op < 80) {
      // A seed free: pages the model has as allocated before the recording.
      const auto b = m.block_containing(Pfn{pfn});
      // The block found holds pfn, and block_state (replay's cheap question) agrees with it.
      if (b) {
        EXPECT_TRUE(b->head.value <= pfn && pfn - b->head.value < (std::uint64_t{1} << b->order)) << h.where("find");
      }
      EXPECT_EQ(m.block_state(Pfn{pfn}), b ? std::optional<BlockState>{b->state} : std::nullopt) << h.where("state");
      if (b && b->state == BlockState::Seed) {
        const FreeStatus st = m.free(Pfn{pfn}, order, 0).status;
        ++seen["seedfree" + std::to_string(static_cast<int>(st))];
        if (b->order >= order) {
          EXPECT_EQ(st, FreeStatus::FreedSeed) << h.where("seed free");
        } else {
          // The range runs past the seed block: fine only if every block in it is seed-owned.
          bool all_seed = true;
          for (std::uint64_t p = pfn; p < pfn + (std::uint64_t{1} << order); ++p) {
            all_seed = all_seed && !h.overlaps_live(p, 0);
          }
          EXPECT_TRUE(st == FreeStatus::FreedSeed || st == FreeStatus::UnknownPage) << h.where("seed free");
          if (st == FreeStatus::FreedSeed) {
            EXPECT_TRUE(all_seed) << h.where("seed free");
          }
        }
      }
      h.check("seed free");
    } else if (op < 90) {
      const unsigned o = static_cast<unsigned>(h.pick(4));
      const std::uint64_t p = pfn & ~((std::uint64_t{1} << o) - 1);
      const PcpResult r = m.pcp_refill(Pfn{p}, o, static_cast<unsigned>(h.pick(2)), static_cast<MigrateType>(h.pick(3)));
      ++seen["refill" + std::to_string(static_cast<int>(r.status))];
      if (r.ok()) {
        on_pcp.push_back(p);
      }
      h.check("refill");
    } else if (op < 93) {
      const PageblockResult r = m.change_pageblock_type(Pfn{pfn}, static_cast<MigrateType>(h.pick(4)));
      EXPECT_NE(r.status, PageblockStatus::InvalidType) << h.where("extfrag");
      h.check("extfrag");
    } else if (!on_pcp.empty()) {
      const std::size_t k = h.pick(on_pcp.size());
      const auto b = m.block_containing(Pfn{on_pcp[k]});
      if (b && b->state == BlockState::Pcp && b->head.value == on_pcp[k]) {
        EXPECT_EQ(m.pcp_drain(b->head, b->order).status, PcpStatus::Moved) << h.where("drain");
        ++seen["drain"];
      }
      on_pcp.erase(on_pcp.begin() + static_cast<long>(k));
      h.check("drain");
    }
    if (::testing::Test::HasFatalFailure()) {
      return;
    }
  }
  EXPECT_GT(seen["carve" + std::to_string(static_cast<int>(CarveStatus::Carved))], 0);
  EXPECT_GT(seen["carve" + std::to_string(static_cast<int>(CarveStatus::CarvedFromSeed))], 0);
  EXPECT_GT(seen["carve" + std::to_string(static_cast<int>(CarveStatus::CarvedFromPcp))], 0);
  EXPECT_GT(seen["carve" + std::to_string(static_cast<int>(CarveStatus::NotFree))], 0);
  EXPECT_GT(seen["seedfree" + std::to_string(static_cast<int>(FreeStatus::FreedSeed))], 0);
  EXPECT_GT(seen["refill" + std::to_string(static_cast<int>(PcpStatus::Moved))], 0);
  EXPECT_GT(seen["refill" + std::to_string(static_cast<int>(PcpStatus::MovedFromSeed))], 0);
  EXPECT_GT(seen["drain"], 0);
}

}  // namespace
}  // namespace labyrinth::allocator::testing
