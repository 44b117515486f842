// Replay throughput and memory.
//
//   replay_bench gen TRACE EVENTS      write a synthetic recording: 12 GiB machine (DMA32 +
//                                      Normal), 2 CPUs, start/end snapshots, order-0 traffic
//                                      through per-CPU lists (zone_locked refills in batches
//                                      of 63, pcpu_drain when a list passes its high mark),
//                                      some order-1..3 and order-9 buddy allocations, GFP_ATOMIC
//                                      in softirq, a live set of up to 1M pages; three in four
//                                      frees are of one of the 8192 latest allocations
//   replay_bench read TRACE [ahead|inline]
//                                      decode only: the ceiling of any replay
//   replay_bench run TRACE mirror|simulate [ahead|inline]
//                                      replay it as `labyrinth replay` does: the model on one
//                                      thread, the trace read and decoded ahead on a second
//                                      (inline: all on one); prints events/s and peak RSS
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "labyrinth/replay/replay.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "labyrinth/traces/trace_writer.hpp"

using namespace labyrinth;

namespace {

constexpr std::uint64_t kDma32Start = 0x1000, kDma32Pages = 0xff000;
constexpr std::uint64_t kNormalStart = 0x100000, kNormalPages = 0x200000;
constexpr std::uint64_t kGfpKernel = 0xcc0, kGfpMovable = 0x140cca, kGfpAtomic = 0x820;

traces::TraceHeader header() {
  traces::TraceHeader h;
  h.source = "bench";
  h.kernel_release = "6.18.0-bench";
  h.machine = "x86_64";
  h.nr_cpus = 2;
  h.gfp_table = traces::GfpTable::builtin_linux_6_10();
  h.migratetype_names = traces::default_migratetype_names();
  h.events = {"kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:mm_page_alloc_zone_locked", "kmem:mm_page_pcpu_drain",
              "kmem:mm_page_alloc_extfrag"};
  traces::ZoneInfo d;
  d.name = "DMA32";
  d.start_pfn = kDma32Start;
  d.spanned_pages = d.present_pages = d.managed_pages = kDma32Pages;
  d.min_pages = 5974, d.low_pages = 7467, d.high_pages = 8960;
  d.lowmem_reserve_pages = {0, 0, 8000, 8000, 8000};
  traces::ZoneInfo n = d;
  n.name = "Normal";
  n.start_pfn = kNormalStart;
  n.spanned_pages = n.present_pages = n.managed_pages = kNormalPages;
  n.min_pages = 10892, n.low_pages = 13615, n.high_pages = 16338;
  n.lowmem_reserve_pages = {0, 0, 0, 0, 0};
  h.zones = {d, n};
  h.vm_sysctls["min_free_kbytes"] = "67584";
  return h;
}

int gen(const std::string& path, std::uint64_t events) {
  traces::WriterOptions wo;
  wo.overwrite = true;
  traces::TraceWriter w(path, header(), wo);
  traces::Snapshot start;
  start.present = true;
  start.ts_ns = 1;
  start.free_runs = {{kDma32Start, kDma32Pages}, {kNormalStart, kNormalPages}};
  w.write_start_snapshot(start);
  std::mt19937_64 rng(42);
  // Order-0 pool: the Normal zone's pages, handed out from the top; order 9 from DMA32's
  // top, order 1..3 from DMA32's bottom. Pages come back to their pools when freed.
  std::vector<std::uint64_t> pool0;
  for (std::uint64_t p = kNormalStart + kNormalPages; p-- > kNormalStart;) pool0.push_back(p);
  std::vector<std::uint64_t> pool_hi;
  for (std::uint64_t p = kDma32Start + 0x80000; p < kDma32Start + kDma32Pages - 512; p += 512) pool_hi.push_back(p);
  std::vector<std::uint64_t> pool_mid[4];
  for (unsigned o = 1; o <= 3; ++o) {
    for (std::uint64_t p = kDma32Start + 0x10000 * o; p < kDma32Start + 0x10000 * (o + 1); p += 1u << o) {
      pool_mid[o].push_back(p);
    }
  }
  struct Live {
    std::uint64_t pfn;
    std::uint8_t order;
  };
  std::vector<Live> live;
  std::deque<std::uint64_t> pcp[2];
  std::uint64_t ts = 10, n = 0;
  traces::PageEvent e;
  auto emit = [&](traces::PageEvent ev) {
    ev.ts_ns = ts;
    ts += 1 + rng() % 1000;  // ~2 M events/s, a busy machine
    w.append(ev);
    ++n;
  };
  while (n < events) {
    const unsigned cpu = static_cast<unsigned>(rng() & 1);
    const bool do_alloc = live.size() < 1000 || (live.size() < 1'000'000 && rng() % 100 < 52);
    if (do_alloc) {
      const unsigned r = static_cast<unsigned>(rng() % 1000);
      traces::PageEvent a{};
      a.kind = traces::EventKind::Alloc;
      a.cpu = static_cast<std::uint16_t>(cpu);
      a.pid = 100 + cpu;
      a.ctx = traces::ExecContext::Task;
      if (r < 950) {
        if (pcp[cpu].empty()) {
          for (int k = 0; k < 63 && !pool0.empty(); ++k) {
            traces::PageEvent z{};
            z.kind = traces::EventKind::PcpRefill;
            z.cpu = static_cast<std::uint16_t>(cpu);
            z.pfn = pool0.back();
            z.migratetype = 1;
            z.percpu_refill = true;
            pool0.pop_back();
            pcp[cpu].push_back(z.pfn);
            emit(z);
          }
        }
        if (pcp[cpu].empty()) continue;
        a.pfn = pcp[cpu].front();
        pcp[cpu].pop_front();
        a.order = 0;
        const bool atomic = r < 50;
        a.gfp = atomic ? kGfpAtomic : kGfpMovable;
        a.migratetype = atomic ? 0 : 1;
        if (atomic) a.ctx = traces::ExecContext::Softirq;
        if (atomic) {
          // GFP_ATOMIC pages come from the movable list here only to keep the generator simple.
          a.migratetype = 1;
          a.gfp = kGfpAtomic | 0x8;
        }
      } else if (r < 998) {
        const unsigned o = 1 + static_cast<unsigned>(rng() % 3);
        if (pool_mid[o].empty()) continue;
        a.pfn = pool_mid[o].back();
        pool_mid[o].pop_back();
        a.order = static_cast<std::uint8_t>(o);
        a.gfp = kGfpKernel | 0x40000;
        a.migratetype = 0;
        traces::PageEvent z{};
        z.kind = traces::EventKind::PcpRefill;
        z.cpu = a.cpu;
        z.pfn = a.pfn;
        z.order = a.order;
        z.migratetype = 0;
        z.percpu_refill = true;
        emit(z);
      } else {
        if (pool_hi.empty()) continue;
        a.pfn = pool_hi.back();
        pool_hi.pop_back();
        a.order = 9;
        a.gfp = kGfpMovable;
        a.migratetype = 1;
      }
      emit(a);
      live.push_back({a.pfn, a.order});
    } else {
      // Most frees are of recent allocations (short-lived page cache, skbs, slab pages).
      const std::size_t recent = std::min<std::size_t>(live.size(), 8192);
      const std::size_t i = rng() % 4 != 0 ? live.size() - 1 - static_cast<std::size_t>(rng() % recent)
                                           : static_cast<std::size_t>(rng() % live.size());
      const Live l = live[i];
      live[i] = live.back();
      live.pop_back();
      traces::PageEvent f{};
      f.kind = traces::EventKind::Free;
      f.cpu = static_cast<std::uint16_t>(cpu);
      f.pfn = l.pfn;
      f.order = l.order;
      f.pid = 100 + cpu;
      emit(f);
      if (l.order == 0) {
        pcp[cpu].push_front(l.pfn);
        if (pcp[cpu].size() > 800) {
          for (int k = 0; k < 63; ++k) {
            traces::PageEvent d{};
            d.kind = traces::EventKind::PcpDrain;
            d.cpu = static_cast<std::uint16_t>(cpu);
            d.pfn = pcp[cpu].back();
            d.migratetype = 1;
            pcp[cpu].pop_back();
            pool0.push_back(d.pfn);
            emit(d);
          }
        }
      } else if (l.order == 9) {
        pool_hi.push_back(l.pfn);
      } else {
        // order 1..3 go to the pcp list in the kernel; drain them at once here
        traces::PageEvent d{};
        d.kind = traces::EventKind::PcpDrain;
        d.cpu = static_cast<std::uint16_t>(cpu);
        d.pfn = l.pfn;
        d.order = l.order;
        d.migratetype = 0;
        emit(d);
        pool_mid[l.order].push_back(l.pfn);
      }
    }
  }
  traces::TraceFooter footer;
  footer.present = true;
  footer.events = n;
  w.finish(traces::Snapshot{}, footer);
  std::printf("wrote %llu events to %s\n", static_cast<unsigned long long>(n), path.c_str());
  return 0;
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// "ahead" (the default, as the CLI reads): decoding runs on a second thread; "inline": one.
bool read_ahead_of(const char* arg) { return arg == nullptr || std::string(arg) != "inline"; }

int run(const std::string& path, const std::string& mode, bool read_ahead) {
  replay::ReplayOptions o;
  o.mode = mode == "simulate" ? replay::ReplayMode::Simulate : replay::ReplayMode::Mirror;
  o.check_invariants = false;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  traces::TraceReader reader(path);
  reader.set_read_ahead(read_ahead ? traces::TraceReader::ReadAhead::Events : traces::TraceReader::ReadAhead::Off);
  replay::Replayer rp(reader.header(), reader.start_snapshot(), reader.end_snapshot(), o);
  rp.set_keyframes(reader.keyframes(), [&reader](std::size_t i, std::vector<traces::FreeRun>& runs) {
    return reader.keyframe_free_map(i, runs);
  });
  rp.set_process_names([&reader](std::uint32_t id) { return reader.comm(id); });
  std::span<const traces::PageEvent> chunk;
  // The model is built and seeded at the first chunk; the steady-state rate is measured from
  // the second chunk on, in CPU time (this machine is shared: wall time is also printed).
  double cpu_loop_start = 0;
  std::uint64_t events_first = 0;
  bool first = true;
  while (reader.next(chunk)) {
    rp.add(chunk, reader.in_time_order());
    if (first) {
      first = false;
      cpu_loop_start = cpu_seconds();
      events_first = chunk.size();
    }
  }
  const replay::ReplayResult r = rp.finish(reader);
  const double cpu_loop = cpu_seconds() - cpu_loop_start;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s (%s): steady state %.2f M events/s of CPU time (%llu events in %.3f CPU s, after setup and the first "
              "chunk)\n",
              mode.c_str(), read_ahead ? "read-ahead thread" : "one thread", static_cast<double>(r.counters.events - events_first) / cpu_loop / 1e6,
              static_cast<unsigned long long>(r.counters.events - events_first), cpu_loop);
  std::uint64_t dq_errors = 0;
  for (std::size_t i = 0; i < replay::kDataQualityCount; ++i) {
    if (replay::info(static_cast<replay::DataQuality>(i)).severity != replay::Severity::Info) dq_errors += r.quality.values[i];
  }
  const double cpu_all = cpu_seconds() - cpu0;
  std::printf("%s %s: %llu events in %.3f s wall, %.3f s CPU (setup included) = %.2f M events/s wall, %.2f M events/s "
              "CPU, peak RSS %ld MiB, failures %llu, data-loss/error counters %llu\n",
              mode.c_str(), path.c_str(), static_cast<unsigned long long>(r.counters.events), s, cpu_all,
              static_cast<double>(r.counters.events) / s / 1e6, static_cast<double>(r.counters.events) / cpu_all / 1e6,
              max_rss_kib() / 1024,
              static_cast<unsigned long long>(r.counters.failures), static_cast<unsigned long long>(dq_errors));
  return 0;
}

// Decoding alone, the ceiling of any replay: the reader's events/s in CPU and wall time.
int read_only(const std::string& path, bool read_ahead) {
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  traces::TraceReader reader(path);
  reader.set_read_ahead(read_ahead ? traces::TraceReader::ReadAhead::Events : traces::TraceReader::ReadAhead::Off);
  std::span<const traces::PageEvent> chunk;
  std::uint64_t n = 0, sum = 0;
  while (reader.next(chunk)) {
    n += chunk.size();
    sum += chunk.back().pfn;  // touch the chunk
  }
  const double cpu = cpu_seconds() - c0;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("read only (decode, the ceiling, %s): %llu events in %.3f s wall, %.3f s CPU = %.2f M events/s wall, %.2f M "
              "events/s CPU (%llu)\n",
              read_ahead ? "read-ahead thread" : "one thread", static_cast<unsigned long long>(n), s, cpu,
              static_cast<double>(n) / s / 1e6,
              static_cast<double>(n) / cpu / 1e6, static_cast<unsigned long long>(sum & 1));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 3 || argc == 4) && std::string(argv[1]) == "read") return read_only(argv[2], read_ahead_of(argv[3]));
  if (argc == 4 && std::string(argv[1]) == "gen") return gen(argv[2], std::strtoull(argv[3], nullptr, 10));
  if ((argc == 4 || argc == 5) && std::string(argv[1]) == "run") return run(argv[2], argv[3], read_ahead_of(argv[4]));
  std::fprintf(stderr, "usage: replay_bench gen TRACE EVENTS | read TRACE [ahead|inline] | run TRACE mirror|simulate "
                       "[ahead|inline]\n");
  return 2;
}
