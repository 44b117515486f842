// Internal: the state behind labyrinth::allocator::Model.
#pragma once

#include <cstdint>
#include <vector>

#include "labyrinth/allocator/model.hpp"
#include "zone.hpp"

namespace labyrinth::allocator {

/// One allocation request on its way through the zonelist (struct alloc_context).
struct AllocContext {
  const std::vector<std::uint16_t>* zonelist = nullptr;
  ZoneType highest = ZoneType::Normal;
  MigrateType mt = MigrateType::Unmovable;
  unsigned cpu = 0;
  unsigned order = 0;
  int preferred = -1;  ///< first usable zone, -1 when none
};

struct Hit {
  std::uint32_t idx = detail::kNil;
  std::uint16_t zone = 0;
  BlockSource src = BlockSource::Buddy;
};

struct Model::Impl {
  explicit Impl(ModelConfig config);
  Impl(const Impl& other);
  Impl& operator=(const Impl&) = delete;

  ModelConfig cfg;  ///< with every computed watermark, reserve and pcp limit filled in
  detail::Params params;
  std::vector<detail::Zone> zones;
  std::vector<std::uint16_t> by_start;                 ///< zone ids sorted by start pfn
  std::vector<std::vector<std::uint16_t>> zonelists;   ///< per node, highest zone first
  std::vector<int> cpu_node;
  int nr_nodes = 1;
  bool has_highmem = false;

  [[nodiscard]] detail::Zone* zone_for(std::uint64_t pfn);
  [[nodiscard]] const detail::Zone* zone_for(std::uint64_t pfn) const;
  void resolve_reserves(bool keep_recorded);
  [[nodiscard]] PcpMode pcp_mode() const { return params.tunables.pcp; }

  // seed.cpp
  SeedReport seed(const Snapshot& snapshot);
  void reset_zone(detail::Zone& z) const;

  // page_alloc.cpp
  [[nodiscard]] AllocContext prepare(Gfp gfp, unsigned order, unsigned cpu) const;
  [[nodiscard]] AllocFlags nofragment_flags(const AllocContext& ac, Gfp gfp) const;
  Hit get_page_from_freelist(const AllocContext& ac, AllocFlags flags, Owner owner);
  Hit rmqueue(detail::Zone& z, const AllocContext& ac, AllocFlags flags, bool& from_buddy);
  [[nodiscard]] std::pair<AllocFailure, std::uint16_t> classify(const AllocContext& ac, AllocFlags flags,
                                                                bool watermarks_ignored) const;
  AllocResult allocate(Gfp gfp, unsigned order, unsigned cpu, Owner owner);

  // mirror.cpp
  bool take_seed_range(detail::Zone& z, std::uint32_t idx, unsigned order);
  bool route_free(detail::Zone& z, std::uint32_t idx, unsigned order, unsigned cpu);
};

}  // namespace labyrinth::allocator
