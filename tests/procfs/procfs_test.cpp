// The /proc and /sys text parsers on samples copied from Linux 6.18, and the readers on
// this machine (no privileges needed).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "labyrinth/procfs/cpus.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/iomem.hpp"
#include "labyrinth/procfs/system_facts.hpp"
#include "labyrinth/procfs/vmstat.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"
#include "temp_dir.hpp"

namespace labyrinth::procfs {
namespace {

constexpr const char* kZoneinfo = R"(Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 1307
      nr_free_pages 99
  pages free     3840
        boost    0
        min      57
        low      71
        high     85
        promo    99
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 3018, 4426, 4426, 4426)
      nr_free_pages 3840
  pagesets
    cpu: 0
              count:    0
              high:     0
              batch:    1
              high_min: 35
              high_max: 240
  vm stats threshold: 4
    cpu: 1
              count:    0
              high:     0
              batch:    1
              high_min: 35
              high_max: 240
  vm stats threshold: 4
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone   Normal
  pages free     303466
        boost    1000
        min      6355
        low      7693
        high     9031
        promo    9369
        spanned  5505024
        present  5505024
        managed  360448
        cma      0
        protection: (0, 0, 0, 0, 0)
  pagesets
    cpu: 0
              count:    2892
              high:     3409
              batch:    63
              high_min: 3346
              high_max: 22528
  vm stats threshold: 20
    cpu: 1
              count:    3792
              high:     3990
              batch:    63
              high_min: 3346
              high_max: 22528
  vm stats threshold: 20
  node_unreclaimable:  0
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
        boost    0
        min      32
        low      32
        high     32
        promo    32
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
)";

TEST(Zoneinfo, ParsesWatermarksPcpAndProtection) {
  const auto zones = parse_zoneinfo(kZoneinfo);
  ASSERT_EQ(zones.size(), 3u);
  const auto& dma = zones[0];
  EXPECT_EQ(dma.node, 0);
  EXPECT_EQ(dma.name, "DMA");
  EXPECT_EQ(dma.start_pfn, 1u);
  EXPECT_EQ(dma.spanned_pages, 4095u);
  EXPECT_EQ(dma.present_pages, 3998u);
  EXPECT_EQ(dma.managed_pages, 3840u);
  EXPECT_EQ(dma.free_pages, 3840u);
  EXPECT_EQ(dma.min_pages, 57u);
  EXPECT_EQ(dma.low_pages, 71u);
  EXPECT_EQ(dma.high_pages, 85u);
  EXPECT_EQ(dma.lowmem_reserve_pages, (std::vector<std::uint64_t>{0, 3018, 4426, 4426, 4426}));
  EXPECT_EQ(dma.pcp_batch, 1u);
  EXPECT_EQ(dma.pcp_count_pages, 0u);
}

TEST(Zoneinfo, SubtractsBoostAndSumsPcpCountsOverCpus) {
  const auto zones = parse_zoneinfo(kZoneinfo);
  const auto& normal = zones[1];
  EXPECT_EQ(normal.boost_pages, 1000u);
  EXPECT_EQ(normal.min_pages, 5355u);  // zoneinfo prints the boost included
  EXPECT_EQ(normal.low_pages, 6693u);
  EXPECT_EQ(normal.high_pages, 8031u);
  EXPECT_EQ(normal.pcp_high, 3409u);  // first CPU's pageset
  EXPECT_EQ(normal.pcp_batch, 63u);
  EXPECT_EQ(normal.pcp_count_pages, 2892u + 3792u);
  EXPECT_EQ(normal.start_pfn, 1048576u);
  // "high:" of the pagesets never overwrites the watermark "high"
  EXPECT_NE(normal.high_pages, 3990u);
  EXPECT_EQ(zones[2].spanned_pages, 0u);
}

TEST(Vmstat, ParsesNamedCountersAndSkipsOtherLines) {
  const auto v = parse_vmstat(
      "nr_free_pages 5741119\npgalloc_normal 4000324358\npgfree 18446744073709551615\n"
      "broken\n 12\nnr_x -3\nnr_y 12abc\ncompact_isolated 21247315");
  EXPECT_EQ(v.size(), 4u);
  EXPECT_EQ(v.at("nr_free_pages"), 5741119u);
  EXPECT_EQ(v.at("pgalloc_normal"), 4000324358u);
  EXPECT_EQ(v.at("pgfree"), 18446744073709551615ull);
  EXPECT_EQ(v.at("compact_isolated"), 21247315u);  // a last line without a newline
}

TEST(Vmstat, ThisMachinesFileHasTheCountersReplayCompares) {
  const auto v = parse_vmstat(read_file("/proc/vmstat"));
  for (const char* name : {"pgalloc_normal", "pgfree", "compact_stall", "compact_isolated"}) {
    EXPECT_TRUE(v.contains(name)) << name;
  }
}

TEST(Buddyinfo, ParsesEveryOrder) {
  const auto rows = parse_buddyinfo(
      "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
      "Node 0, zone   Normal    187    273     23    116    101     58    103     95     54     31    244 \n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].zone, "Normal");
  ASSERT_EQ(rows[1].free_blocks.size(), 11u);
  EXPECT_EQ(rows[1].free_blocks[0], 187u);
  EXPECT_EQ(rows[1].free_blocks[10], 244u);
}

TEST(Pagetypeinfo, ParsesOrderTypesAndBlocks) {
  const auto info = parse_pagetypeinfo(
      "Page block order: 9\n"
      "Pages per block:  512\n"
      "\n"
      "Free pages count per migrate type at order       0      1      2\n"
      "Node    0, zone      DMA, type    Unmovable      0      0      1\n"
      "Node    0, zone      DMA, type      Movable      0      2 >100000\n"
      "Node    0, zone      DMA, type  Reclaimable      0      0      0\n"
      "Node    0, zone      DMA, type   HighAtomic      0      0      0\n"
      "Node    0, zone      DMA, type      Isolate      0      0      0\n"
      "Node    0, zone   Normal, type    Unmovable     41    260     10\n"
      "Node    0, zone   Normal, type      Movable      3      0      2\n"
      "\n"
      "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
      "Node 0, zone      DMA            1            7            0            0            0 \n"
      "Node 0, zone   Normal           44          631           29            0            0 \n");
  EXPECT_EQ(info.pageblock_order, 9u);
  EXPECT_EQ(info.migratetype_names,
            (std::vector<std::string>{"Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"}));
  ASSERT_EQ(info.zones.size(), 2u);
  ASSERT_EQ(info.zones[0].free_blocks.size(), 5u);
  EXPECT_EQ(info.zones[0].free_blocks[1], (std::vector<std::uint64_t>{0, 2, 100000}));
  EXPECT_EQ(info.zones[1].pageblocks, (std::vector<std::uint64_t>{44, 631, 29, 0, 0}));
}


TEST(Zoneinfo, KeepsWhatOnlySomeKernelsPrint) {
  const auto zones = parse_zoneinfo_detail(kZoneinfo);
  ASSERT_EQ(zones.size(), 3u);
  EXPECT_EQ(zones[1].promo_pages, 8369u);  // 9369 less the boost of 1000
  EXPECT_EQ(zones[1].pcp_batch, 63);
  EXPECT_EQ(zones[1].pcp_high_min, 3346);
  EXPECT_EQ(zones[1].pcp_high_max, 22528);
  EXPECT_EQ(zones[1].pagesets, 2u);
  // Movable prints no pagesets
  EXPECT_EQ(zones[2].pcp_batch, -1);
  EXPECT_EQ(zones[2].pagesets, 0u);
}

TEST(Zoneinfo, PopulatedZonesDropsEmptyOnes) {
  const auto zones = populated_zones(parse_zoneinfo(kZoneinfo));
  ASSERT_EQ(zones.size(), 2u);
  EXPECT_EQ(zones[1].name, "Normal");
}

TEST(Zoneinfo, IgnoresTextBeforeTheFirstZoneAndBrokenNumbers) {
  const auto zones = parse_zoneinfo("min 5\nNode x, zone Normal\n  min 12kB\n  low 7\n");
  ASSERT_EQ(zones.size(), 1u);
  EXPECT_EQ(zones[0].node, 0);
  EXPECT_EQ(zones[0].min_pages, 0u);
  EXPECT_EQ(zones[0].low_pages, 7u);
  EXPECT_TRUE(parse_zoneinfo("").empty());
}

TEST(CpuList, ReadsRangesAndSingleIds) {
  EXPECT_EQ(parse_cpu_list("0-3,5\n"), (std::vector<std::uint32_t>{0, 1, 2, 3, 5}));
  EXPECT_EQ(parse_cpu_list("7"), (std::vector<std::uint32_t>{7}));
  EXPECT_TRUE(parse_cpu_list("").empty());
  // malformed items are skipped, the rest kept; a range is capped below 65536
  EXPECT_EQ(parse_cpu_list("x,2-,4-3,9"), (std::vector<std::uint32_t>{9}));
  EXPECT_EQ(parse_cpu_list("65534-70000").size(), 2u);
}

TEST(CpuList, ThisMachineHasItsOnlineCpusAmongThePossibleOnes) {
  const std::uint32_t possible = possible_cpus();
  ASSERT_GE(possible, 1u);
  const auto online = online_cpus(possible);
  ASSERT_FALSE(online.empty());
  for (const auto c : online) EXPECT_LT(c, possible);
}

TEST(Files, AMissingFileIsAnErrorNamingIt) {
  EXPECT_FALSE(try_read_file("/nonexistent/zoneinfo").has_value());
  try {
    (void)read_file("/nonexistent/zoneinfo");
    FAIL() << "no error";
  } catch (const ReadError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/zoneinfo: No such file"), std::string::npos) << e.what();
  }
}

TEST(Files, TimedReadIsStampedWithinTheCall) {
  const std::uint64_t before = boottime_ns();
  const auto t = read_file_timed("/proc/self/stat");
  const std::uint64_t after = boottime_ns();
  EXPECT_FALSE(t.text.empty());
  EXPECT_GE(t.ts_ns, before);
  EXPECT_LE(t.ts_ns, after);
}

TEST(VmSysctls, ReadsTheRunningKernelsValues) {
  const auto sysctls = read_vm_sysctls();
  if (sysctls.empty()) GTEST_SKIP() << "no /proc/sys/vm";
  ASSERT_TRUE(sysctls.count("min_free_kbytes"));
  EXPECT_FALSE(sysctls.at("min_free_kbytes").empty());
  EXPECT_EQ(sysctls.count("drop_caches"), 0u);
  EXPECT_EQ(sysctls.count("stat_refresh"), 0u);
}

TEST(KernelParams, ReadsFreePageReportingsOrderWhereTheModuleIsBuiltIn) {
  testing::TempDir dir;
  const std::string sys_module = dir.file("module");
  EXPECT_TRUE(read_kernel_params(sys_module).empty());  // no page_reporting: nothing
  std::filesystem::create_directories(sys_module + "/page_reporting/parameters");
  std::ofstream(sys_module + "/page_reporting/parameters/page_reporting_order") << "9\n";
  const auto params = read_kernel_params(sys_module);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params.at("page_reporting.page_reporting_order"), "9");
}

TEST(SystemFacts, DescribesThisMachine) {
  const auto facts = collect_system_facts("/nonexistent");
  EXPECT_FALSE(facts.kernel_release.empty());
  EXPECT_GE(facts.nr_cpus, 1u);
  EXPECT_GT(facts.page_size, 0u);
  EXPECT_FALSE(facts.zones.empty());
  EXPECT_FALSE(facts.migratetype_names.empty());
  // no format file there: the built-in table, and a warning that says so
  EXPECT_EQ(facts.gfp_table_source, traces::GfpTableSource::BuiltIn);
  EXPECT_FALSE(facts.gfp_table.empty());
  EXPECT_FALSE(facts.warnings.empty());
}

TEST(Iomem, SystemRamRangesAsPfnsAtAnyDepthJoinedAndSorted) {
  const char* text =
      "00000000-00000fff : Reserved\n"
      "00001000-0009fbff : System RAM\n"
      "0009fc00-000fffff : Reserved\n"
      "  000f0000-000fffff : System ROM\n"
      "100000000-63fffffff : System RAM\n"
      "00100000-bfffffff : System RAM\n"
      "  01000000-02276987 : Kernel code\n"
      "c0000000-c7ffffff : System RAM\n"
      "4000000000-7fffffffff : CXL Window 0\n"
      "  4000000000-400fffffff : System RAM (kmem)\n"
      "garbage line\n"
      "zz-10 : System RAM\n";
  const auto r = parse_iomem_system_ram(text);
  // the page 0x9f holds RAM only up to 0x9fbff: it counts whole; 0xc0000000 touches the
  // range before it and joins it
  EXPECT_EQ(r, (std::vector<PfnRange>{{0x1, 0xa0}, {0x100, 0xc8000}, {0x100000, 0x640000}, {0x4000000, 0x4010000}}));
}

TEST(Iomem, ZeroedAddressesOfAnUnprivilegedReaderGiveNoRange) {
  EXPECT_TRUE(parse_iomem_system_ram("00000000-00000000 : System RAM\n00000000-00000000 : System RAM\n").empty());
}

}  // namespace
}  // namespace labyrinth::procfs
