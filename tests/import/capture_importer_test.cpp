// import_capture end to end on small hand-made captures: header rewriting when CPUs or orders
// show up late, sorting of trace_pipe disorder, process names, losses in the footer, cancel.
#include <gtest/gtest.h>

#include "import_test_util.hpp"
#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth {
namespace {

using import_testing::read_events;
using import_testing::TempDir;
using traces::import::CaptureFormat;
using traces::import::ImportOptions;
using traces::import::ImportReport;
using traces::import::InputSource;

ImportReport import_text(const std::string& text, CaptureFormat format, const std::string& out,
                         ImportOptions options = {}) {
  auto input = InputSource::from_memory(text, "capture.txt");
  options.format = format;
  return traces::import::import_capture(*input, out, options);
}

std::string perf_line(const std::string& comm, int tid, int cpu, const std::string& ts, const std::string& event) {
  return comm + " " + std::to_string(tid) + " [" + std::to_string(cpu) + "] " + ts + ": kmem:" + event + "\n";
}

TEST(CaptureImporter, LateCpusAndHighOrdersRewriteTheHeader) {
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text += perf_line("a", 1, 0, "1." + std::to_string(100000 + i), "mm_page_free: page=0x1 pfn=0x1 order=0");
  }
  text += perf_line("b", 2, 5, "3.000000", "mm_page_alloc: page=0x2 pfn=0x2 order=12 migratetype=1 gfp_flags=GFP_KERNEL");
  TempDir dir;
  const auto report = import_text(text, CaptureFormat::PerfScript, dir.file("t.trace"));
  EXPECT_TRUE(report.header_rewritten);
  EXPECT_EQ(report.nr_cpus, 6U);
  EXPECT_EQ(report.max_order, 12U);
  traces::TraceReader reader(dir.file("t.trace"));
  EXPECT_EQ(reader.header().nr_cpus, 6U);
  EXPECT_EQ(reader.header().max_order, 12U);
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 51U);
  EXPECT_EQ(events.back().cpu, 5);
  EXPECT_EQ(reader.comm(events.front().comm_id), "a");
  EXPECT_EQ(reader.comm(events.back().comm_id), "b");
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"t.trace"}) << "no temporary file left";

  // A CPU first seen after the header was written (the writer opens once the sorter releases
  // its first event, here at 2.0 s) is fixed by the rewrite alone.
  std::string late = text.substr(0, text.rfind("b 2"));
  late += perf_line("a", 1, 0, "2.000000", "mm_page_free: page=0x1 pfn=0x1 order=0");
  late += perf_line("a", 1, 0, "2.500000", "mm_page_free: page=0x1 pfn=0x1 order=0");
  late += perf_line("c", 3, 3, "3.000000", "mm_page_free: page=0x1 pfn=0x1 order=0");
  const auto second = import_text(late, CaptureFormat::PerfScript, dir.file("u.trace"));
  EXPECT_TRUE(second.header_rewritten);
  EXPECT_EQ(second.max_order, 10U);
  traces::TraceReader late_reader(dir.file("u.trace"));
  EXPECT_EQ(late_reader.header().nr_cpus, 4U);
  EXPECT_EQ(read_events(late_reader).size(), 53U);
}

TEST(CaptureImporter, DeclaredCpusNeedNoRewrite) {
  const std::string text = "cpus=4\n  w-1 [000] 1.000001: mm_page_free: page=0x1 pfn=0x1 order=0\n";
  TempDir dir;
  const auto report = import_text(text, CaptureFormat::TraceCmd, dir.file("t.trace"));
  EXPECT_FALSE(report.header_rewritten);
  EXPECT_EQ(report.declared_cpus, 4);
  traces::TraceReader reader(dir.file("t.trace"));
  EXPECT_EQ(reader.header().nr_cpus, 4U);
}

TEST(CaptureImporter, TracePipeDisorderIsSortedAndCounted) {
  const std::string text =
      "  a-1 [000] ..... 10.000100: mm_page_free: page=0000000011111111 pfn=0x1 order=0\n"
      "  b-2 [001] ..s1. 10.000300: mm_page_free: page=0000000011111111 pfn=0x3 order=0\n"
      "  a-1 [000] ..... 10.000200: mm_page_free: page=0000000011111111 pfn=0x2 order=0\n"   // late, within window
      "  a-1 [000] ..... 11.000000: mm_page_free: page=0000000011111111 pfn=0x4 order=0\n"
      "  b-2 [001] d.h1. 10.000050: mm_page_free: page=0000000011111111 pfn=0x5 order=0\n";  // beyond 100 ms
  TempDir dir;
  const auto report = import_text(text, CaptureFormat::Ftrace, dir.file("t.trace"));
  EXPECT_EQ(report.reordered, 1U);
  EXPECT_EQ(report.late, 1U);
  traces::TraceReader reader(dir.file("t.trace"));
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 5U);
  std::vector<std::uint64_t> pfns;
  for (const auto& e : events) pfns.push_back(e.pfn);
  EXPECT_EQ(pfns, (std::vector<std::uint64_t>{1, 2, 3, 5, 4}));
  EXPECT_EQ(events[2].ctx, traces::ExecContext::Softirq);
  EXPECT_EQ(events[3].ctx, traces::ExecContext::Hardirq);
  EXPECT_EQ(reader.footer().first_ts_ns, 10000050000ULL);
  EXPECT_EQ(reader.footer().last_ts_ns, 11000000000ULL);
}

TEST(CaptureImporter, ProcessNamesPidsAndUnknownComms) {
  const std::string text =
      "  bash-10 (    9) [000] ..... 1.000001: mm_page_free: pfn=0x1 order=0\n"
      "  <...>-10 (    9) [000] ..... 1.000002: mm_page_free: pfn=0x2 order=0\n"
      "  make-10 (    9) [000] ..... 1.000003: mm_page_free: pfn=0x3 order=0\n"   // exec: same tid, new name
      "  bash-11 (-------) [001] ..... 1.000004: mm_page_free: pfn=0x4 order=0\n";
  TempDir dir;
  import_text(text, CaptureFormat::Ftrace, dir.file("t.trace"));
  traces::TraceReader reader(dir.file("t.trace"));
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 4U);
  EXPECT_EQ(reader.comm(events[0].comm_id), "bash");
  EXPECT_EQ(events[0].pid, 9U);
  EXPECT_EQ(events[0].tid, 10U);
  EXPECT_EQ(events[1].comm_id, traces::kUnknownComm);
  EXPECT_EQ(reader.comm(events[2].comm_id), "make");
  EXPECT_EQ(events[3].comm_id, events[0].comm_id) << "one id per name";
  EXPECT_EQ(events[3].pid, 11U) << "no tgid printed: the thread id stands in";
}

// A capture with vmscan's direct reclaim events keeps them (no page: pfn 0) and names in its
// header what it held, so that stat pairs begins and ends by thread.
TEST(CaptureImporter, DirectReclaimEventsAreKeptAndNamedInTheHeader) {
  const std::string text =
      "  cc1-20 (   20) [000] ..... 1.000001: mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_KERNEL\n"
      "  cc1-20 (   20) [000] ..... 1.000002: mm_page_free: pfn=0x1 order=0\n"
      "  cc1-20 (   20) [000] ..... 1.000500: mm_vmscan_direct_reclaim_end: nr_reclaimed=32\n"
      "  cc1-20 (   20) [000] ..... 1.000501: mm_page_alloc: page=0000000012345678 pfn=0x1 order=0 migratetype=0 "
      "gfp_flags=GFP_KERNEL\n";
  TempDir dir;
  const ImportReport report = import_text(text, CaptureFormat::Ftrace, dir.file("t.trace"));
  EXPECT_TRUE(report.header_rewritten);
  traces::TraceReader reader(dir.file("t.trace"));
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 4U);
  EXPECT_EQ(events[0].kind, traces::EventKind::ReclaimBegin);
  EXPECT_EQ(events[0].tid, 20U);
  EXPECT_EQ(events[2].kind, traces::EventKind::ReclaimEnd);
  EXPECT_EQ(events[2].reclaimed_pages, 32U);
  EXPECT_EQ(reader.header().events,
            (std::vector<std::string>{"kmem:mm_page_alloc", "kmem:mm_page_free", "vmscan:mm_vmscan_direct_reclaim_begin",
                                      "vmscan:mm_vmscan_direct_reclaim_end"}));
  // kswapd's passes too: mirror follows them only when the header names them.
  const ImportReport kswapd = import_text(
      "  kswapd0-88 (   88) [001] ..... 1.000001: mm_vmscan_kswapd_wake: nid=0 order=3\n"
      "  cc1-20 (   20) [000] ..... 1.000002: mm_page_free: pfn=0x1 order=0\n"
      "  kswapd0-88 (   88) [001] ..... 1.000900: mm_vmscan_kswapd_sleep: nid=0\n",
      CaptureFormat::Ftrace, dir.file("k.trace"));
  EXPECT_TRUE(kswapd.header_rewritten);
  traces::TraceReader kreader(dir.file("k.trace"));
  const auto kevents = read_events(kreader);
  ASSERT_EQ(kevents.size(), 3U);
  EXPECT_EQ(kevents[0].kind, traces::EventKind::KswapdWake);
  EXPECT_EQ(kevents[0].order, 3U);
  EXPECT_EQ(kevents[2].kind, traces::EventKind::KswapdSleep);
  EXPECT_EQ(kreader.header().events,
            (std::vector<std::string>{"kmem:mm_page_free", "vmscan:mm_vmscan_kswapd_wake", "vmscan:mm_vmscan_kswapd_sleep"}));
  // Without them, nothing is rewritten and the header names nothing, as before.
  const ImportReport plain = import_text("  cc1-20 (   20) [000] ..... 1.000002: mm_page_free: pfn=0x1 order=0\n",
                                         CaptureFormat::Ftrace, dir.file("p.trace"));
  EXPECT_FALSE(plain.header_rewritten);
}

TEST(CaptureImporter, LossesReachTheFooter) {
  const std::string text =
      "# tracer: nop\n"
      "# entries-in-buffer/entries-written: 2/30   #P:2\n"
      "##### CPU 1 buffer started ####\n"
      "  a-1 [001] ..... 1.000001: mm_page_free: pfn=0x1 order=0\n"
      "CPU:1 [LOST 5 EVENTS]\n"
      "CPU:0 [LOST EVENTS]\n"
      "  a-1 [001] ..... 1.000002: sched_waking: comm=x\n"
      "this is not a line of ftrace\n"
      "  a-1 [001] ..... 1.000003: mm_page_free: pfn=0x2 order=0\n";
  TempDir dir;
  const auto report = import_text(text, CaptureFormat::Ftrace, dir.file("t.trace"));
  EXPECT_EQ(report.overwritten_events, 28U);
  EXPECT_EQ(report.lost_markers, 2U);
  EXPECT_EQ(report.lost_markers_without_count, 1U);
  ASSERT_EQ(report.first_bad_lines.size(), 1U);
  EXPECT_EQ(report.first_bad_lines[0].line, 8U);
  EXPECT_EQ(report.first_bad_lines[0].text, "this is not a line of ftrace");
  traces::TraceReader reader(dir.file("t.trace"));
  read_events(reader);
  EXPECT_EQ(reader.footer().losses.lost_events, 28U + 5U + 1U);
  EXPECT_EQ(reader.footer().losses.lines_skipped, 1U);
  EXPECT_EQ(reader.footer().losses.lines_other_events, 1U);
  EXPECT_EQ(reader.header().nr_cpus, 2U);
}

TEST(CaptureImporter, NoEventsNothingWritten) {
  TempDir dir;
  try {
    import_text("# tracer: nop\n#\n", CaptureFormat::Ftrace, dir.file("t.trace"));
    FAIL();
  } catch (const traces::TraceError& e) {
    EXPECT_EQ(e.kind(), traces::TraceError::Kind::BadInput);
    EXPECT_NE(std::string(e.what()).find("capture.txt: no kmem page events found in 2 lines"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CaptureImporter, CancelStopsAndRemovesTheOutput) {
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "  a-1 [000] ..... 1." + std::to_string(100000 + i) + ": mm_page_free: pfn=0x1 order=0\n";
  TempDir dir;
  std::atomic<bool> cancel{true};
  ImportOptions options;
  options.cancel = &cancel;
  EXPECT_THROW(import_text(text, CaptureFormat::Ftrace, dir.file("t.trace"), options), traces::TraceError);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace labyrinth
