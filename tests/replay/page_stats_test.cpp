#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "labyrinth/replay/page_stats.hpp"
#include "labyrinth/replay/stat_report.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {
namespace {

class StatOnText : public ::testing::Test {
 protected:
  StatResult run(const std::string& text, bool in_time_order = false) {
    const auto dir = std::filesystem::temp_directory_path() / ("laby-stat-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "t.trace").string();
    std::filesystem::remove(path);
    std::istringstream in(text);
    traces::convert_text_to_trace(in, "case.txt", path);
    traces::TraceReader reader(path);
    PageStats stats(reader.header());
    stats.count_between(reader.start_snapshot(), reader.end_snapshot());
    std::span<const traces::PageEvent> chunk;
    while (reader.next(chunk)) stats.add(chunk, in_time_order);
    StatResult r = stats.finish(reader, 0);
    std::filesystem::remove_all(dir);
    return r;
  }
};

constexpr const char* kHeader = R"(!cpus 2
!zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4096 min=128 low=160 high=192
)";

// The kernel's counts (/proc/vmstat at the snapshots) against the trace's pages between the
// two reads of it; events before and after them are left out, spans in time order or not.
TEST_F(StatOnText, ComparesTheKernelsCountersWithTheTracesPagesBetweenTheirReads) {
  const std::string text = std::string(kHeader) + R"(!start_ts 100
!start_zone node=0 name=Normal buddyinfo=0 free=4096
!start_vmstat ts=150 pgalloc_normal=1000 pgalloc_dma32=5 pgfree=2000 compact_stall=2 compact_isolated=7
120 alloc pfn=0x1000 order=3 mt=1 gfp=GFP_KERNEL cpu=0 pid=10 comm=a ctx=task
200 alloc pfn=0x1010 order=2 mt=0 gfp=GFP_KERNEL cpu=0 pid=10 comm=a ctx=task
300 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC cpu=1 pid=0 comm=swapper/1 ctx=softirq
400 free pfn=0x1010 order=2 cpu=0 pid=10 comm=a ctx=task
950 free pfn=0x1000 order=3 cpu=0 pid=10 comm=a ctx=task
!end_ts 800
!end_zone node=0 name=Normal buddyinfo=0 free=4096
!end_vmstat ts=900 pgalloc_normal=1007 pgalloc_dma32=5 pgfree=2004 compact_stall=3 compact_isolated=7
)";
  for (const bool in_time_order : {false, true}) {
    const KernelCounterCheck c = run(text, in_time_order).kernel_counters;
    ASSERT_TRUE(c.available);
    EXPECT_EQ(c.ns, 750u);
    EXPECT_EQ(c.kernel_allocated_pages, 7u);
    EXPECT_EQ(c.trace_allocated_pages, 4u);  // the order-3 at 120 came before the first read
    EXPECT_EQ(c.kernel_freed_pages, 4u);
    EXPECT_EQ(c.trace_freed_pages, 4u);  // the order-3 free at 950 came after the second
    EXPECT_EQ(c.compact_stall, 1u);
    EXPECT_EQ(c.compact_isolated, 0u);
  }
  std::string text_out;
  {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = ::open_memstream(&buf, &len);
    print_stat_text(f, run(text));
    std::fclose(f);
    text_out.assign(buf, len);
    std::free(buf);
  }
  EXPECT_NE(text_out.find("pages allocated  kernel            7  trace            4  3 with no event"), std::string::npos)
      << text_out;
  EXPECT_NE(text_out.find("pages freed      kernel            4  trace            4  all traced"), std::string::npos)
      << text_out;
  EXPECT_TRUE(stat_to_json(run(std::string(kHeader) + "100 free pfn=0x1000 order=0 cpu=0 pid=1\n"))["kernel_counters"].is_null());
}

// Direct reclaim stalls, paired by thread: two threads of one process reclaim at once, one
// end has no begin (it began before the trace) and one begin no end (still running).
TEST_F(StatOnText, PairsDirectReclaimsByThreadAndSumsTheirStalls) {
  const std::string text = std::string(kHeader) +
                           "!option events=kmem:mm_page_alloc,vmscan:mm_vmscan_direct_reclaim_begin,"
                           "vmscan:mm_vmscan_direct_reclaim_end\n" + R"(!start_ts 100
!start_zone node=0 name=Normal buddyinfo=0 free=4096
!start_vmstat ts=150 pgfree=10 allocstall_normal=4 allocstall_movable=1 pgsteal_direct=100
1000 reclaim_end reclaimed=5 cpu=0 pid=10 tid=13 comm=java ctx=task
2000 reclaim_begin order=0 gfp=GFP_KERNEL cpu=0 pid=10 tid=11 comm=java ctx=task
2500 reclaim_begin order=0 gfp=GFP_KERNEL cpu=1 pid=10 tid=12 comm=java ctx=task
5000 reclaim_end reclaimed=0 cpu=0 pid=10 tid=11 comm=java ctx=task
1502500 reclaim_end reclaimed=40 cpu=1 pid=10 tid=12 comm=java ctx=task
1600000 reclaim_begin order=2 gfp=GFP_KERNEL cpu=0 pid=20 comm=cc1 ctx=task
1601000 reclaim_end reclaimed=8 cpu=0 pid=20 comm=cc1 ctx=task
1700000 reclaim_begin order=0 gfp=GFP_KERNEL cpu=0 pid=10 tid=14 comm=java ctx=task
!end_ts 1800000
!end_zone node=0 name=Normal buddyinfo=0 free=4096
!end_vmstat ts=1800000 pgfree=10 allocstall_normal=6 allocstall_movable=2 pgsteal_direct=140
)";
  const StatResult r = run(text);
  const DirectReclaimSummary& d = r.direct_reclaim;
  ASSERT_TRUE(d.recorded);
  EXPECT_EQ(d.total.stalls, 3u);
  EXPECT_EQ(d.total.reclaimed_pages, 48u);
  EXPECT_EQ(d.total.stall_ns, 3000u + 1500000u + 1000u);
  EXPECT_EQ(d.total.longest_ns, 1500000u);
  EXPECT_EQ(d.total.fruitless, 1u);
  EXPECT_EQ(d.begun_before, 1u);
  EXPECT_EQ(d.unfinished, 1u);
  EXPECT_EQ(d.histogram[1], 1u);   // 3 us: [2, 4)
  EXPECT_EQ(d.histogram[0], 1u);   // 1 us: [0, 2)
  EXPECT_EQ(d.histogram[10], 1u);  // 1500 us: [1024, 2048)
  ASSERT_EQ(d.by_process.size(), 2u);
  EXPECT_EQ(d.by_process[0].pid, 10u);  // most stall time first
  EXPECT_EQ(d.by_process[0].comm, "java");
  EXPECT_EQ(d.by_process[0].tally.stalls, 2u);
  EXPECT_EQ(d.by_process[1].comm, "cc1");
  // The kernel's passes and LRU pages over the same span, beside them.
  EXPECT_EQ(r.kernel_counters.allocstall, 3u);
  EXPECT_EQ(r.kernel_counters.pgsteal_direct, 40u);
  const auto json = stat_to_json(r);
  EXPECT_EQ(json["direct_reclaim"]["stalls"], 3);
  EXPECT_EQ(json["direct_reclaim"]["by_process"][0]["comm"], "java");
  EXPECT_EQ(json["kernel_counters"]["allocstall"], 3);

  // A trace that could not hold them says nothing of direct reclaim.
  EXPECT_TRUE(stat_to_json(run(std::string(kHeader) + "100 free pfn=0x1000 order=0 cpu=0 pid=1\n"))["direct_reclaim"].is_null());
}

TEST_F(StatOnText, CountsTotalsPagesAndMatchesAllocationsToFrees) {
  const StatResult r = run(std::string(kHeader) + R"(
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=10 comm=a ctx=task
200 alloc pfn=0x1010 order=2 mt=0 gfp=GFP_KERNEL cpu=0 pid=10 comm=a ctx=task
300 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP cpu=1 pid=0 comm=swapper/1 ctx=softirq
400 alloc pfn=failed order=0 mt=0 gfp=GFP_ATOMIC cpu=1 pid=0 comm=swapper/1 ctx=softirq
450 alloc pfn=failed order=4 mt=0 gfp=GFP_KERNEL cpu=1 pid=11 comm=b ctx=task
460 alloc pfn=failed order=1 mt=0 gfp=GFP_KERNEL cpu=1 pid=11 comm=b ctx=task
500 free pfn=0x1000 order=0 cpu=0 pid=10 comm=a ctx=task
600 free pfn=0x1010 order=1 cpu=0 pid=10 comm=a ctx=task
700 free pfn=0x1800 order=0 cpu=0 pid=10 comm=a ctx=task
800 free_batched pfn=0x1000 order=0 cpu=0 pid=10 ctx=task
900 pcp_refill pfn=0x1900 order=0 mt=1 refill=1
950 pcp_drain pfn=0x1900 order=0 mt=1
990 extfrag pfn=0x1a00 order=0 mt=0 fb_order=3 fb_mt=1 owner=0
995 extfrag pfn=0x1b00 order=0 mt=0 fb_order=9 fb_mt=1 owner=1
)");
  EXPECT_EQ(r.events, 14u);
  EXPECT_EQ(r.total.allocations, 2u);
  EXPECT_EQ(r.total.pages, 1u + 4u);
  EXPECT_EQ(r.total.failures, 4u);
  EXPECT_EQ(r.total.failed_pages, 8u + 1u + 16u + 2u);
  EXPECT_EQ(r.total.frees, 3u);
  EXPECT_EQ(r.total.freed_pages, 1u + 2u + 1u);
  EXPECT_EQ(r.alloc_freed, 2u);
  EXPECT_EQ(r.alloc_only, 0u);
  EXPECT_EQ(r.free_only, 1u);
  EXPECT_EQ(r.quality.get(DataQuality::free_order_mismatch), 1u);
  EXPECT_EQ(r.batched_frees, 1u);
  EXPECT_EQ(r.pcp_refills, 1u);
  EXPECT_EQ(r.pcp_drains, 1u);
  EXPECT_EQ(r.extfrag, 2u);
  EXPECT_EQ(r.extfrag_fragmenting, 1u);
  EXPECT_EQ(r.extfrag_ownership_changes, 1u);
  EXPECT_EQ(r.first_ts_ns, 100u);
  EXPECT_EQ(r.last_ts_ns, 995u);
  // Classes: NOWARN order-3 atomic is opportunistic; plain GFP_ATOMIC is atomic;
  // order-4 GFP_KERNEL is costly; order-1 GFP_KERNEL is a real failure.
  EXPECT_EQ(r.failures_by_class[static_cast<std::size_t>(FailureClass::Opportunistic)], 1u);
  EXPECT_EQ(r.failures_by_class[static_cast<std::size_t>(FailureClass::Atomic)], 1u);
  EXPECT_EQ(r.failures_by_class[static_cast<std::size_t>(FailureClass::Costly)], 1u);
  EXPECT_EQ(r.failures_by_class[static_cast<std::size_t>(FailureClass::Other)], 1u);
}

// Pageblock moves (fexit move_freepages_block): into the highatomic reserve (type 3 when the
// trace names no types, as the kernel numbers them) and out of it, apart from extfrag.
TEST_F(StatOnText, CountsThePageblockMovesIntoAndOutOfTheHighatomicReserve) {
  const StatResult r = run(std::string(kHeader) + R"(
100 pageblock_move pfn=0x1000 order=0 mt=3 fb_mt=1 cpu=0 pid=0 ctx=softirq
200 pageblock_move pfn=0x1200 order=0 mt=3 fb_mt=0 cpu=0 pid=0 ctx=softirq
300 pageblock_move pfn=0x1000 order=0 mt=1 fb_mt=3 cpu=1 pid=7 ctx=task
400 pageblock_move pfn=0x1400 order=0 mt=0 fb_mt=1 cpu=1 pid=7 ctx=task
)");
  EXPECT_EQ(r.pageblock_moves, 4u);
  EXPECT_EQ(r.highatomic_reserved, 2u);
  EXPECT_EQ(r.highatomic_given_back, 1u);
  EXPECT_EQ(r.extfrag, 0u);
  const auto j = stat_to_json(r);
  EXPECT_EQ(j["summary"]["highatomic_reserved"], 2);
  EXPECT_EQ(j["summary"]["highatomic_given_back"], 1);
}

TEST_F(StatOnText, BreaksDownByOrderMigratetypeGfpContextAndProcess) {
  const StatResult r = run(std::string(kHeader) + R"(
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE pid=10 comm=a ctx=task
110 alloc pfn=0x1001 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE pid=10 comm=a ctx=task
120 alloc pfn=0x1008 order=3 mt=2 gfp=GFP_KERNEL|__GFP_RECLAIMABLE pid=12 comm=c ctx=task
130 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC pid=0 comm=swapper/0 ctx=hardirq
)");
  ASSERT_EQ(r.by_order_migratetype.size(), 3u);
  const Row& movable = r.by_order_migratetype[0];
  EXPECT_EQ(movable.order, 0u);
  EXPECT_EQ(movable.migratetype, "Movable");
  EXPECT_EQ(movable.tally.allocations, 2u);
  EXPECT_EQ(r.by_order_migratetype[1].migratetype, "Unmovable");  // order 3, mt 0 (the failure)
  EXPECT_EQ(r.by_order_migratetype[1].tally.failures, 1u);
  EXPECT_EQ(r.by_order_migratetype[2].migratetype, "Reclaimable");
  EXPECT_EQ(r.by_order_migratetype[2].tally.pages, 8u);

  ASSERT_EQ(r.by_gfp.size(), 3u);
  EXPECT_EQ(r.by_gfp[0].key, "GFP_KERNEL|__GFP_RECLAIMABLE");  // sorted by pages
  EXPECT_EQ(r.by_gfp[0].bits, 0xcd0u);
  ASSERT_EQ(r.failures_by_gfp.size(), 1u);
  EXPECT_EQ(r.failures_by_gfp[0].key, "GFP_ATOMIC");

  ASSERT_EQ(r.failures_by_context.size(), 1u);
  EXPECT_EQ(r.failures_by_context[0].key, "hardirq");
  ASSERT_EQ(r.by_process.size(), 3u);
  EXPECT_EQ(r.by_process[0].key, "c");
  EXPECT_EQ(r.by_process[0].pid, 12u);
  ASSERT_EQ(r.failures_by_order.size(), 1u);
  EXPECT_EQ(r.failures_by_order[0].order, 3u);
  EXPECT_EQ(r.alloc_only, 3u);
}

TEST_F(StatOnText, ReportsCallSitesSkippingAllocatorFrames) {
  const StatResult r = run(std::string(kHeader) + R"(
!stack 1 __alloc_pages_noprof+0x120;alloc_pages_mpol+0x88;skb_page_frag_refill+0x4a;tcp_sendmsg_locked+0x300
!stack 2 __alloc_frozen_pages_noprof+0x1;folio_alloc_noprof+0x2;filemap_alloc_folio+0x10
100 alloc pfn=0x1000 order=3 mt=0 gfp=GFP_ATOMIC stack=1
110 alloc pfn=0x1008 order=3 mt=0 gfp=GFP_ATOMIC stack=1
120 alloc pfn=0x1010 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE stack=2
)");
  ASSERT_EQ(r.by_callsite.size(), 2u);
  EXPECT_EQ(r.by_callsite[0].key, "skb_page_frag_refill+0x4a");
  EXPECT_EQ(r.by_callsite[0].tally.allocations, 2u);
  EXPECT_EQ(r.by_callsite[1].key, "filemap_alloc_folio+0x10");
}

// Stacks as `labyrinth script` prints a `record -g` trace of a 6.18 kernel: the BPF program
// (unsymbolized, or named with its [bpf] module, the space escaped) and bpf_trace_run4 come
// first; neither is the call site.
TEST_F(StatOnText, CallSitesOfRecordedStacksSkipTheTracingMachinery) {
  const StatResult r = run(std::string(kHeader) + R"(
!stack 1 0xffffffffc00295e9;bpf_trace_run4+0x13d;__alloc_frozen_pages_noprof+0x2d1;alloc_pages_mpol+0x95;vma_alloc_folio_noprof+0x62;do_wp_page+0x5f1;__handle_mm_fault+0x9d5;handle_mm_fault+0x1a2
!stack 2 0xffffffffc00295e9;bpf_trace_run4+0x13d;__alloc_frozen_pages_noprof+0x2d1;alloc_pages_mpol+0x95;vma_alloc_folio_noprof+0x62;do_wp_page+0x5f1;wp_page_copy+0x10;handle_mm_fault+0x1a2
!stack 3 bpf_prog_6deef7357e7b4530_handle_mm_page_alloc+0x1a9\x20[bpf];bpf_trace_run4+0x13d;__alloc_frozen_pages_noprof+0x2d1;alloc_pages_mpol+0x95;alloc_slab_page+0x2f;allocate_slab+0x8b
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE stack=1
110 alloc pfn=0x1001 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE stack=2
120 alloc pfn=0x1002 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE stack=1
130 alloc pfn=0x1008 order=3 mt=0 gfp=GFP_KERNEL stack=3
140 alloc pfn=failed order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE stack=2
)");
  ASSERT_EQ(r.by_callsite.size(), 2u);
  EXPECT_EQ(r.by_callsite[0].key, "alloc_slab_page+0x2f");  // 8 pages
  EXPECT_EQ(r.by_callsite[1].key, "do_wp_page+0x5f1");     // both stacks, 3 pages
  EXPECT_EQ(r.by_callsite[1].tally.allocations, 3u);
  EXPECT_EQ(r.by_callsite[1].tally.failures, 1u);
}

TEST_F(StatOnText, CarriesLossesIntoDataQuality) {
  const StatResult r = run(std::string(kHeader) + R"(
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL
90 alloc pfn=0x1001 order=0 mt=1 gfp=GFP_KERNEL
!losses ringbuf_drops=5 recursion_misses=2 lost_events=1
)");
  EXPECT_EQ(r.quality.get(DataQuality::ringbuf_drops), 5u);
  EXPECT_EQ(r.quality.get(DataQuality::recursion_misses), 2u);
  EXPECT_EQ(r.quality.get(DataQuality::lost_events), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::out_of_order_events), 1u);
  EXPECT_TRUE(r.quality.lossy());
  EXPECT_TRUE(r.complete);
}

TEST_F(StatOnText, JsonReportHasSchemaAndNumbers) {
  const StatResult r = run(std::string(kHeader) + R"(
100 alloc pfn=0x1000 order=1 mt=1 gfp=GFP_KERNEL pid=3 comm=x ctx=task
200 alloc pfn=failed order=0 mt=0 gfp=GFP_ATOMIC ctx=softirq
)");
  const auto doc = stat_to_json(r);
  EXPECT_EQ(doc["schema_version"], 2);
  EXPECT_EQ(doc["config"]["callsite_depth"], 1);
  EXPECT_EQ(doc["tool"]["command"], "stat");
  EXPECT_EQ(doc["summary"]["allocations"], 1);
  EXPECT_EQ(doc["summary"]["allocated_bytes"], 8192);
  EXPECT_EQ(doc["summary"]["failures"], 1);
  EXPECT_EQ(doc["summary"]["failures_by_class"]["atomic"]["failures"], 1);
  EXPECT_EQ(doc["failures"]["by_context"][0]["context"], "softirq");
  EXPECT_EQ(doc["breakdowns"]["process"][0]["comm"], "x");
  EXPECT_TRUE(doc["capture"]["complete"].get<bool>());
  EXPECT_EQ(doc["capture"]["duration_ns"], 100);
  EXPECT_TRUE(doc["data_quality"].is_array());
}

}  // namespace
}  // namespace labyrinth::replay
