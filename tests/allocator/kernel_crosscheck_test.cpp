// Cross-checks against the running kernel (docs/kernel-rules.md §6, §11.2, §11.3):
//  (a) the free-block histogram the model builds from a /proc/kpageflags free map equals
//      /proc/buddyinfo in the quiet zones DMA and DMA32;
//  (b) the watermarks (and lowmem reserves, pcp limits) computed from vm.min_free_kbytes,
//      vm.watermark_scale_factor and the zones' managed pages equal /proc/zoneinfo's.
// /proc is read by procfs/ (the allocator library does no I/O); /proc/kpageflags by the
// scan below, which builds the runs the model seeds from.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "labyrinth/allocator/allocator.hpp"
#include "labyrinth/common/text.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"
#include "bpf_test.hpp"

namespace labyrinth::allocator::testing {
namespace {

using ProcZone = procfs::ZoneinfoZone;

std::string slurp(const std::string& path) { return procfs::try_read_file(path).value_or(""); }

std::optional<std::uint64_t> read_number(const std::string& path) {
  std::uint64_t v = 0;
  if (common::parse_number(common::trim(slurp(path)), v)) {
    return v;
  }
  return std::nullopt;
}

// /proc/buddyinfo of one node: zone name -> free blocks per order.
std::map<std::string, std::vector<std::uint64_t>> buddyinfo_of_node(int node) {
  std::map<std::string, std::vector<std::uint64_t>> out;
  for (const auto& row : procfs::parse_buddyinfo(slurp("/proc/buddyinfo"))) {
    if (row.node == node) {
      out[row.zone] = row.free_blocks;
    }
  }
  return out;
}

constexpr std::uint64_t kKpfBuddy = 1ull << 10;

// Free runs of [start, start + pages) from /proc/kpageflags, read with pread in 64Ki-pfn
// chunks until a short read. Every page of a free buddy block has KPF_BUDDY (§11.3).
std::optional<std::vector<FreeRun>> kpageflags_runs(std::uint64_t start, std::uint64_t pages) {
  const int fd = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  std::vector<FreeRun> runs;
  constexpr std::uint64_t kChunk = 65536;
  std::vector<std::uint64_t> buf(kChunk);
  std::uint64_t run_start = 0;
  bool in_run = false;
  for (std::uint64_t pfn = start; pfn < start + pages;) {
    const std::uint64_t want = std::min(kChunk, start + pages - pfn);
    const ssize_t got = ::pread(fd, buf.data(), want * sizeof(std::uint64_t), static_cast<off_t>(pfn * 8));
    if (got <= 0) {
      break;
    }
    const auto n = static_cast<std::uint64_t>(got) / sizeof(std::uint64_t);
    for (std::uint64_t i = 0; i < n; ++i) {
      const bool free = (buf[i] & kKpfBuddy) != 0;
      if (free && !in_run) {
        run_start = pfn + i;
        in_run = true;
      } else if (!free && in_run) {
        runs.push_back(FreeRun{Pfn{run_start}, pfn + i - run_start});
        in_run = false;
      }
    }
    pfn += n;
    if (n < want) {
      break;
    }
  }
  if (in_run) {
    runs.push_back(FreeRun{Pfn{run_start}, start + pages - run_start});
  }
  ::close(fd);
  return runs;
}

std::optional<ZoneType> type_of(const std::string& name) { return zone_type_from_name(name); }

TEST(KernelCrossCheck, KpageflagsFreeMapRebuildsBuddyinfoInQuietZones) {
  LABYRINTH_SKIP_OR_FAIL_WITHOUT(::labyrinth::testing::kpageflags_unreadable());
  // DMA32 is quiet unless a balloon squeezes the machine (it then takes DMA32 too, and a
  // suite run beside a squeezing one failed here once in 39): wait for any squeeze to end.
  const ::labyrinth::testing::MachineLock no_squeeze(::labyrinth::testing::MachineLock::Shared);
  const std::vector<ProcZone> all = procfs::parse_zoneinfo_detail(slurp("/proc/zoneinfo"));
  std::vector<ProcZone> quiet;
  for (const ProcZone& z : all) {
    if (z.zone.node == 0 && (z.zone.name == "DMA" || z.zone.name == "DMA32") && z.zone.spanned_pages != 0) {
      quiet.push_back(z);
    }
  }
  if (quiet.empty()) {
    GTEST_SKIP() << "no DMA or DMA32 zone on node 0";
  }
  ModelConfig cfg;
  cfg.tunables.pcp = PcpMode::Off;
  for (const ProcZone& z : quiet) {
    ZoneConfig zc;
    zc.type = *type_of(z.zone.name);
    zc.start_pfn = Pfn{z.zone.start_pfn};
    zc.spanned_pages = z.zone.spanned_pages;
    zc.present_pages = z.zone.present_pages;
    zc.managed_pages = z.zone.managed_pages;
    cfg.zones.push_back(zc);
  }
  Model model(cfg);

  // The file is read without the zone lock: retry until buddyinfo is the same before and
  // after the scan and the model agrees.
  std::string last_diff;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto before = buddyinfo_of_node(0);
    Snapshot snap;
    bool readable = true;
    for (const ProcZone& z : quiet) {
      const auto r = kpageflags_runs(z.zone.start_pfn, z.zone.spanned_pages);
      if (!r) {
        readable = false;
        break;
      }
      snap.free_runs.insert(snap.free_runs.end(), r->begin(), r->end());
    }
    ASSERT_TRUE(readable);
    const auto after = buddyinfo_of_node(0);
    bool changed = false;
    for (const ProcZone& z : quiet) {  // Normal is busy; only the zones checked must hold still
      changed = changed || before.count(z.zone.name) == 0 || after.count(z.zone.name) == 0 ||
                before.at(z.zone.name) != after.at(z.zone.name);
    }
    if (changed) {
      last_diff = "buddyinfo changed during the scan";
      continue;
    }
    model.seed(snap);
    bool equal = true;
    std::ostringstream diff;
    for (std::size_t i = 0; i < quiet.size(); ++i) {
      const ZoneMetrics zm = model.metrics(static_cast<std::uint16_t>(i));
      const std::vector<std::uint64_t> mine(zm.nr_free.begin(), zm.nr_free.begin() + zm.orders);
      const auto it = after.find(quiet[i].zone.name);
      ASSERT_NE(it, after.end()) << quiet[i].zone.name << " missing from /proc/buddyinfo";
      if (mine != it->second) {
        equal = false;
        diff << quiet[i].zone.name << ": model";
        for (auto v : mine) {
          diff << ' ' << v;
        }
        diff << " vs buddyinfo";
        for (auto v : it->second) {
          diff << ' ' << v;
        }
        diff << "; ";
      }
    }
    if (equal) {
      SUCCEED();
      RecordProperty("attempts", attempt + 1);
      return;
    }
    last_diff = diff.str();
  }
  FAIL() << "free-block histogram from /proc/kpageflags never matched /proc/buddyinfo: " << last_diff;
}

TEST(KernelCrossCheck, WatermarksReservesAndPcpLimitsMatchZoneinfo) {
  // Read everything at once; ZONE_NORMAL's managed count may grow under deferred struct page
  // init, so retry until two zoneinfo reads around the sysctls agree.
  std::vector<ProcZone> zones;
  std::uint64_t min_free_kbytes = 0, scale = 0;
  bool stable = false;
  for (int attempt = 0; attempt < 5 && !stable; ++attempt) {
    const std::string first = slurp("/proc/zoneinfo");
    const auto mfk = read_number("/proc/sys/vm/min_free_kbytes");
    const auto wsf = read_number("/proc/sys/vm/watermark_scale_factor");
    const std::string second = slurp("/proc/zoneinfo");
    if (!mfk || !wsf || first.empty()) {
      GTEST_SKIP() << "no /proc/zoneinfo or vm sysctls";
    }
    zones = procfs::parse_zoneinfo_detail(second);
    min_free_kbytes = *mfk;
    scale = *wsf;
    const auto a = procfs::parse_zoneinfo_detail(first);
    stable = a.size() == zones.size();
    for (std::size_t i = 0; stable && i < a.size(); ++i) {
      stable = a[i].zone.managed_pages == zones[i].zone.managed_pages;
    }
  }
  ASSERT_TRUE(stable) << "managed pages kept changing between reads";
  ASSERT_FALSE(zones.empty());
  const long page_size = sysconf(_SC_PAGESIZE);

  std::vector<ZoneSize> sizes;
  for (const ProcZone& d : zones) {
    const auto t = type_of(d.zone.name);
    ASSERT_TRUE(t.has_value()) << "unknown zone " << d.zone.name;
    sizes.push_back(ZoneSize{*t, d.zone.managed_pages});
  }
  const std::vector<Watermarks> wm =
      setup_per_zone_wmarks(sizes, min_free_kbytes, scale, static_cast<std::uint64_t>(page_size));
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const traces::ZoneInfo& z = zones[i].zone;
    // procfs takes off the boost /proc/zoneinfo adds to min/low/high/promo.
    const std::string ctx = "node " + std::to_string(z.node) + " zone " + z.name + " (managed " +
                            std::to_string(z.managed_pages) + ", boost " + std::to_string(z.boost_pages) +
                            "): a difference means managed changed since the kernel last ran "
                            "__setup_per_zone_wmarks (deferred init, hotplug) or the formula drifted";
    EXPECT_EQ(wm[i].min, z.min_pages) << ctx;
    EXPECT_EQ(wm[i].low, z.low_pages) << ctx;
    EXPECT_EQ(wm[i].high, z.high_pages) << ctx;
    EXPECT_EQ(wm[i].promo, zones[i].promo_pages) << ctx;
  }

  // lowmem_reserve per node: zoneinfo prints it by kernel zone index, i.e. in the order the
  // node's zones are listed.
  std::map<int, std::vector<std::size_t>> by_node;
  for (std::size_t i = 0; i < zones.size(); ++i) {
    by_node[zones[i].zone.node].push_back(i);
  }
  std::array<std::uint64_t, kZoneTypes> ratio{};
  {
    std::istringstream rs(slurp("/proc/sys/vm/lowmem_reserve_ratio"));
    std::vector<std::uint64_t> values;
    std::uint64_t v = 0;
    while (rs >> v) {
      values.push_back(v);
    }
    const std::vector<std::size_t>& ids = by_node.begin()->second;
    ASSERT_EQ(values.size(), ids.size()) << "one ratio per zone kind";
    for (std::size_t k = 0; k < ids.size(); ++k) {
      ratio[index_of(sizes[ids[k]].type)] = values[k];
    }
  }
  for (const auto& [node, ids] : by_node) {
    std::vector<ZoneSize> node_sizes;
    for (const std::size_t i : ids) {
      node_sizes.push_back(sizes[i]);
    }
    const std::vector<LowmemReserve> lr = setup_per_zone_lowmem_reserve(node_sizes, ratio);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const traces::ZoneInfo& z = zones[ids[k]].zone;
      ASSERT_EQ(z.lowmem_reserve_pages.size(), ids.size()) << z.name;
      for (std::size_t j = 0; j < ids.size(); ++j) {
        EXPECT_EQ(lr[k][index_of(sizes[ids[j]].type)], z.lowmem_reserve_pages[j])
            << "node " << node << " zone " << z.name << " protection[" << j << "]";
      }
    }
  }

  // pcp batch/high_min/high_max, split over the CPUs listed for the zone; high_min comes from
  // the low watermark (boost excluded).
  const auto fraction = read_number("/proc/sys/vm/percpu_pagelist_high_fraction").value_or(0);
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const ProcZone& d = zones[i];
    const traces::ZoneInfo& z = d.zone;
    if (d.pcp_batch < 0 || z.managed_pages == 0) {
      continue;
    }
    const PcpLimits l =
        pcp_limits(z.managed_pages, z.low_pages, static_cast<std::uint64_t>(page_size), d.pagesets, fraction);
    EXPECT_EQ(l.batch, d.pcp_batch) << z.name;
    EXPECT_EQ(l.high_min, d.pcp_high_min) << z.name;
    EXPECT_EQ(l.high_max, d.pcp_high_max) << z.name;
  }
}

}  // namespace
}  // namespace labyrinth::allocator::testing
