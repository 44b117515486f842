// Cross-checks against the running kernel (docs/kernel-rules.md §6, §11.2, §11.3):
//  (a) the free-block histogram the model builds from a /proc/kpageflags free map equals
//      /proc/buddyinfo in the quiet zones DMA and DMA32;
//  (b) the watermarks (and lowmem reserves, pcp limits) computed from vm.min_free_kbytes,
//      vm.watermark_scale_factor and the zones' managed pages equal /proc/zoneinfo's.
// The /proc readers live here, not in the allocator library, which does no I/O.
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

namespace labyrinth::allocator::testing {
namespace {

struct ProcZone {
  int node = 0;
  std::string name;
  std::uint64_t start_pfn = 0, spanned = 0, present = 0, managed = 0;
  std::uint64_t min = 0, low = 0, high = 0, promo = 0, boost = 0;
  std::vector<std::uint64_t> protection;
  std::int64_t batch = -1, high_min = -1, high_max = -1;  // first CPU's pageset
  unsigned cpus = 0;                                       // pagesets listed
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  if (in >> v) {
    return v;
  }
  return std::nullopt;
}

std::vector<ProcZone> parse_zoneinfo(const std::string& text) {
  std::vector<ProcZone> zones;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "Node") {
      ProcZone z;
      std::string comma_zone;
      char comma = 0;
      ls >> z.node >> comma >> comma_zone >> z.name;
      zones.push_back(z);
      continue;
    }
    if (zones.empty()) {
      continue;
    }
    ProcZone& z = zones.back();
    auto num = [&](std::uint64_t& out) { ls >> out; };
    if (key == "min") {
      num(z.min);
    } else if (key == "low") {
      num(z.low);
    } else if (key == "high") {
      num(z.high);
    } else if (key == "promo") {
      num(z.promo);
    } else if (key == "boost") {
      num(z.boost);
    } else if (key == "spanned") {
      num(z.spanned);
    } else if (key == "present") {
      num(z.present);
    } else if (key == "managed") {
      num(z.managed);
    } else if (key == "start_pfn:") {
      num(z.start_pfn);
    } else if (key == "protection:") {
      std::string rest;
      std::getline(ls, rest);
      for (char& c : rest) {
        if (c == '(' || c == ')' || c == ',') {
          c = ' ';
        }
      }
      std::istringstream ps(rest);
      std::uint64_t v = 0;
      while (ps >> v) {
        z.protection.push_back(v);
      }
    } else if (key == "cpu:") {
      ++z.cpus;
    } else if (key == "batch:" && z.batch < 0) {
      ls >> z.batch;
    } else if (key == "high_min:" && z.high_min < 0) {
      ls >> z.high_min;
    } else if (key == "high_max:" && z.high_max < 0) {
      ls >> z.high_max;
    }
  }
  return zones;
}

// /proc/buddyinfo: "Node 0, zone   DMA32  2 3 0 ..." -> free blocks per order.
std::map<std::string, std::vector<std::uint64_t>> parse_buddyinfo(const std::string& text, int node) {
  std::map<std::string, std::vector<std::uint64_t>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string word, zone_word, name;
    int n = -1;
    char comma = 0;
    ls >> word >> n >> comma >> zone_word >> name;
    if (word != "Node" || n != node) {
      continue;
    }
    std::vector<std::uint64_t> counts;
    std::uint64_t v = 0;
    while (ls >> v) {
      counts.push_back(v);
    }
    out[name] = counts;
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

bool kpageflags_readable() {
  const int fd = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  std::uint64_t v = 0;
  const bool ok = ::pread(fd, &v, sizeof v, 0) == static_cast<ssize_t>(sizeof v);
  ::close(fd);
  return ok;
}

bool require_privileged() {
  const char* env = std::getenv("LABYRINTH_REQUIRE_BPF");
  return env != nullptr && std::string(env) == "1";
}

std::optional<ZoneType> type_of(const std::string& name) { return zone_type_from_name(name); }

TEST(KernelCrossCheck, KpageflagsFreeMapRebuildsBuddyinfoInQuietZones) {
  if (!kpageflags_readable()) {
    if (require_privileged()) {
      FAIL() << "/proc/kpageflags is not readable and LABYRINTH_REQUIRE_BPF=1";
    }
    GTEST_SKIP() << "/proc/kpageflags is not readable (needs root)";
  }
  const std::vector<ProcZone> all = parse_zoneinfo(slurp("/proc/zoneinfo"));
  std::vector<ProcZone> quiet;
  for (const ProcZone& z : all) {
    if (z.node == 0 && (z.name == "DMA" || z.name == "DMA32") && z.spanned != 0) {
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
    zc.type = *type_of(z.name);
    zc.start_pfn = Pfn{z.start_pfn};
    zc.spanned_pages = z.spanned;
    zc.present_pages = z.present;
    zc.managed_pages = z.managed;
    cfg.zones.push_back(zc);
  }
  Model model(cfg);

  // The file is read without the zone lock: retry until buddyinfo is the same before and
  // after the scan and the model agrees.
  std::string last_diff;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto before = parse_buddyinfo(slurp("/proc/buddyinfo"), 0);
    Snapshot snap;
    bool readable = true;
    for (const ProcZone& z : quiet) {
      const auto r = kpageflags_runs(z.start_pfn, z.spanned);
      if (!r) {
        readable = false;
        break;
      }
      snap.free_runs.insert(snap.free_runs.end(), r->begin(), r->end());
    }
    ASSERT_TRUE(readable);
    const auto after = parse_buddyinfo(slurp("/proc/buddyinfo"), 0);
    bool changed = false;
    for (const ProcZone& z : quiet) {  // Normal is busy; only the zones checked must hold still
      changed = changed || before.count(z.name) == 0 || after.count(z.name) == 0 ||
                before.at(z.name) != after.at(z.name);
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
      const auto it = after.find(quiet[i].name);
      ASSERT_NE(it, after.end()) << quiet[i].name << " missing from /proc/buddyinfo";
      if (mine != it->second) {
        equal = false;
        diff << quiet[i].name << ": model";
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
    zones = parse_zoneinfo(second);
    min_free_kbytes = *mfk;
    scale = *wsf;
    const auto a = parse_zoneinfo(first);
    stable = a.size() == zones.size();
    for (std::size_t i = 0; stable && i < a.size(); ++i) {
      stable = a[i].managed == zones[i].managed;
    }
  }
  ASSERT_TRUE(stable) << "managed pages kept changing between reads";
  ASSERT_FALSE(zones.empty());
  const long page_size = sysconf(_SC_PAGESIZE);

  std::vector<ZoneSize> sizes;
  for (const ProcZone& z : zones) {
    const auto t = type_of(z.name);
    ASSERT_TRUE(t.has_value()) << "unknown zone " << z.name;
    sizes.push_back(ZoneSize{*t, z.managed});
  }
  const std::vector<Watermarks> wm =
      setup_per_zone_wmarks(sizes, min_free_kbytes, scale, static_cast<std::uint64_t>(page_size));
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const ProcZone& z = zones[i];
    // /proc/zoneinfo's min/low/high/promo include the boost.
    const std::string ctx = "node " + std::to_string(z.node) + " zone " + z.name + " (managed " +
                            std::to_string(z.managed) + ", boost " + std::to_string(z.boost) +
                            "): a difference means managed changed since the kernel last ran "
                            "__setup_per_zone_wmarks (deferred init, hotplug) or the formula drifted";
    EXPECT_EQ(wm[i].min, z.min - z.boost) << ctx;
    EXPECT_EQ(wm[i].low, z.low - z.boost) << ctx;
    EXPECT_EQ(wm[i].high, z.high - z.boost) << ctx;
    EXPECT_EQ(wm[i].promo, z.promo - z.boost) << ctx;
  }

  // lowmem_reserve per node: zoneinfo prints it by kernel zone index, i.e. in the order the
  // node's zones are listed.
  std::map<int, std::vector<std::size_t>> by_node;
  for (std::size_t i = 0; i < zones.size(); ++i) {
    by_node[zones[i].node].push_back(i);
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
      const ProcZone& z = zones[ids[k]];
      ASSERT_EQ(z.protection.size(), ids.size()) << z.name;
      for (std::size_t j = 0; j < ids.size(); ++j) {
        EXPECT_EQ(lr[k][index_of(sizes[ids[j]].type)], z.protection[j])
            << "node " << node << " zone " << z.name << " protection[" << j << "]";
      }
    }
  }

  // pcp batch/high_min/high_max, split over the CPUs listed for the zone; high_min comes from
  // the low watermark (boost excluded).
  const auto fraction = read_number("/proc/sys/vm/percpu_pagelist_high_fraction").value_or(0);
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const ProcZone& z = zones[i];
    if (z.batch < 0 || z.managed == 0) {
      continue;
    }
    const PcpLimits l =
        pcp_limits(z.managed, z.low - z.boost, static_cast<std::uint64_t>(page_size), z.cpus, fraction);
    EXPECT_EQ(l.batch, z.batch) << z.name;
    EXPECT_EQ(l.high_min, z.high_min) << z.name;
    EXPECT_EQ(l.high_max, z.high_max) << z.name;
  }
}

}  // namespace
}  // namespace labyrinth::allocator::testing
