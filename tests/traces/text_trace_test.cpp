#include <gtest/gtest.h>

#include <sstream>

#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "test_util.hpp"

namespace labyrinth::traces {
namespace {

using testing::TempDir;

constexpr const char* kSmall = R"(!labyrinth-text 1
# a hand-written case
!kernel 6.18.44
!cpus 2
!sysctl min_free_kbytes=1024
!zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4000 min=128 low=160 high=192 protection=0,0,0
!start_free 0x1000+512 0x1400+1024
!stack 1 alloc_pages;skb_page_frag_refill;tcp_sendmsg
1000 alloc pfn=0x1200 order=0 mt=1 gfp=GFP_KERNEL cpu=0 pid=42 comm=bash ctx=task
1500 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC|__GFP_NOWARN cpu=1 pid=7 comm=ksoftirqd/1 ctx=softirq stack=1
1700 alloc pfn=failed order=0 mt=Unmovable gfp=0x820 cpu=1 pid=7 comm=my\x20prog ctx=softirq
2000 free pfn=0x1200 order=0 cpu=1 pid=42 ctx=task
2100 extfrag pfn=0x1300 order=0 mt=0 fb_order=9 fb_mt=1 owner=1 cpu=1
2200 pcp_refill pfn=0x1400 order=0 mt=1 refill=1
!end_free 0x1000+1024
!losses ringbuf_drops=3 recursion_misses=1
!stop_reason signal
)";

TEST(TextTrace, ConvertsHandWrittenCase) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  std::istringstream in(kSmall);
  const auto result = convert_text_to_trace(in, "small.txt", path);
  EXPECT_EQ(result.events, 6u);
  TraceReader reader(path);
  EXPECT_EQ(reader.header().kernel_release, "6.18.44");
  ASSERT_EQ(reader.header().zones.size(), 1u);
  EXPECT_EQ(reader.header().zones[0].start_pfn, 0x1000u);
  EXPECT_EQ(reader.header().zones[0].lowmem_reserve_pages, (std::vector<std::uint64_t>{0, 0, 0}));
  EXPECT_EQ(reader.start_snapshot().free_runs.size(), 2u);
  const auto events = testing::read_all(reader);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].gfp, 0xcc0u);
  EXPECT_EQ(events[0].migratetype, 1);
  EXPECT_EQ(reader.comm(events[0].comm_id), "bash");
  EXPECT_TRUE(events[1].failed());
  EXPECT_EQ(events[1].gfp, 0x2820u);
  EXPECT_EQ(events[1].ctx, ExecContext::Softirq);
  ASSERT_NE(reader.stack(events[1].stack_id), nullptr);
  EXPECT_EQ(reader.stack(1)->frames[1], "skb_page_frag_refill");
  EXPECT_EQ(reader.comm(events[2].comm_id), "my prog");
  EXPECT_EQ(events[2].migratetype, 0);
  EXPECT_EQ(events[3].kind, EventKind::Free);
  EXPECT_EQ(events[3].tid, 42u);
  EXPECT_EQ(events[4].fallback_order, 9);
  EXPECT_TRUE(events[4].change_ownership);
  EXPECT_TRUE(events[5].percpu_refill);
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(reader.footer().losses.ringbuf_drops, 3u);
  EXPECT_EQ(reader.footer().stop_reason, "signal");
  EXPECT_EQ(reader.end_snapshot().free_runs.size(), 1u);
}

TEST(TextTrace, BinaryToTextToBinaryIsLossless) {
  TempDir dir;
  const std::string first = dir.file("first.trace");
  const auto events = testing::random_events(30'000, 99, 4);
  {
    TraceHeader header = testing::test_header();
    // What a recorder went without, reason and all (spaces and parentheses survive).
    header.missing_events = {"__isolate_free_page (the kernel refuses fentry programs (Operation not permitted))",
                             "kmem:mm_page_pcpu_drain"};
    TraceWriter writer(first, header);
    writer.intern_comm("a b");
    writer.intern_comm("kworker/0:1-events");
    writer.intern_comm("x=y;z");
    for (std::uint32_t s = 1; s <= 5; ++s) writer.define_stack(s, {"frame " + std::to_string(s), "caller;x"});
    for (const auto& e : events) writer.append(e);
    TraceFooter footer;
    footer.losses.lost_events = 9;
    writer.finish({}, footer);
  }
  std::stringstream text;
  TraceReader reader1(first);
  EXPECT_EQ(write_text_trace(reader1, text), events.size());
  const std::string second = dir.file("second.trace");
  convert_text_to_trace(text, "roundtrip.txt", second);
  TraceReader reader2(second);
  EXPECT_EQ(reader2.header().zones, reader1.header().zones);
  EXPECT_EQ(reader2.header().gfp_table, reader1.header().gfp_table);
  EXPECT_EQ(reader2.header().vm_sysctls, reader1.header().vm_sysctls);
  EXPECT_EQ(reader2.header().missing_events, reader1.header().missing_events);
  const auto back = testing::read_all(reader2);
  ASSERT_EQ(back.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    PageEvent expected = events[i];
    PageEvent got = back[i];
    // comm ids are re-interned; compare names instead
    EXPECT_EQ(reader1.comm(expected.comm_id), reader2.comm(got.comm_id));
    expected.comm_id = got.comm_id = 0;
    // A pageblock move's old type is its fb_mt=; only a fallback has a fallback order.
    if (expected.kind != EventKind::Extfrag) expected.fallback_order = 0;
    if (expected.kind != EventKind::Extfrag && expected.kind != EventKind::PageblockMove) {
      expected.fallback_migratetype = -1;
    }
    ASSERT_EQ(got, expected) << "event " << i;
  }
  EXPECT_EQ(reader2.footer().losses.lost_events, 9u);
  ASSERT_NE(reader2.stack(3), nullptr);
  EXPECT_EQ(reader2.stack(3)->frames, (std::vector<std::string>{"frame 3", "caller;x"}));
}

// The kernel's counters in the start and end snapshots (format 1.3) survive the binary file and
// the text twin.
TEST(TextTrace, SnapshotVmstatCountersSurviveTheFileAndTheTextTwin) {
  TempDir dir;
  const std::string first = dir.file("first.trace");
  Snapshot start, end;
  start.present = end.present = true;
  start.ts_ns = 1000;
  end.ts_ns = 9000;
  start.vmstat_ts_ns = 1010;
  end.vmstat_ts_ns = 9010;
  for (std::uint64_t i = 0; i < 11; ++i) start.vmstat["counter_" + std::to_string(i)] = 100 + i;
  start.vmstat["pgfree"] = 5;
  end.vmstat = start.vmstat;
  end.vmstat["pgfree"] = 18446744073709551615ull;  // the whole u64 range
  {
    TraceWriter writer(first, testing::test_header());
    writer.write_start_snapshot(start);
    writer.finish(end, {});
  }
  TraceReader reader1(first);
  EXPECT_EQ(reader1.start_snapshot().vmstat, start.vmstat);
  EXPECT_EQ(reader1.start_snapshot().vmstat_ts_ns, 1010u);
  EXPECT_EQ(reader1.end_snapshot().vmstat, end.vmstat);
  EXPECT_EQ(reader1.end_snapshot().vmstat_ts_ns, 9010u);
  std::stringstream text;
  write_text_trace(reader1, text);
  EXPECT_NE(text.str().find("!start_vmstat ts=1010 counter_0=100 "), std::string::npos) << text.str();
  const std::string second = dir.file("second.trace");
  convert_text_to_trace(text, "roundtrip.txt", second);
  TraceReader reader2(second);
  EXPECT_EQ(reader2.start_snapshot().vmstat, start.vmstat);
  EXPECT_EQ(reader2.start_snapshot().vmstat_ts_ns, 1010u);
  EXPECT_EQ(reader2.end_snapshot().vmstat, end.vmstat);
  EXPECT_EQ(reader2.end_snapshot().vmstat_ts_ns, 9010u);
}

// A keyframe's zone sizes and recomputed lowmem_reserve (they change as memory is initialised
// lazily) survive the binary file and the text twin.
TEST(TextTrace, KeyframeZoneSizesAndProtectionSurviveTheFileAndTheTextTwin) {
  TempDir dir;
  const std::string first = dir.file("first.trace");
  Snapshot keyframe;
  keyframe.present = true;
  keyframe.ts_ns = 5000;
  ZoneSnapshot z;
  z.zone = "DMA32";
  z.buddyinfo = {2, 4, 2, 2, 1, 2, 0, 3, 3, 1, 21};
  z.free_pages = 23282;
  z.min_pages = 2116;
  z.low_pages = 2888;
  z.high_pages = 3660;
  z.managed_pages = 772850;
  z.lowmem_reserve_pages = {0, 0, 21071, 21071, 21071};
  keyframe.zones.push_back(z);
  {
    TraceWriter writer(first, testing::test_header());
    writer.write_keyframe(keyframe);
    writer.finish({}, {});
  }
  TraceReader reader1(first);
  ASSERT_EQ(reader1.keyframes().size(), 1u);
  EXPECT_EQ(reader1.keyframes()[0].zones, keyframe.zones);
  std::stringstream text;
  write_text_trace(reader1, text);
  EXPECT_NE(text.str().find(" managed=772850 protection=0,0,21071,21071,21071 "), std::string::npos) << text.str();
  const std::string second = dir.file("second.trace");
  convert_text_to_trace(text, "roundtrip.txt", second);
  TraceReader reader2(second);
  ASSERT_EQ(reader2.keyframes().size(), 1u);
  EXPECT_EQ(reader2.keyframes()[0].zones, keyframe.zones);
}

TEST(TextTrace, BadLineNamesInputAndLineAndLeavesNoOutput) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1000 alloc pfn=0x1 order=0 gfp=GFP_NONSENSE\n", "unknown GFP flags"},
      {"1000 alloc order=0\n", "without pfn"},
      {"1000 explode pfn=0x1\n", "unknown event kind"},
      {"abc alloc pfn=0x1\n", "bad timestamp"},
      {"1000 alloc pfn=0x1 order=11\n", "above max_order"},
      {"1000 free pfn=failed order=0\n", "only an alloc can fail"},
      {"!zone name=Normal start_pfn=zz\n", "bad number"},
      {"!bogus 1\n", "unknown directive"},
      {"1000 alloc pfn=0x1\n!kernel 6.1\n", "before the first event"},
      {"!start_free 0x10+4 0x8+4\n", "sorted and disjoint"},
  };
  for (const auto& [text, message] : cases) {
    std::istringstream in("# header\n" + text);
    try {
      convert_text_to_trace(in, "case.txt", path);
      FAIL() << "accepted: " << text;
    } catch (const TraceError& e) {
      EXPECT_NE(std::string(e.what()).find("case.txt:"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << text;
  }
}

TEST(TextTrace, DoesNotRemoveAnExistingFileItRefusedToOverwrite) {
  TempDir dir;
  const std::string path = dir.file("keep.trace");
  { std::ofstream(path) << "precious"; }
  std::istringstream in("1000 alloc pfn=0x1 order=0\n");
  EXPECT_THROW(convert_text_to_trace(in, "x.txt", path), TraceError);
  std::ifstream check(path);
  std::string content;
  check >> content;
  EXPECT_EQ(content, "precious");
}

}  // namespace
}  // namespace labyrinth::traces

namespace labyrinth::traces {
namespace {

TEST(TextTrace, AnAllocationsTaskStateIsWrittenAndReadBack) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  std::istringstream in(R"(!labyrinth-text 1
!cpus 1
1000 alloc pfn=0x10 order=0 mt=1 gfp=GFP_KERNEL cpu=0 pid=1 ctx=task task=rt,oom
1001 alloc pfn=0x11 order=0 mt=1 gfp=GFP_ATOMIC cpu=0 pid=1 ctx=softirq task=memalloc
1002 alloc pfn=0x12 order=0 mt=1 gfp=GFP_KERNEL cpu=0 pid=1 ctx=task
)");
  convert_text_to_trace(in, "t.txt", path);
  TraceReader reader(path);
  const auto events = testing::read_all(reader);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].task_state, kTaskRealtime | kTaskOomVictim);
  EXPECT_EQ(events[1].task_state, kTaskMemalloc);
  EXPECT_EQ(events[2].task_state, 0);
  EXPECT_NE(format_event_line(events[0], &reader, reader.header().gfp_table).find(" task=rt,oom"), std::string::npos);
  EXPECT_EQ(format_event_line(events[2], &reader, reader.header().gfp_table).find("task="), std::string::npos);
}

// A failure's zone counters are written right before it and read back beside the events.
TEST(TextTrace, AFailuresZoneCountersAreWrittenBeforeItAndReadBack) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  std::istringstream in(R"(!labyrinth-text 1
!cpus 2
!node_zones DMA,DMA32,Normal,Movable,Device
1000 alloc pfn=0x10 order=0 mt=1 gfp=GFP_KERNEL cpu=0 pid=1 ctx=task
2000 zone_counters node=0 zone=2 free=14500 highatomic_free=96 highatomic_reserved=1024 boost=0 lists=0x7770 cpu=1
2000 zone_counters node=0 zone=1 free=900 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 diffs=-37 cpu=1
2000 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC cpu=1 pid=1 ctx=softirq
3000 free pfn=0x10 order=0 cpu=0 pid=1 ctx=task
)");
  convert_text_to_trace(in, "t.txt", path);
  TraceReader reader(path);
  EXPECT_EQ(node_zone_name(reader.header(), 2), "Normal");
  const auto events = testing::read_all(reader);
  ASSERT_EQ(events.size(), 3u);  // the counters are not an event
  std::ostringstream text;
  TraceReader again(path);
  write_text_trace(again, text);
  const std::string out = text.str();
  const auto counters = out.find("2000 zone_counters node=0 zone=2 free=14500 highatomic_free=96 "
                                 "highatomic_reserved=1024 boost=0 lists=0x7770 cpu=1\n");
  ASSERT_NE(counters, std::string::npos) << out;
  EXPECT_LT(counters, out.find("2000 alloc pfn=failed"));
  // The per-CPU diffs, where read (format 1.9), come back; none where not.
  EXPECT_NE(out.find("2000 zone_counters node=0 zone=1 free=900 highatomic_free=0 highatomic_reserved=0 boost=0 "
                     "lists=0x1 diffs=-37 cpu=1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("!node_zones DMA,DMA32,Normal,Movable,Device\n"), std::string::npos);
  std::istringstream bad(R"(!labyrinth-text 1
1 zone_counters node=0 zone=16 free=1 cpu=0
)");
  EXPECT_THROW(convert_text_to_trace(bad, "bad.txt", dir.file("bad.trace")), TraceError);
  std::istringstream bad_diffs(R"(!labyrinth-text 1
1 zone_counters node=0 zone=1 free=1 diffs=-x cpu=0
)");
  EXPECT_THROW(convert_text_to_trace(bad_diffs, "bad.txt", dir.file("bad2.trace")), TraceError);
}

TEST(TextTrace, ATaskStateOnAnythingButAnAllocationOrAnUnknownNameIsRefused) {
  TempDir dir;
  for (const char* line : {"1000 free pfn=0x10 order=0 cpu=0 pid=1 ctx=task task=rt\n",
                           "1000 alloc pfn=0x10 order=0 mt=1 gfp=GFP_KERNEL cpu=0 pid=1 ctx=task task=root\n"}) {
    std::istringstream in(std::string("!labyrinth-text 1\n!cpus 1\n") + line);
    EXPECT_THROW(convert_text_to_trace(in, "t.txt", dir.file("bad.trace")), TraceError) << line;
  }
}

TEST(TextTrace, DirectReclaimEventsHaveNoPageAndSurviveTheTwin) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  std::istringstream in(R"(!labyrinth-text 1
!cpus 1
!option events=kmem:mm_page_alloc,vmscan:mm_vmscan_direct_reclaim_begin,vmscan:mm_vmscan_direct_reclaim_end
1000 reclaim_begin order=3 gfp=GFP_KERNEL|__GFP_COMP cpu=0 pid=5 tid=6 ctx=task
2000 reclaim_end reclaimed=17 cpu=0 pid=5 tid=6 ctx=task
)");
  convert_text_to_trace(in, "t.txt", path);
  TraceReader reader(path);
  EXPECT_EQ(reader.header().events, (std::vector<std::string>{"kmem:mm_page_alloc", "vmscan:mm_vmscan_direct_reclaim_begin",
                                                             "vmscan:mm_vmscan_direct_reclaim_end"}));
  const auto events = testing::read_all(reader);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, EventKind::ReclaimBegin);
  EXPECT_EQ(events[0].order, 3);
  EXPECT_EQ(events[0].gfp, reader.header().gfp_table.parse("GFP_KERNEL|__GFP_COMP").value());
  EXPECT_EQ(events[0].tid, 6u);
  EXPECT_EQ(events[1].kind, EventKind::ReclaimEnd);
  EXPECT_EQ(events[1].reclaimed_pages, 17u);
  const GfpTable& gfp = reader.header().gfp_table;
  EXPECT_EQ(format_event_line(events[0], &reader, gfp), "1000 reclaim_begin order=3 gfp=GFP_KERNEL|__GFP_COMP cpu=0 pid=5 tid=6 ctx=task");
  EXPECT_EQ(format_event_line(events[1], &reader, gfp), "2000 reclaim_end reclaimed=17 cpu=0 pid=5 tid=6 ctx=task");
  // A reclaim names no page.
  std::istringstream bad("!labyrinth-text 1\n!cpus 1\n1000 reclaim_end pfn=0x10 reclaimed=1 cpu=0 pid=1 ctx=task\n");
  EXPECT_THROW(convert_text_to_trace(bad, "t.txt", dir.file("bad.trace")), TraceError);
}

TEST(TextTrace, KswapdPassesNameTheirNodeAndNoPage) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  std::istringstream in(R"(!labyrinth-text 1
!cpus 1
!option events=kmem:mm_page_alloc,vmscan:mm_vmscan_kswapd_wake,vmscan:mm_vmscan_kswapd_sleep
1000 kswapd_wake node=1 order=2 cpu=0 pid=30 ctx=task
2000 kswapd_sleep node=1 cpu=0 pid=30 ctx=task
)");
  convert_text_to_trace(in, "t.txt", path);
  TraceReader reader(path);
  const auto events = testing::read_all(reader);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, EventKind::KswapdWake);
  EXPECT_EQ(events[0].gfp, 1u);
  EXPECT_EQ(events[0].order, 2);
  EXPECT_EQ(events[0].pfn, 0u);
  EXPECT_EQ(events[1].kind, EventKind::KswapdSleep);
  EXPECT_EQ(events[1].gfp, 1u);
  const GfpTable& gfp = reader.header().gfp_table;
  EXPECT_EQ(format_event_line(events[0], &reader, gfp), "1000 kswapd_wake node=1 order=2 cpu=0 pid=30 ctx=task");
  EXPECT_EQ(format_event_line(events[1], &reader, gfp), "2000 kswapd_sleep node=1 cpu=0 pid=30 ctx=task");
  // A kswapd pass names no page, and node= belongs to it alone.
  std::istringstream paged("!labyrinth-text 1\n!cpus 1\n1000 kswapd_sleep pfn=0x10 node=0 cpu=0 pid=1 ctx=task\n");
  EXPECT_THROW(convert_text_to_trace(paged, "t.txt", dir.file("bad.trace")), TraceError);
  std::istringstream noded("!labyrinth-text 1\n!cpus 1\n1000 free pfn=0x10 order=0 node=0 cpu=0 pid=1 ctx=task\n");
  EXPECT_THROW(convert_text_to_trace(noded, "t.txt", dir.file("bad2.trace")), TraceError);
}

}  // namespace
}  // namespace labyrinth::traces
