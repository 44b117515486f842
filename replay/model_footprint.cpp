#include "labyrinth/replay/model_footprint.hpp"

#include <algorithm>

#include "labyrinth/allocator/model.hpp"
#include "pfn_map.hpp"

namespace labyrinth::replay {

namespace {

// Written per free run of a start snapshot: a run's ragged ends are blocks below
// MAX_PAGE_ORDER, whose records (and those of the seed blocks beside them) fill a few pages of
// the state and links arrays. bench/allocator/model_scale measured 20 KiB a run on quiet
// synthetic snapshots (1 TiB, 7,418 runs: 181 MiB peak; 4 TiB, 29,479 runs: 677 MiB); busy
// snapshots reach every frame's records first (the bound below).
constexpr double kSeedBytesPerRun = 32.0 * 1024;
// Per pageblock, besides the table: the seeding's sort (seed.cpp: a free-page count and an
// index) and the end audit's recount (check_invariants: a table of its own).
constexpr double kSeedBytesPerPageblock = 12;
// simulate's reclaim queues: a pfn per allocation still queued.
constexpr double kQueueBytesPerEvent = 8;

}  // namespace

ModelFootprint estimate_model_footprint(const traces::TraceHeader& header, const traces::Snapshot& start,
                                        std::optional<std::uint64_t> events, bool simulate) {
  ModelFootprint f;
  const allocator::MetadataCosts costs = allocator::metadata_costs(std::max(header.nr_cpus, 1u));
  const unsigned max_order = std::min<unsigned>(header.max_order, 30);
  const unsigned pbo = std::min<unsigned>(header.pageblock_order, max_order);
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (const auto& z : header.zones) {
    if (z.spanned_pages == 0 || z.managed_pages == 0) continue;  // not modelled
    lo = std::min(lo, z.start_pfn);
    const std::uint64_t end = z.start_pfn + z.spanned_pages;
    hi = std::max(hi, end < z.start_pfn ? ~std::uint64_t{0} : end);
    f.frames = f.frames + z.spanned_pages < f.frames ? ~std::uint64_t{0} : f.frames + z.spanned_pages;
    const auto pageblocks = static_cast<double>((z.spanned_pages >> pbo) + 2);
    f.tables_bytes += static_cast<double>(costs.per_zone) + 2 * pageblocks * static_cast<double>(costs.per_pageblock) +
                      static_cast<double>((z.spanned_pages >> max_order) + 2) * static_cast<double>(costs.per_top_block);
    if (start.present) f.tables_bytes += pageblocks * kSeedBytesPerPageblock;
  }
  if (hi <= lo) return f;
  f.pfn_range = hi - lo;
  f.all_frames_bytes = static_cast<double>(f.frames) * static_cast<double>(costs.per_frame);
  if (start.present && !start.free_runs.empty()) {
    f.seed_bytes = std::min(f.all_frames_bytes, static_cast<double>(start.free_runs.size()) * kSeedBytesPerRun);
  }
  // An event writes the records of one block and its buddies: at most one fresh page of the
  // state array and one of the links.
  const double page = 4096;
  const double n = events ? static_cast<double>(*events) : -1.0;
  auto bounded = [n](double all, double per_event) { return n < 0 ? all : std::min(all, n * per_event); };
  f.events_bytes = bounded(f.all_frames_bytes - f.seed_bytes, 2 * page);
  if (simulate) {
    // The pfn map: flat arrays (zero pages until written) over a range the model can index,
    // a hash map entry per live allocation beyond it.
    if (f.pfn_range < detail::PfnMap::kDenseMax) {
      f.events_bytes += bounded(static_cast<double>(f.pfn_range) * detail::PfnMap::kBytesPerPfn, 2 * page);
    } else {
      f.events_bytes += bounded(0, detail::PfnMap::kSparseEntryBytes);
    }
    f.events_bytes += bounded(0, kQueueBytesPerEvent);
  }
  return f;
}

}  // namespace labyrinth::replay
