#include "labyrinth/ebpf/system_snapshot.hpp"

#include <fmt/format.h>

#include "labyrinth/ebpf/collector.hpp"

#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/vmstat.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"

namespace labyrinth::ebpf {

using traces::ZoneInfo;

traces::Snapshot take_snapshot(const std::vector<ZoneInfo>& header_zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings) {
  traces::Snapshot snap;
  snap.present = true;
  // buddyinfo first, and ts_ns is when it was read: replay validates the model's free blocks
  // per order against it at that instant. The window is the read alone: the allocator keeps
  // running, and a burst of frees moves hundreds of order-0 pages in a fraction of a ms.
  // The free lists right after it (the walk begins microseconds later and takes milliseconds).
  // A walk that began later than kMapSkewNs after buddyinfo (the thread was preempted on a busy
  // machine) describes another moment: both are read again.
  constexpr std::uint64_t kMapSkewNs = 5'000'000;
  std::uint64_t map_ns = 0;  // how long the map took
  bool have_map = false;
  procfs::TimedText buddyinfo = procfs::read_file_timed("/proc/buddyinfo");
  if (options.free_lists != nullptr) {
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) buddyinfo = procfs::read_file_timed("/proc/buddyinfo");
      const std::uint64_t t0 = boottime_ns();
      std::uint64_t started = 0;
      have_map = options.free_lists->walk_free_lists(snap.free_runs, why, &started);
      map_ns = boottime_ns() - t0;
      if (!have_map || started <= buddyinfo.ts_ns + kMapSkewNs) break;
      why = fmt::format("the walk began {:.0f} ms after buddyinfo was read, three times",
                        static_cast<double>(started - buddyinfo.ts_ns) / 1e6);
      have_map = false;
      snap.free_runs.clear();
    }
    // The walk's first failure, then one in 60 (a keyframe a second would repeat it every
    // second); every preempted read.
    const std::uint64_t failures = options.free_lists->free_list_failures();
    if (!have_map && warnings != nullptr && (failures == 0 || failures % 60 == 1))
      warnings->push_back("cannot read the free lists (" + why + ")" +
                          (options.kpageflags ? "; scanning /proc/kpageflags" : "; no free-page map in this keyframe") +
                          (failures > 1 ? fmt::format(" ({} times so far)", failures) : ""));
  }
  snap.ts_ns = buddyinfo.ts_ns;
  const auto buddy = procfs::parse_buddyinfo(buddyinfo.text);
  if (options.vmstat) {
    // Right after buddyinfo, so that the kernel's counts and the trace's events cover the same
    // span; a kernel without vm event counters still has the nr_* gauges.
    try {
      const procfs::TimedText vmstat = procfs::read_file_timed("/proc/vmstat");
      snap.vmstat_ts_ns = vmstat.ts_ns;
      snap.vmstat = procfs::parse_vmstat(vmstat.text);
    } catch (const std::exception& e) {
      if (warnings != nullptr) warnings->push_back(std::string("the snapshot has no kernel counters: ") + e.what());
    }
  }
  const auto zones = procfs::parse_zoneinfo(procfs::read_file("/proc/zoneinfo"));
  procfs::PagetypeInfo pti;
  if (!options.pagetypeinfo) {
    // a keyframe: buddyinfo and zoneinfo only
  } else if (const auto text = procfs::try_read_file("/proc/pagetypeinfo")) {
    pti = procfs::parse_pagetypeinfo(*text);
  } else if (warnings != nullptr) {
    warnings->emplace_back("cannot read /proc/pagetypeinfo; the snapshot has no per-migratetype counts");
  }
  for (const auto& row : buddy) {
    traces::ZoneSnapshot zs;
    zs.node = row.node;
    zs.zone = row.zone;
    zs.buddyinfo = row.free_blocks;
    for (const auto& z : zones) {
      if (z.node != row.node || z.name != row.zone) continue;
      zs.free_pages = z.free_pages;
      zs.pcp_pages = z.pcp_count_pages;
      zs.min_pages = z.min_pages;
      zs.low_pages = z.low_pages;
      zs.high_pages = z.high_pages;
      zs.boost_pages = z.boost_pages;
      zs.managed_pages = z.managed_pages;
      zs.lowmem_reserve_pages = z.lowmem_reserve_pages;
    }
    for (const auto& p : pti.zones) {
      if (p.node != row.node || p.zone != row.zone) continue;
      zs.pagetype_free = p.free_blocks;
      zs.pageblocks_by_type = p.pageblocks;
    }
    snap.zones.push_back(std::move(zs));
  }
  if (!have_map && options.kpageflags) {
    const std::uint64_t t0 = boottime_ns();
    try {
      snap.free_runs = scan_kpageflags("/proc/kpageflags", header_zones.empty() ? zones : header_zones).runs;
    } catch (const std::exception& e) {
      if (warnings != nullptr) warnings->push_back(std::string("no free-page map in the snapshot: ") + e.what());
    }
    map_ns = boottime_ns() - t0;
  }
  snap.kpageflags_scan_ns = map_ns;
  return snap;
}

}  // namespace labyrinth::ebpf
