// Helpers shared by the trace tests: temporary files and canned events.
#pragma once

#include "temp_dir.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_reader.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::traces::testing {

// A file's bytes, and bytes written over a file.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Byte offsets where each block starts, found by walking the block headers independently of
// the reader (labyrinth-trace(5)).
inline std::vector<std::size_t> block_offsets(const std::string& bytes) {
  std::vector<std::size_t> out;
  for (std::size_t offset = 16; offset + 40 <= bytes.size();) {
    out.push_back(offset);
    std::uint64_t stored = 0;
    std::memcpy(&stored, bytes.data() + offset + 16, 8);
    offset += 40 + stored;
  }
  return out;
}

using labyrinth::testing::TempDir;

inline TraceHeader test_header() {
  TraceHeader h;
  h.source = "test";
  h.kernel_release = "6.18.44-test";
  h.nr_cpus = 4;
  h.gfp_table = GfpTable::builtin_linux_6_10();
  h.migratetype_names = default_migratetype_names();
  ZoneInfo z;
  z.name = "Normal";
  z.start_pfn = 0x100000;
  z.spanned_pages = 1 << 20;
  z.managed_pages = 1 << 20;
  z.min_pages = 5355;
  z.low_pages = 6693;
  z.high_pages = 8031;
  z.lowmem_reserve_pages = {0, 0, 0, 0, 0};
  h.zones.push_back(z);
  h.vm_sysctls["min_free_kbytes"] = "67584";
  return h;
}

// A realistic mix: mostly order-0 alloc/free pairs with nearby pfns, a few of every kind.
inline std::vector<PageEvent> random_events(std::size_t n, std::uint32_t seed, std::uint32_t comms) {
  std::mt19937_64 rng(seed);
  std::vector<PageEvent> out;
  out.reserve(n);
  std::uint64_t ts = 1'000'000;
  std::uint64_t pfn = 0x123456;
  for (std::size_t i = 0; i < n; ++i) {
    PageEvent e;
    ts += rng() % 2000;
    e.ts_ns = (rng() % 50 == 0) ? ts - (rng() % 500) : ts;  // a few out of order
    e.kind = kEventBlockKinds[rng() % kEventBlockKinds.size()];
    e.cpu = static_cast<std::uint16_t>(rng() % 4);
    e.ctx = static_cast<ExecContext>(rng() % kExecContextCount);
    pfn += (rng() % 16) - 4;
    e.pfn = pfn;
    e.order = static_cast<std::uint8_t>((rng() % 8 == 0) ? rng() % 11 : 0);
    e.migratetype = static_cast<std::int8_t>(static_cast<int>(rng() % 4) - 1);
    e.pid = static_cast<std::uint32_t>(1000 + rng() % 20);
    e.tid = e.pid + static_cast<std::uint32_t>(rng() % 3);
    e.comm_id = comms == 0 ? 0 : static_cast<std::uint32_t>(rng() % comms);
    if (e.kind == EventKind::Alloc) {
      e.gfp = (rng() % 2) ? 0x140cca : 0x820;
      if (rng() % 100 == 0) e.pfn = kFailedPfn;
    }
    if (e.kind == EventKind::Extfrag) {
      e.fallback_order = static_cast<std::uint8_t>(rng() % 11);
      e.fallback_migratetype = static_cast<std::int8_t>(rng() % 3);
      e.change_ownership = rng() % 2 == 0;
    }
    if (e.kind == EventKind::PageblockMove) e.fallback_migratetype = static_cast<std::int8_t>(rng() % 4);
    if (e.kind == EventKind::PcpRefill) e.percpu_refill = rng() % 2 == 0;
    if (e.kind == EventKind::Isolate) {
      e.range_pages = static_cast<std::uint32_t>(rng() % 100'000);
      e.taken_pages = static_cast<std::uint32_t>(rng() % 1024);
      e.isolate_source = static_cast<traces::IsolateSource>(rng() % 4);
    }
    if (traces::is_reclaim(e.kind)) {  // no page: a request's order and gfp, or the pages reclaimed
      e.pfn = 0;
      e.migratetype = -1;
      if (e.kind == EventKind::ReclaimBegin) e.gfp = 0x140cca;
      if (e.kind == EventKind::ReclaimEnd) {
        e.order = 0;
        e.reclaimed_pages = static_cast<std::uint32_t>(rng() % 64);
      }
    }
    if (traces::is_kswapd(e.kind)) {  // no page: the node, and the order kswapd wakes for
      e.pfn = 0;
      e.migratetype = -1;
      e.gfp = rng() % 2;
      if (e.kind == EventKind::KswapdSleep) e.order = 0;
    }
    if (rng() % 10 == 0) e.stack_id = static_cast<std::uint32_t>(1 + rng() % 5);
    out.push_back(e);
  }
  return out;
}

inline std::vector<PageEvent> read_all(TraceReader& reader) {
  std::vector<PageEvent> out;
  std::span<const PageEvent> chunk;
  while (reader.next(chunk)) out.insert(out.end(), chunk.begin(), chunk.end());
  return out;
}

}  // namespace labyrinth::traces::testing
