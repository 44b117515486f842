// The /proc/kpageflags scan: on synthetic kpageflags files, the planned pieces, the holes left
// out, the threads and the merge give the runs of a plain page-by-page reading; on this
// machine (root), the scan rebuilds /proc/buddyinfo's quiet zones.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bpf_test.hpp"
#include "labyrinth/ebpf/kpageflags_scan.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/iomem.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"
#include "temp_dir.hpp"

namespace labyrinth::ebpf {
namespace {

using procfs::PfnRange;
using traces::FreeRun;
using traces::ZoneInfo;

constexpr std::uint64_t kBuddy = 1ull << kKpfBuddyBit;

// Flags of pfns [0, count): runs of free pages 1 to 700 long (so runs cross every piece
// boundary of the small blocks below), other flag bits set at random.
std::vector<std::uint64_t> random_flags(std::uint64_t count, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> flags(count);
  for (std::uint64_t pfn = 0; pfn < count;) {
    const std::uint64_t len = 1 + rng() % 700;
    const bool free = rng() % 2 == 0;
    for (std::uint64_t i = 0; i < len && pfn < count; ++i, ++pfn) flags[pfn] = (free ? kBuddy : 0) | (rng() & 0x3ff);
  }
  return flags;
}

std::string write_flags(const testing::TempDir& dir, const std::vector<std::uint64_t>& flags) {
  const std::string path = (dir.path() / "kpageflags").string();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(flags.data()), static_cast<std::streamsize>(flags.size() * 8));
  return path;
}

// What the scan must give: each zone read page by page, with the buddy bit cleared outside
// the memory ranges (a hole has no page), and pfns past the file's end absent.
std::vector<FreeRun> reference(std::vector<std::uint64_t> flags, const std::vector<ZoneInfo>& zones,
                               const std::vector<PfnRange>& memory) {
  for (std::uint64_t pfn = 0; pfn < flags.size(); ++pfn) {
    bool inside = memory.empty();
    for (const auto& m : memory) inside = inside || (pfn >= m.start && pfn < m.end);
    if (!inside) flags[pfn] &= ~kBuddy;
  }
  std::vector<FreeRun> runs;
  for (const ZoneInfo& z : zones) {
    if (z.start_pfn >= flags.size()) continue;
    const auto r = free_runs_from_flags(flags.data() + z.start_pfn, flags.size() - z.start_pfn, z.start_pfn,
                                        z.start_pfn + z.spanned_pages);
    runs.insert(runs.end(), r.begin(), r.end());
  }
  return runs;
}

ZoneInfo zone(std::uint64_t start, std::uint64_t spanned) {
  ZoneInfo z;
  z.start_pfn = start;
  z.spanned_pages = spanned;
  return z;
}

// Zones that touch (DMA32 ends where Normal starts: runs stay split there), a zone that
// runs past the file's end, an empty zone, listed out of order.
const std::vector<ZoneInfo> kZones = {zone(4096, 12000), zone(1, 4095), zone(0, 0), zone(16096, 9000)};

TEST(KpageflagsScan, SameRunsWhateverTheThreadsAndBlockSize) {
  testing::TempDir dir;
  const auto flags = random_flags(20000, 7);
  const std::string path = write_flags(dir, flags);
  const auto expected = reference(flags, {kZones[1], kZones[0], kZones[3]}, {});
  ASSERT_GT(expected.size(), 10u);
  for (unsigned threads : {1u, 2u, 3u}) {
    for (std::uint64_t block : {1ull, 64ull, 1000ull, 1ull << 17}) {
      KpageflagsScanOptions o;
      o.threads = threads;
      o.block_pfns = block;
      const auto scan = scan_kpageflags(path, kZones, o);
      EXPECT_EQ(scan.runs, expected) << threads << " threads, " << block << " pfns a read";
      EXPECT_EQ(scan.pages_read, 20000u - 1u) << "pfn 0 is in no zone; the last zone ends past the file";
    }
  }
}

TEST(KpageflagsScan, ReadsOnlyTheMemoryRanges) {
  testing::TempDir dir;
  const auto flags = random_flags(20000, 11);
  const std::string path = write_flags(dir, flags);
  // a hole inside DMA32 and one across the DMA32/Normal boundary; free bits in the holes
  // stand for what a hole can never hold
  const std::vector<PfnRange> memory = {{1, 6000}, {7000, 15000}, {17000, 30000}};
  KpageflagsScanOptions o;
  o.memory = memory;
  o.block_pfns = 256;
  o.threads = 2;
  const auto scan = scan_kpageflags(path, kZones, o);
  EXPECT_EQ(scan.runs, reference(flags, {kZones[1], kZones[0], kZones[3]}, memory));
  EXPECT_EQ(scan.pages_read, (6000u - 1u) + (15000u - 7000u) + (20000u - 17000u));
}

TEST(KpageflagsScan, AnUnreadableFileIsAnErrorNamingIt) {
  try {
    (void)scan_kpageflags("/nonexistent/kpageflags", kZones, {});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/kpageflags"), std::string::npos) << e.what();
  }
  KpageflagsScanOptions o;
  o.block_pfns = 0;
  EXPECT_THROW((void)scan_kpageflags("/dev/null", kZones, o), std::invalid_argument);
}

// Two scans of this machine, the default one (memory ranges of /proc/iomem, threads) and a
// plain one (the zones' spans whole, one thread), each against /proc/buddyinfo of the zones
// that held still (DMA, DMA32) while it ran.
TEST(KpageflagsScan, BothScansRebuildBuddyinfoOfQuietZones) {
  LABYRINTH_SKIP_OR_FAIL_WITHOUT(::labyrinth::testing::kpageflags_unreadable());
  const auto zones = procfs::parse_zoneinfo(procfs::read_file("/proc/zoneinfo"));
  KpageflagsScanOptions plain;
  plain.threads = 1;
  for (const auto& scan_of : {+[](const std::vector<ZoneInfo>& z, const KpageflagsScanOptions&) {
                                return scan_kpageflags("/proc/kpageflags", z);
                              },
                              +[](const std::vector<ZoneInfo>& z, const KpageflagsScanOptions& o) {
                                return scan_kpageflags("/proc/kpageflags", z, o);
                              }}) {
    std::string last_diff = "no quiet zone";
    bool matched = false;
    for (int attempt = 0; attempt < 8 && !matched; ++attempt) {
      const auto before = procfs::parse_buddyinfo(procfs::read_file("/proc/buddyinfo"));
      const KpageflagsScan scan = scan_of(zones, plain);
      const auto after = procfs::parse_buddyinfo(procfs::read_file("/proc/buddyinfo"));
      bool compared = false, equal = true;
      for (std::size_t i = 0; i < after.size() && i < before.size(); ++i) {
        const auto& row = after[i];
        if (row.node != 0 || (row.zone != "DMA" && row.zone != "DMA32") || before[i].free_blocks != row.free_blocks)
          continue;
        for (const auto& z : zones) {
          if (z.node != row.node || z.name != row.zone) continue;
          const auto mine = traces::decompose_free_runs(scan.runs, static_cast<unsigned>(row.free_blocks.size() - 1),
                                                        z.start_pfn, z.start_pfn + z.spanned_pages);
          compared = true;
          if (mine != row.free_blocks) {
            equal = false;
            last_diff = row.zone + " differs from /proc/buddyinfo";
          }
        }
      }
      matched = compared && equal;
    }
    EXPECT_TRUE(matched) << last_diff;
  }
}

}  // namespace
}  // namespace labyrinth::ebpf
