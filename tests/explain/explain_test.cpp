// labyrinth explain on reports modelled on public ones (tests/fixtures/explain/*.source name
// each source). Every expected verdict is derived by hand below from the printed numbers and
// that kernel's mm/page_alloc.c; the comments hold the arithmetic (pages of 4 kB: kB / 4).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "labyrinth/allocator/watermark_history.hpp"
#include "labyrinth/explain/explain.hpp"
#include "labyrinth/explain/explain_output.hpp"
#include "labyrinth/traces/gfp_history.hpp"

namespace labyrinth::explain {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Explanation> explain_text(const std::string& text,
                                      const std::optional<traces::KernelVersion>& forced = std::nullopt) {
  std::vector<Explanation> out;
  for (const auto& r : parse_failure_reports(normalise_kernel_log(text))) out.push_back(explain_report(r, forced));
  return out;
}

std::vector<Explanation> explain_file(const std::string& name) {
  return explain_text(read(std::string(LABYRINTH_SOURCE_DIR) + "/" + name));
}

const ZoneVerdict& zone(const Explanation& e, const std::string& name) {
  for (const ZoneVerdict& z : e.zones) {
    if (z.name == name) return z;
  }
  ADD_FAILURE() << "no zone " << name;
  return e.zones.front();
}

TEST(GfpHistory, DecodesEachEraAsItsKernelPrintedIt) {
  using traces::GfpEra;
  using traces::gfp_table_of;
  // Real masks: 2.6/3.x "mode:0x20"; 4.9 "0x2084020(GFP_ATOMIC|__GFP_COMP)"; 4.10-4.17
  // "0x14200ca(GFP_HIGHUSER_MOVABLE)"; 4.18-5.0 "0x480020(GFP_ATOMIC)"; 5.4
  // "0x40dc0(GFP_KERNEL|__GFP_COMP|__GFP_ZERO)"; 6.1 "0x10800(GFP_NOWAIT|__GFP_NORETRY)"; 6.3+ 0x820.
  EXPECT_EQ(gfp_table_of(GfpEra::Legacy).format(0x20), "GFP_ATOMIC");
  EXPECT_EQ(gfp_table_of(GfpEra::Legacy).format(0xd0), "GFP_KERNEL");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_4).format(0x2084020), "GFP_ATOMIC|__GFP_COMP");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_4).format(0x24000c0), "GFP_KERNEL");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_10).format(0x14200ca), "GFP_HIGHUSER_MOVABLE");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_10).format(0x1080020), "GFP_ATOMIC");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_18).format(0x480020), "GFP_ATOMIC");
  EXPECT_EQ(gfp_table_of(GfpEra::V4_18).format(0x6000c0), "GFP_KERNEL");
  EXPECT_EQ(gfp_table_of(GfpEra::V5_1).format(0x40dc0), "GFP_KERNEL|__GFP_ZERO|__GFP_COMP");
  EXPECT_EQ(gfp_table_of(GfpEra::V5_1).format(0xa20), "GFP_ATOMIC");
  EXPECT_EQ(gfp_table_of(GfpEra::V5_1).format(0x10800), "GFP_NOWAIT|__GFP_NORETRY");
  EXPECT_EQ(gfp_table_of(GfpEra::V6_3).format(0x820), "GFP_ATOMIC");
  EXPECT_EQ(traces::gfp_era_of(*traces::parse_kernel_version("5.15.0-91-generic")), GfpEra::V5_1);
  EXPECT_EQ(traces::gfp_era_of(*traces::parse_kernel_version("4.9.56")), GfpEra::V4_4);
  EXPECT_EQ(traces::gfp_era_of(*traces::parse_kernel_version("3.18.18+40-ph")), GfpEra::Legacy);
  EXPECT_FALSE(traces::parse_kernel_version("#1").has_value());
}

TEST(WatermarkHistory, PerOrderLoopDropsLowerOrdersAndHalvesMin) {
  // <= 4.3, order 2, no reductions: free 100 - 3 = 97 > min 40. o=0: 97 - 50 = 47 > 20;
  // o=1: 47 - 2*10 = 27 > 10 -> passes. With 20 order-1 blocks: 47 - 40 = 7 <= 10 -> fails at order 2.
  allocator::ZoneFreeState z;
  z.free_pages = 100;
  z.mark = 40;
  z.orders = 11;
  z.nr_free[0] = 50;
  z.nr_free[1] = 10;
  z.nr_free[2] = 5;
  EXPECT_TRUE(allocator::zone_watermark_ok_history(allocator::WatermarkGeneration::PerOrderLoop, z, 2, {}).ok);
  z.nr_free[1] = 20;
  const auto out = allocator::zone_watermark_ok_history(allocator::WatermarkGeneration::PerOrderLoop, z, 2, {});
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.failure, allocator::WatermarkFailure::HigherOrderPages);
  EXPECT_EQ(out.failed_order, 2u);
  EXPECT_EQ(out.order_free, 7);
  EXPECT_EQ(out.order_min, 10);
}

TEST(WatermarkHistory, ReductionsPerGeneration) {
  allocator::ZoneFreeState z;
  z.free_pages = 1000;
  z.mark = 13081;
  allocator::WatermarkRights atomic{true, true, false, false};
  // 13081 - 6540 = 6541; 6541 - 1635 = 4906 (docs/kernel-rules.md §5.2), in every generation.
  for (auto g : {allocator::WatermarkGeneration::PerOrderLoop, allocator::WatermarkGeneration::HarderFlag,
                 allocator::WatermarkGeneration::ReserveFlags}) {
    EXPECT_EQ(allocator::zone_watermark_ok_history(g, z, 0, atomic).min, 4906);
  }
  // 6.3+: ALLOC_NON_BLOCK without ALLOC_MIN_RESERVE (GFP_NOWAIT) does not lower min; <= 6.2
  // ALLOC_HARDER alone takes a quarter.
  allocator::WatermarkRights nonblock{false, true, false, false};
  EXPECT_EQ(allocator::zone_watermark_ok_history(allocator::WatermarkGeneration::ReserveFlags, z, 0, nonblock).min, 13081);
  EXPECT_EQ(allocator::zone_watermark_ok_history(allocator::WatermarkGeneration::HarderFlag, z, 0, nonblock).min, 9811);
}

TEST(ExplainFixtures, Csky49AtomicOrder10OnlyCmaBlocksIsReserve) {
  // 4.9.56, mode 0x2084020 = __GFP_KSWAPD_RECLAIM|__GFP_ATOMIC|__GFP_COMP|__GFP_HIGH: ALLOC_HIGH
  // and ALLOC_HARDER, not movable so no ALLOC_CMA. Normal: free 248344kB = 62086 pages;
  // unusable = 2^10 - 1 + free_cma 240936kB/4 = 1023 + 60234 = 61257; counted 829.
  // min 2444kB = 611 -> 611 - 305 = 306 -> 306 - 76 = 230; lowmem_reserve 0: 829 > 230 passes.
  // Order 10: 58 blocks, all (C); CMA needs ALLOC_CMA -> no usable block: reserve.
  const auto all = explain_file("tests/fixtures/explain/csky_4.9_atomic_order10_cma.log");
  ASSERT_EQ(all.size(), 1u);
  const Explanation& e = all[0];
  EXPECT_EQ(e.status, Status::Explained);
  EXPECT_EQ(e.cause, Cause::Reserve);
  EXPECT_EQ(e.kernel_version, "4.9.56");
  EXPECT_EQ(e.gfp_era, "4.4-4.9");
  const ZoneVerdict& n = zone(e, "Normal");
  EXPECT_EQ(n.free_pages, 62086);
  EXPECT_EQ(n.outcome.unusable, 61257);
  EXPECT_EQ(n.outcome.free_counted, 829);
  EXPECT_EQ(n.outcome.min, 230);
  EXPECT_FALSE(e.max_min_free_kbytes.has_value());
  EXPECT_NE(e.advice.find("no watermark setting helps"), std::string::npos);
  ASSERT_FALSE(e.callers.empty());
  EXPECT_EQ(e.callers.front(), "alloc_ep_req");  // kmalloc_order*/__kmalloc skipped
}

TEST(ExplainFixtures, Android61NowaitOrder0WouldPassButBorderline) {
  // 6.1.90, mode 0x10800 = GFP_NOWAIT (0x800, __GFP_KSWAPD_RECLAIM) | __GFP_NORETRY: no
  // __GFP_HIGH, no __GFP_ATOMIC -> no reductions, and the highatomic reserve is not counted.
  // Normal: free 16852kB = 4213; reserved_highatomic 4096KB = 1024; counted 3189 > min 11584kB
  // = 2896 -> the printed state passes. The free-area total 15632kB = 3908 - 1024 = 2884 <=
  // 2896 would fail: borderline, said in a note. Largest passing min: only zone, so
  // pages_min = min; 3189 > pm -> pm 3188 -> 3188*4 + 3 = 12755 kB.
  const auto all = explain_file("tests/fixtures/explain/android_6.1_arm64_nowait_order0.log");
  ASSERT_EQ(all.size(), 1u);
  const Explanation& e = all[0];
  EXPECT_EQ(e.cause, Cause::WouldPass);
  EXPECT_EQ(e.status, Status::Explained);
  const ZoneVerdict& n = zone(e, "Normal");
  EXPECT_EQ(n.outcome.free_counted, 3189);
  EXPECT_EQ(n.outcome.threshold, 2896);
  EXPECT_EQ(e.max_min_free_kbytes, 12755);
  bool borderline = false;
  for (const auto& note : e.notes) borderline = borderline || note.find("borderline") != std::string::npos;
  EXPECT_TRUE(borderline);
  EXPECT_EQ(e.callers.front(), "__erofs_allocpage");
}

TEST(ExplainFixtures, Zfs2638WithoutDma32LineIsIncomplete) {
  // 2.6.38, mode 0x20 = GFP_ATOMIC: ALLOC_HIGH and ALLOC_HARDER (no __GFP_WAIT). Normal: free
  // 2264kB = 566; min 13224kB = 3306 -> 1653 -> 1240; 566 <= 1240: watermark. But the request
  // may also use DMA32 and DMA, whose zone lines the quote lacks: incomplete, and it says so.
  const auto all = explain_file("tests/fixtures/explain/zfs_2.6.38_atomic_order0.log");
  ASSERT_EQ(all.size(), 1u);
  const Explanation& e = all[0];
  EXPECT_EQ(e.status, Status::Incomplete);
  EXPECT_EQ(e.cause, Cause::Incomplete);
  EXPECT_EQ(e.rules.substr(0, 4), "<=4.");
  const ZoneVerdict& n = zone(e, "Normal");
  EXPECT_EQ(n.cause, Cause::Watermark);
  EXPECT_EQ(n.outcome.free_counted, 566);
  EXPECT_EQ(n.outcome.min, 1240);
  EXPECT_EQ(zone(e, "DMA32").cause, Cause::Incomplete);
  EXPECT_NE(e.problem.find("DMA32"), std::string::npos);
}

TEST(ExplainSample, FragmentationThenWatermark) {
  // Report 1, 5.15, order 3 GFP_ATOMIC (0xa20): Normal free 30000, unusable 7, counted 29993;
  // min 58148kB = 14537 (boost 512 included, order > 0 keeps it) -> 7269 -> 5452: passes; no
  // block above order 2 -> fragmentation. DMA32: 7500 - 7 = 7493 <= 1071 + 13044.
  // Report 2, order 0: Normal 5000 <= 5452; 5.9+ retries unboosted: min 14025 -> 7013 -> 5260,
  // 5000 <= 5260: watermark. Advice: Normal min = pm * 3339264 / 4022778 (lowmem = 3840 +
  // 679674 + 3339264); 5000 > eff(min) up to pm = 16059 -> 16059*4 + 3 = 64239 kB.
  const auto all = explain_file("traces/samples/gfp_atomic_failure.log");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].cause, Cause::Fragmentation);
  EXPECT_EQ(zone(all[0], "Normal").outcome.threshold, 5452);
  EXPECT_EQ(zone(all[0], "DMA32").cause, Cause::Watermark);
  EXPECT_FALSE(all[0].max_min_free_kbytes.has_value());
  EXPECT_EQ(all[0].callers.front(), "__alloc_skb");
  EXPECT_EQ(all[1].cause, Cause::Watermark);
  EXPECT_TRUE(zone(all[1], "Normal").boost_ignored);
  EXPECT_EQ(zone(all[1], "Normal").outcome.threshold, 5260);
  EXPECT_EQ(all[1].max_min_free_kbytes, 64239);
  EXPECT_EQ(all[1].current_min_free_kbytes, 67580);
}

// The same report through the manglings the parser undoes must give the same numbers.
std::string transform(const std::string& text, const std::function<std::string(const std::string&)>& f) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += f(line) + "\n";
  return out;
}

std::string strip_stamp(const std::string& line) {
  return line.size() > 15 && line[0] == '[' ? line.substr(line.find(']') + 2) : line;
}

TEST(ExplainParser, SameVerdictThroughEveryLogFormat) {
  const std::string base = read(std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/gfp_atomic_failure.log");
  const auto expected = explain_text(base);
  std::vector<std::pair<std::string, std::string>> variants;
  variants.emplace_back("no timestamps", transform(base, strip_stamp));
  variants.emplace_back("syslog", transform(base, [](const std::string& l) { return "Mar  1 12:00:00 host kernel: " + l; }));
  variants.emplace_back("journalctl", transform(base, [](const std::string& l) {
                          return "Mar 01 12:00:00 host kernel: " + strip_stamp(l);
                        }));
  variants.emplace_back("levels", transform(base, [](const std::string& l) { return "<4>" + l; }));
  variants.emplace_back("mail quote", transform(base, [](const std::string& l) { return "> > " + l; }));
  variants.emplace_back("caller id", transform(base, [](const std::string& l) {
                          return l.size() > 15 && l[0] == '[' ? l.substr(0, 14) + "[    C2] " + l.substr(15) : l;
                        }));
  variants.emplace_back("android", transform(base, [](const std::string& l) {
                          return "[ 59.7] (2)[0:swapper/2]" + strip_stamp(l);
                        }));
  variants.emplace_back("dmesg -x", transform(base, [](const std::string& l) { return "kern  :warn  : " + l; }));
  // A mail client wrapping at 72 columns (continuation lines lose every prefix).
  variants.emplace_back("wrapped", transform(base, [](const std::string& l) {
                          std::string out;
                          std::string rest = l;
                          while (rest.size() > 72) {
                            auto cut = rest.rfind(' ', 72);
                            if (cut == std::string::npos || cut < 20) break;
                            out += rest.substr(0, cut) + "\n";
                            rest = rest.substr(cut + 1);
                          }
                          return out + rest;
                        }));
  // KERN_CONT pieces split by a logger (each on its own syslog line), and journald's #012.
  variants.emplace_back("split pieces", transform(base, [](const std::string& l) {
                          std::string s = strip_stamp(l);
                          std::string out;
                          if (s.rfind("lowmem_reserve[]:", 0) == 0 || s.find("kB (") != std::string::npos) {
                            std::istringstream words(s);
                            std::string w;
                            while (words >> w) out += "Mar  1 12:00:00 host kernel: " + w + "\n";
                            out.pop_back();
                            return out;
                          }
                          return "Mar  1 12:00:00 host kernel: " + s;
                        }));
  for (const auto& [name, text] : variants) {
    SCOPED_TRACE(name);
    const auto got = explain_text(text);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].cause, expected[i].cause);
      EXPECT_EQ(got[i].kernel_version, expected[i].kernel_version);
      ASSERT_EQ(got[i].zones.size(), expected[i].zones.size());
      for (std::size_t z = 0; z < got[i].zones.size(); ++z) {
        EXPECT_EQ(got[i].zones[z].outcome.free_counted, expected[i].zones[z].outcome.free_counted);
        EXPECT_EQ(got[i].zones[z].outcome.threshold, expected[i].zones[z].outcome.threshold);
        EXPECT_EQ(got[i].zones[z].blocks, expected[i].zones[z].blocks);
      }
      EXPECT_EQ(got[i].callers, expected[i].callers);
    }
  }
}

TEST(ExplainParser, KernelOptionAndAssumptions) {
  std::string text = read(std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/gfp_atomic_failure.log");
  // Without the CPU lines the printed names pick the 5.1-6.2 layout, said as an assumption.
  std::string no_cpu;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.find("Comm:") == std::string::npos) no_cpu += l + "\n";
  }
  const auto assumed = explain_text(no_cpu);
  ASSERT_EQ(assumed.size(), 2u);
  EXPECT_EQ(assumed[0].version_source, "assumed");
  EXPECT_EQ(assumed[0].gfp_era, "5.1-6.2");
  EXPECT_EQ(assumed[0].cause, Cause::Fragmentation);
  // --kernel 6.6: 0xa20 printed as GFP_ATOMIC does not decode with the 6.3 table; the names win.
  const auto forced = explain_text(text, traces::parse_kernel_version("6.6"));
  EXPECT_EQ(forced[0].version_source, "--kernel");
  EXPECT_EQ(forced[0].gfp_era, "5.1-6.2");
  // A kernel newer than the rules read is refused for that report.
  EXPECT_EQ(explain_text(text, traces::parse_kernel_version("8.1"))[0].status, Status::Unsupported);
}

TEST(ExplainParser, TruncatedAndEmptyInputs) {
  EXPECT_TRUE(explain_text("").empty());
  EXPECT_TRUE(explain_text("random text\nwithout any report\n").empty());
  auto cut = explain_text("foo: page allocation failure: order:3,");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].status, Status::Incomplete);
  cut = explain_text("foo: page allocation failure: order:3, mode:0x820(GFP_ATOMIC)\nCPU: 0 PID: 1 Comm: foo Not tainted 6.6.0 #1\n");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].status, Status::Incomplete);
  EXPECT_NE(cut[0].problem.find("Mem-Info"), std::string::npos);
}

}  // namespace
}  // namespace labyrinth::explain
