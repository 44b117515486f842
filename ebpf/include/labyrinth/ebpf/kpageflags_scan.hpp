// The free-page map: runs of KPF_BUDDY pages read from /proc/kpageflags. The kernel computes
// each page's flags as the file is read (fs/proc/page.c:kpageflags_read, stable_page_flags),
// about 25-70 ns a page, so the scan reads only pfns that hold memory (zone spans cut to the
// "System RAM" of /proc/iomem), in large preads, on several threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "labyrinth/procfs/iomem.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

inline constexpr unsigned kKpfBuddyBit = 10;

struct KpageflagsScanOptions {
  // Pfn ranges that hold memory; empty: every pfn of the zones' spans.
  std::vector<procfs::PfnRange> memory;
  unsigned threads = 0;              // 0: default_scan_threads()
  std::uint64_t block_pfns = 1u << 17;  // pfns per pread (1 MiB of flags)
};

struct KpageflagsScan {
  std::vector<traces::FreeRun> runs;  // sorted by pfn, split at zone ends
  std::uint64_t pages_read = 0;       // pfns whose flags were read
  unsigned threads = 0;
};

// Up to 4 threads, no more than the CPUs: the kernel's per-page work is the cost, and it
// runs in parallel.
unsigned default_scan_threads();

// Runs of consecutive KPF_BUDDY pfns inside the given zones, sorted, split at zone ends;
// the same whatever the options. Throws std::runtime_error naming the file when it cannot be
// opened or read.
KpageflagsScan scan_kpageflags(const std::string& path, const std::vector<traces::ZoneInfo>& zones,
                               const KpageflagsScanOptions& options);
// The same with this machine's memory ranges from /proc/iomem (the zones' spans when it shows
// none) and the default threads.
KpageflagsScan scan_kpageflags(const std::string& path, const std::vector<traces::ZoneInfo>& zones);

// The same on an in-memory flags array whose element 0 is pfn `first_pfn` (for tests).
std::vector<traces::FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count,
                                                  std::uint64_t first_pfn, std::uint64_t zone_end_pfn);

}  // namespace labyrinth::ebpf
