// From a trace header to an allocator model: zones (name -> ZoneType), recorded watermarks
// without boost, lowmem_reserve from zoneinfo's "protection:" (indexed by the node's zone
// index, which counts Movable/Device and every configured zone kind), the GFP layout of the
// recorded kernel, migratetypes mapped by name, tunables from the vm sysctls, and the
// what-if settings of a simulation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/model.hpp"
#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

// Settings a simulation changes; unset means "as recorded".
struct WhatIf {
  std::optional<std::uint64_t> min_free_kbytes;
  std::optional<std::uint64_t> watermark_scale_factor;
  std::optional<std::uint64_t> watermark_boost_factor;
  bool no_highatomic = false;
  bool no_pcp = false;
  bool compaction = false;  // model direct compaction (allocator Tunables::compaction)
  // The model's free lists pick every page. By default a request the kernel served takes the
  // kernel's page where it is free in the model: the lists' order, which decides the page, is
  // in no snapshot, and picking otherwise sent the model's layout another way
  // (replay/simulate_engine.cpp).
  bool model_placement = false;
  // Simulate's per-CPU list rules that live outside the allocator's calls (docs/kernel-rules.md
  // §7.3): vmstat's decay_pcp_high each stat interval, and the ZONE_RECLAIM_ACTIVE clamp while
  // the modelled kswapd runs. Off by default: measured on a real atomic squeeze they made the
  // prediction of the kernel's failures worse (README, "Against the recording").
  bool pcp_decay = false;
  bool pcp_reclaim_clamp = false;
  // Simulate's per-CPU lists follow the recording's refills and drains where the trace has
  // them: the kernel's own list dynamics under the recorded settings (drains after direct
  // reclaim, free_high, decay, the reclaim clamp), as the recorded frees carry its reclaim.
  // Off by default: it brings the model's free pages ten times closer to the kernel's on
  // atomic squeezes, and on recordings of format 1.8 predicts the kernel's failures better, but
  // on those of 1.7 it misses nearly all of their atomic failures (README, "Against the
  // recording"; replay/simulate_engine.cpp).
  bool follow_pcp = false;
  std::uint64_t balloon_bytes = 0;
  // Simulate's kswapd reclaim rate in MiB of trace time per second (the trace does not say how
  // fast the kernel's reclaimed; replay/simulate_engine.cpp).
  std::uint64_t kswapd_mib_per_s = 1024;
  // True when a setting that changes the watermarks is given (they are then recomputed).
  [[nodiscard]] bool changes_watermarks() const { return min_free_kbytes || watermark_scale_factor; }
};

struct ModelSetup {
  allocator::ModelConfig config;
  // Header zone index -> model zone id, -1 for a zone the model leaves out (no pages).
  std::vector<int> model_zone_of_header;
  // Model zone id -> header zone index.
  std::vector<std::size_t> header_zone_of_model;
  // Recorded migratetype value -> the model's type (by name); nullopt when unknown.
  std::array<std::optional<allocator::MigrateType>, 16> migratetype_of{};
  traces::GfpBits bits;
  std::uint64_t recorded_min_free_kbytes = 0;  // 0 when the trace does not say
  std::vector<std::string> notes;              // what was assumed, for the report
};

// The GFP bits the model reads, looked up by name in the recorded kernel's table.
allocator::GfpLayout gfp_layout_of(const traces::GfpTable& table);

// Zone kinds of one node in the kernel's enum order (DMA, DMA32, Normal, HighMem, Movable,
// Device, leaving out those not configured), inferred from the length of its "protection:"
// arrays and the zone names present. Index i of "protection:" belongs to result[i].
std::vector<allocator::ZoneType> node_zone_kinds(const traces::TraceHeader& header, int node);

// Kernel-version rules from the release string ("6.12.95-...", "7.3.4").
allocator::KernelRules kernel_rules_of(const traces::TraceHeader& header);

// Whether the model's rules are those of the recorded kernel (docs/kernel-rules.md §1, §12.1).
// modelled == false: a generation whose allocation policy the model does not have (simulate
// refuses it: its predictions would be another kernel's); `why` names the rule. A release that
// cannot be read, or one newer than the model knows, is modelled with a note in `why`.
struct KernelGeneration {
  bool modelled = true;
  std::string why;  // empty when the release is one the rules describe
};
KernelGeneration kernel_generation(const std::string& release);

// Builds the model configuration. Throws std::invalid_argument when the header has no zone
// the model can use.
// The model's type of a migratetype value recorded in the trace: by the header's names (the
// recorded kernel's enum), or the value itself in a trace that names none; nullopt if unknown.
std::optional<allocator::MigrateType> recorded_migratetype(const traces::TraceHeader& header, int value);

ModelSetup make_model_setup(const traces::TraceHeader& header, allocator::PcpMode pcp, const WhatIf& what_if);

// The start (or any) snapshot as the model's seed: free runs, pageblock counts by name.
allocator::Snapshot model_snapshot(const traces::Snapshot& snapshot, const traces::TraceHeader& header,
                                   const ModelSetup& setup);

// A zone's "protection:" list (zoneinfo) as lowmem_reserve by zone type; nullopt when empty or
// when its length does not fit the node's zones.
std::optional<allocator::LowmemReserve> lowmem_reserve_of(const traces::TraceHeader& header, int node,
                                                          const std::vector<std::uint64_t>& protection);

// The snapshot's entry for a model zone (by node and name); nullptr when it has none.
const traces::ZoneSnapshot* snapshot_zone(const traces::Snapshot& snapshot, const ModelSetup& setup,
                                          const traces::TraceHeader& header, std::uint16_t model_zone);

// Sets each model zone's managed pages to those of the snapshot (a keyframe's: zones grow
// with deferred init and hotplug), where it has them. Returns whether any changed; the
// reserves are then to be recomputed (Model::recompute_reserves), as the kernel does.
bool follow_zone_sizes(allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                       const traces::Snapshot& snapshot);

// Sets each model zone's watermarks, lowmem_reserve and (with `boost`) boost to those of the
// snapshot (a keyframe's), where the snapshot has them.
void follow_zone_levels(allocator::Model& model, const ModelSetup& setup, const traces::TraceHeader& header,
                        const traces::Snapshot& snapshot, bool boost = true);

// Parses "min_free_kbytes"-style sysctl values; nullopt when absent or not a number.
std::optional<std::uint64_t> sysctl_u64(const traces::TraceHeader& header, const std::string& key);

}  // namespace labyrinth::replay
