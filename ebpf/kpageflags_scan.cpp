#include "labyrinth/ebpf/kpageflags_scan.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "labyrinth/procfs/files.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::FreeRun;
using traces::ZoneInfo;

// Builds runs of KPF_BUDDY pages.
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

// One pread's worth of pfns [start, end) of one zone.
struct Piece {
  std::uint64_t start = 0, end = 0;
  std::size_t zone = 0;  // index in the zones sorted by start
};

// The zones' spans cut to the memory ranges, in pieces of at most block_pfns that start on a
// multiple of block_pfns (or at a range's start), in pfn order within each zone.
std::vector<Piece> plan_pieces(const std::vector<const ZoneInfo*>& zones, const std::vector<procfs::PfnRange>& memory,
                               std::uint64_t block_pfns) {
  std::vector<Piece> pieces;
  const auto cut = [&](std::uint64_t start, std::uint64_t end, std::size_t zone) {
    for (std::uint64_t p = start; p < end;) {
      const std::uint64_t next = std::min(end, (p / block_pfns + 1) * block_pfns);
      pieces.push_back({p, next, zone});
      p = next;
    }
  };
  for (std::size_t z = 0; z < zones.size(); ++z) {
    const std::uint64_t start = zones[z]->start_pfn, end = start + zones[z]->spanned_pages;
    if (memory.empty()) {
      cut(start, end, z);
      continue;
    }
    for (const procfs::PfnRange& m : memory) cut(std::max(start, m.start), std::min(end, m.end), z);
  }
  return pieces;
}

// The pieces read on `threads` threads, each piece's runs kept apart until the merge.
class ParallelScan {
 public:
  ParallelScan(int fd, const std::string& path, const std::vector<Piece>& pieces, std::uint64_t block_pfns)
      : fd_(fd), path_(path), pieces_(pieces), block_pfns_(block_pfns), runs_(pieces.size()) {}

  void run(unsigned threads) {
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < threads; ++t) helpers.emplace_back([this] { work(); });
    work();
    for (auto& h : helpers) h.join();
    if (!error_.empty()) throw std::runtime_error(error_);
  }

  // Each piece's runs in order; a run that ends where the next piece's first run starts, in
  // the same zone, is one run.
  std::vector<FreeRun> merged() const {
    std::vector<FreeRun> out;
    std::size_t last_zone = 0;
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      for (const FreeRun& r : runs_[i]) {
        if (!out.empty() && last_zone == pieces_[i].zone && out.back().start_pfn + out.back().pages == r.start_pfn) {
          out.back().pages += r.pages;
        } else {
          out.push_back(r);
        }
        last_zone = pieces_[i].zone;
      }
    }
    return out;
  }

  std::uint64_t pages_read() const { return pages_read_.load(); }

 private:
  void work() {
    try {
      std::vector<std::uint64_t> buf(block_pfns_);
      for (std::size_t i = next_++; i < pieces_.size() && !failed_.load(); i = next_++) read_piece(i, buf);
    } catch (const std::exception& e) {
      fail(path_ + ": " + e.what());
    }
  }

  void read_piece(std::size_t i, std::vector<std::uint64_t>& buf) {
    const Piece& p = pieces_[i];
    const std::uint64_t want = p.end - p.start;
    std::uint64_t have = 0;
    while (have < want) {  // the file ends at max_pfn: a short read there is the end
      const auto off = static_cast<off_t>((p.start + have) * sizeof(std::uint64_t));
      const ssize_t got = ::pread(fd_, buf.data() + have, (want - have) * sizeof(std::uint64_t), off);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return fail(path_ + ": " + std::strerror(errno));
      if (got == 0) break;
      have += static_cast<std::uint64_t>(got) / sizeof(std::uint64_t);
    }
    pages_read_ += have;
    RunBuilder b(runs_[i]);
    for (std::uint64_t k = 0; k < have; ++k) b.page(p.start + k, ((buf[k] >> kKpfBuddyBit) & 1u) != 0);
    b.close();
  }

  void fail(std::string message) {
    const std::lock_guard<std::mutex> lock(error_mutex_);
    if (error_.empty()) error_ = std::move(message);
    failed_ = true;
  }

  int fd_;
  const std::string& path_;
  const std::vector<Piece>& pieces_;
  std::uint64_t block_pfns_;
  std::vector<std::vector<FreeRun>> runs_;  // per piece; each written by one thread
  std::atomic<std::size_t> next_{0};
  std::atomic<std::uint64_t> pages_read_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::string error_;
};

}  // namespace

unsigned default_scan_threads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }

std::vector<FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count, std::uint64_t first_pfn,
                                          std::uint64_t zone_end_pfn) {
  std::vector<FreeRun> runs;
  RunBuilder b(runs);
  for (std::uint64_t i = 0; i < count && first_pfn + i < zone_end_pfn; ++i)
    b.page(first_pfn + i, ((flags[i] >> kKpfBuddyBit) & 1u) != 0);
  b.close();
  return runs;
}

KpageflagsScan scan_kpageflags(const std::string& path, const std::vector<ZoneInfo>& zones,
                               const KpageflagsScanOptions& options) {
  if (options.block_pfns == 0) throw std::invalid_argument("scan_kpageflags: block_pfns must be positive");
  std::vector<const ZoneInfo*> sorted;
  for (const auto& z : zones)
    if (z.spanned_pages > 0) sorted.push_back(&z);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->start_pfn < b->start_pfn; });
  const std::vector<Piece> pieces = plan_pieces(sorted, options.memory, options.block_pfns);

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  KpageflagsScan scan;
  scan.threads = static_cast<unsigned>(
      std::clamp<std::size_t>(options.threads == 0 ? default_scan_threads() : options.threads, 1, std::max<std::size_t>(pieces.size(), 1)));
  ParallelScan parallel(fd, path, pieces, options.block_pfns);
  try {
    parallel.run(scan.threads);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  scan.runs = parallel.merged();
  scan.pages_read = parallel.pages_read();
  // zones that overlap (a Movable zone inside Normal's span) give runs out of order
  std::sort(scan.runs.begin(), scan.runs.end(),
            [](const FreeRun& a, const FreeRun& b) { return a.start_pfn < b.start_pfn; });
  return scan;
}

KpageflagsScan scan_kpageflags(const std::string& path, const std::vector<ZoneInfo>& zones) {
  KpageflagsScanOptions options;
  if (const auto iomem = procfs::try_read_file("/proc/iomem"))
    options.memory = procfs::parse_iomem_system_ram(*iomem, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  return scan_kpageflags(path, zones, options);
}

}  // namespace labyrinth::ebpf
