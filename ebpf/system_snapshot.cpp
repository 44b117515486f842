#include "labyrinth/ebpf/system_snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::FreeRun;
using traces::ZoneInfo;

// Builds runs of KPF_BUDDY pages; a run never crosses the end of a zone.
class RunBuilder {
 public:
  explicit RunBuilder(std::vector<FreeRun>& out) : out_(out) {}
  void page(std::uint64_t pfn, bool buddy) {
    if (buddy) {
      if (open_ && pfn == start_ + len_) {
        ++len_;
        return;
      }
      close();
      open_ = true;
      start_ = pfn;
      len_ = 1;
    } else {
      close();
    }
  }
  void close() {
    if (open_) out_.push_back({start_, len_});
    open_ = false;
  }

 private:
  std::vector<FreeRun>& out_;
  bool open_ = false;
  std::uint64_t start_ = 0, len_ = 0;
};

}  // namespace

std::vector<FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count, std::uint64_t first_pfn,
                                          std::uint64_t zone_end_pfn) {
  std::vector<FreeRun> runs;
  RunBuilder b(runs);
  for (std::uint64_t i = 0; i < count && first_pfn + i < zone_end_pfn; ++i)
    b.page(first_pfn + i, ((flags[i] >> kKpfBuddyBit) & 1u) != 0);
  b.close();
  return runs;
}

std::vector<FreeRun> scan_kpageflags(const std::string& path, const std::vector<ZoneInfo>& zones) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  std::vector<const ZoneInfo*> sorted;
  for (const auto& z : zones)
    if (z.spanned_pages > 0) sorted.push_back(&z);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->start_pfn < b->start_pfn; });

  // 64 Ki pfns per read: a multiple of every MAX_PAGE_ORDER block, 512 KiB of flags.
  constexpr std::uint64_t kChunk = 1u << 16;
  std::vector<std::uint64_t> buf(kChunk);
  std::vector<FreeRun> runs;
  bool eof = false;
  for (const ZoneInfo* z : sorted) {
    RunBuilder b(runs);
    const std::uint64_t end = z->start_pfn + z->spanned_pages;
    for (std::uint64_t pfn = z->start_pfn; pfn < end && !eof;) {
      const std::uint64_t want = std::min(kChunk, end - pfn);
      const auto off = static_cast<off_t>(pfn * sizeof(std::uint64_t));
      const ssize_t got = ::pread(fd, buf.data(), want * sizeof(std::uint64_t), off);
      if (got < 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(path + ": " + std::strerror(err));
      }
      const auto n = static_cast<std::uint64_t>(got) / sizeof(std::uint64_t);
      for (std::uint64_t i = 0; i < n; ++i) b.page(pfn + i, ((buf[i] >> kKpfBuddyBit) & 1u) != 0);
      if (n < want) eof = true;  // the file ends at max_pfn
      pfn += n;
    }
    b.close();
  }
  ::close(fd);
  std::sort(runs.begin(), runs.end(), [](const FreeRun& a, const FreeRun& b) { return a.start_pfn < b.start_pfn; });
  return runs;
}

traces::Snapshot take_snapshot(const std::vector<ZoneInfo>& header_zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings) {
  traces::Snapshot snap;
  snap.present = true;
  // buddyinfo first, and ts_ns is when it was read: replay validates the model's free blocks
  // per order against it at that instant. The window is the read alone: the allocator keeps
  // running, and a burst of frees moves hundreds of order-0 pages in a fraction of a ms.
  const procfs::TimedText buddyinfo = procfs::read_file_timed("/proc/buddyinfo");
  snap.ts_ns = buddyinfo.ts_ns;
  const auto buddy = procfs::parse_buddyinfo(buddyinfo.text);
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
    }
    for (const auto& p : pti.zones) {
      if (p.node != row.node || p.zone != row.zone) continue;
      zs.pagetype_free = p.free_blocks;
      zs.pageblocks_by_type = p.pageblocks;
    }
    snap.zones.push_back(std::move(zs));
  }
  if (options.kpageflags) {
    const std::uint64_t t0 = boottime_ns();
    try {
      snap.free_runs = scan_kpageflags("/proc/kpageflags", header_zones.empty() ? zones : header_zones);
    } catch (const std::exception& e) {
      if (warnings != nullptr) warnings->push_back(std::string("no free-page map in the snapshot: ") + e.what());
    }
    snap.kpageflags_scan_ns = boottime_ns() - t0;
  }
  return snap;
}

}  // namespace labyrinth::ebpf
