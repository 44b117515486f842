// Mirror replay under real memory pressure (issue #16): record the whole machine while a
// hugetlb balloon squeezes free memory to the watermarks until the kernel refuses order-9
// pages, and network and anonymous churn run just above them (workloads/pressure.sh, which
// always gives the balloon back). Then mirror must still match the kernel's end state, have
// validated at keyframes along the way, report the kernel's refused order-9 requests, and
// name the missing evidence of any failure it cannot explain.
// Needs root, BPF and tracefs: skips without them, unless LABYRINTH_REQUIRE_BPF=1 (CI).
// ctest runs it alone (RUN_SERIAL): it takes most of the machine's free memory for seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bpf_test.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

namespace labyrinth {
namespace {

using testing::run_labyrinth;

std::string read_knob(const char* path) {
  std::ifstream in(path);
  std::string v;
  in >> v;
  return v;
}

nlohmann::json load(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// What holds in every run, busy machine or not (measured: README, "Measured"): the total free
// pages, and the free blocks of pageblock order and above, which decide the balloon's order-9
// failures. The low orders are not asserted: when compaction runs hard, its fast isolations
// (the kernel does not say which block) and page reporting leave them 3% to 47% off, which
// the report shows and the next work on mirror has to bring down.
constexpr double kHighOrderTolerance = 0.02;
// Free page reporting (virtio-balloon; this VM reports blocks of order 9 and up) takes up to
// PAGE_REPORTING_CAPACITY free blocks off the lists at a time to hand them to the host, and
// puts them back without an event (mm/page_reporting.c:page_reporting_cycle,
// include/linux/page_reporting.h). Blocks in flight when the end snapshot reads
// /proc/buddyinfo are free in the model and missing in the kernel's counts; blocks in flight at
// the start snapshot come back unseen, free in the kernel and not in the model.
constexpr std::uint64_t kPageReportingCapacity = 32;

// The lowest order free page reporting took while the trace was recorded (its header), if any.
std::optional<unsigned> page_reporting_order(const traces::TraceHeader& header) {
  const auto it = header.kernel_params.find("page_reporting.page_reporting_order");
  if (it == header.kernel_params.end()) return std::nullopt;
  return static_cast<unsigned>(std::stoul(it->second));
}

TEST(PressureRecording, MirrorMatchesTheKernelAndExplainsItsFailures) {
  LABYRINTH_REQUIRE_RECORDING();
  const testing::MachineLock machine;
  ASSERT_TRUE(machine.held()) << "cannot lock /tmp/labyrinth-machine.lock";
  const std::string hugepages_before = read_knob("/proc/sys/vm/nr_hugepages");
  testing::TempDir dir;
  const std::string trace = dir.file("pressure.trace");
  ASSERT_EQ(testing::run_command({"/bin/sh", LABYRINTH_SOURCE_DIR "/tests/ebpf/workloads/settle_memory.sh"}).exit_code, 0);
  auto r = run_labyrinth({"record", "-o", trace, "-m", "16", "--", "bash",
                          LABYRINTH_SOURCE_DIR "/tests/ebpf/workloads/pressure.sh", LABYRINTH_PAGE_WORKLOAD, "5"});
  // The balloon is given back whatever happened to the recording.
  EXPECT_EQ(read_knob("/proc/sys/vm/nr_hugepages"), hugepages_before);
  if (r.exit_code != 0 && !testing::bpf_required()) GTEST_SKIP() << "cannot record: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("refused_at="), std::string::npos) << "the balloon never reached the floor\n" << r.out;

  traces::TraceReader reader(trace);
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) {
  }
  ASSERT_TRUE(reader.complete());
  const std::uint64_t lost = reader.footer().losses.total_event_loss();

  const std::string json = dir.file("mirror.json");
  r = run_labyrinth({"replay", trace, "--mode", "mirror", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = load(json);

  // The end state, with the targets; a lost event can leave each order a block or two off.
  const auto& v = m["validation"];
  ASSERT_TRUE(v["available"].get<bool>()) << v.dump();
  // Within kFreeTolerance once the blocks free page reporting may hold are allowed for.
  EXPECT_TRUE(v["free_within_tolerance"].get<bool>()) << r.out;
  const unsigned pageblock_order = reader.header().pageblock_order;
  const auto reporting = page_reporting_order(reader.header());
  for (const auto& zone : v["zones"]) {
    for (const auto& o : zone["orders"]) {
      const auto kernel = o["kernel_blocks"].get<std::uint64_t>();
      if (kernel < 100 || o["order"].get<unsigned>() < pageblock_order) continue;
      const auto model = o["model_blocks"].get<std::uint64_t>();
      const double off = model > kernel ? static_cast<double>(model - kernel) : static_cast<double>(kernel - model);
      const bool reported = reporting && o["order"].get<unsigned>() >= *reporting;
      EXPECT_LE(off, kHighOrderTolerance * static_cast<double>(kernel) + 2.0 * static_cast<double>(lost) +
                         (reported ? static_cast<double>(kPageReportingCapacity) : 0.0))
          << zone["zone"] << " order " << o["order"] << ": model " << model << " kernel " << kernel << ", " << lost
          << " events lost\n"
          << r.out;
    }
  }

  // The kernel's own count of freed pages (/proc/vmstat pgfree between the snapshots) against
  // the trace's: only frees no BPF program sees (PID 1's agent on this VM), frees no tracepoint
  // reports (150 of 10.4 M pages in a pressure run here, which ftrace misses too) and announced
  // losses may differ.
  const auto& kc = v["kernel_counters"];
  ASSERT_TRUE(kc.is_object()) << v.dump();
  if (lost == 0) {
    const double kernel_freed = kc["kernel_freed_pages"].get<double>();
    EXPECT_LE(std::abs(kc["untraced_freed_pages"].get<double>()), 0.01 * kernel_freed + 64) << kc.dump();
  }

  // Keyframes were recorded (one a second, and one when the watermarks moved) and checked.
  EXPECT_GE(m["keyframes"]["checked"].get<std::uint64_t>(), 2u) << r.out;

  // The kernel refused order-9 pages to the balloon: mirror reports those failures, each with
  // a cause; one it cannot explain names the evidence that is missing. The balloon's are the
  // hugetlb pool's requests (alloc_buddy_hugetlb_folio: __GFP_RETRY_MAYFAIL); the recording is
  // system-wide, and a test running beside may fail a THP fault of its own (GFP_TRANSHUGE: one
  // failed in DMA32 beside the unit suite, the kernel's counters passing its check when read).
  const auto balloons = [](const nlohmann::json& f) {
    return f["order"] == 9 && f["gfp"].get<std::string>().find("__GFP_RETRY_MAYFAIL") != std::string::npos;
  };
  std::uint64_t order9 = 0;
  for (const auto& f : m["failures"]["items"]) {
    if (balloons(f)) ++order9;
    if (f["cause"] == "unexplained") {
      EXPECT_TRUE(f["evidence"].is_string()) << f.dump();
    }
  }
  EXPECT_GE(order9, 1u) << r.out;
  EXPECT_EQ(m["model_invariants"], "ok");

  // Each of those failures carries the kernel's own counters of its zone, read at the failure:
  // the balloon's order-9 requests found no order-9 block on the lists they may use, whatever
  // the free count (the kernel refused them after reclaim and compaction). How far the model's
  // count was from theirs is a measurement, not a bound: 18 to 27 pages on a settled machine,
  // 8,000 to 11,000 while a build fragmented memory and compaction ran hard.
  const auto& events = reader.header().events;
  ASSERT_NE(std::find(events.begin(), events.end(), "bpf:zone_counters"), events.end()) << r.err;
  ASSERT_TRUE(m["summary"]["kernel_counters"].is_object()) << r.out;
  EXPECT_EQ(m["summary"]["kernel_counters"]["failures"].get<std::uint64_t>(), m["failures"]["total"].get<std::uint64_t>());
  // With them, each CPU's vmstat diff of NR_FREE_PAGES, summed (format 1.9): read once every CPU
  // has sent an event, which under pressure is long before the first failure; each CPU holds
  // back at most its stat threshold, 125 pages at most (mm/vmstat.c:calculate_*_threshold).
  std::uint64_t with_diffs = 0;
  const auto max_diffs = static_cast<std::int64_t>(125 * reader.header().nr_cpus);
  for (const auto& f : m["failures"]["items"]) {
    const auto& k = f["kernel_counters"];
    ASSERT_TRUE(k.is_object()) << f.dump();
    if (!k["free_diffs"].is_null()) {
      ++with_diffs;
      EXPECT_LE(std::abs(k["free_diffs"].get<std::int64_t>()), max_diffs) << f.dump();
    }
    if (!balloons(f)) continue;
    EXPECT_FALSE(k["block_available"].get<bool>()) << f.dump();
    EXPECT_EQ(k["cause"], "fragmentation") << f.dump();
    EXPECT_EQ(f["cause"], "fragmentation") << f.dump();
  }
  EXPECT_GE(with_diffs, 1u) << r.out;
  EXPECT_EQ(m["summary"]["kernel_counters"]["with_free_diffs"].get<std::uint64_t>(), with_diffs);

  // The balloon's order-9 requests reclaimed before the kernel refused them: the trace holds
  // direct reclaims, and what they freed agrees with the kernel's count of the LRU pages direct
  // reclaim freed (pgsteal_direct; nr_reclaimed adds slab pages, and a reclaim that straddles a
  // snapshot's read counts on one side only: 29,005 against 29,135 pages in a squeeze here).
  const std::string stat_json = dir.file("stat.json");
  r = run_labyrinth({"stat", trace, "--json", stat_json, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto st = load(stat_json);
  const auto& dr = st["direct_reclaim"];
  ASSERT_TRUE(dr.is_object()) << st.dump();
  EXPECT_GE(dr["stalls"].get<std::uint64_t>(), 1u) << dr.dump();
  const auto& skc = st["kernel_counters"];
  ASSERT_TRUE(skc.is_object());
  EXPECT_GE(skc["allocstall"].get<std::uint64_t>(), 1u) << skc.dump();
  if (lost == 0) {
    const double kernel_pages = skc["pgsteal_direct"].get<double>();
    EXPECT_LE(std::abs(dr["reclaimed_pages"].get<double>() - kernel_pages), 0.25 * kernel_pages + 1024)
        << dr.dump() << "\n" << skc.dump();
  }

  // The trace holds kswapd's passes, one wake-up per balance_pgdat the kernel counted
  // (pageoutrun), but for a pass that began while a snapshot's vmstat was read (8,851 against
  // 8,851 in a recording here). kswapd need not run at all: the balloon's requests reclaim
  // directly, and a node whose kswapd failed 16 passes in a row is not woken again
  // (kswapd_failures) until some reclaim frees pages; 0 against 0 was seen too.
  ASSERT_NE(std::find(events.begin(), events.end(), "vmscan:mm_vmscan_kswapd_wake"), events.end()) << r.err;
  const std::uint64_t passes = st["summary"]["kswapd_passes"].get<std::uint64_t>();
  if (lost == 0) {
    const std::uint64_t pageoutrun = skc["pageoutrun"].get<std::uint64_t>();
    EXPECT_LE(std::max(passes, pageoutrun) - std::min(passes, pageoutrun), 2u) << passes << " against " << pageoutrun;
  }
}

}  // namespace
}  // namespace labyrinth
