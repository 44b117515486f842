// The line tokenizers on the line shapes of text-formats.md and their variants.
#include <gtest/gtest.h>

#include "labyrinth/traces/import/format_sniffer.hpp"
#include "labyrinth/traces/import/line_tokenizer.hpp"

namespace labyrinth {
namespace {

using traces::ExecContext;
using namespace traces::import;

TEST(Timestamp, ExactWithoutFloatingPoint) {
  EXPECT_EQ(parse_trace_timestamp("3370.358702"), 3370358702000ULL);
  EXPECT_EQ(parse_trace_timestamp("3370.358702123"), 3370358702123ULL);
  EXPECT_EQ(parse_trace_timestamp("0.000001"), 1000ULL);
  EXPECT_EQ(parse_trace_timestamp("9999999999.999999999"), 9999999999999999999ULL);
  EXPECT_EQ(parse_trace_timestamp("12.5"), 12500000000ULL);
  EXPECT_EQ(parse_trace_timestamp("123456789"), 123456789ULL);  // raw clocks (counter, x86-tsc)
  EXPECT_FALSE(parse_trace_timestamp("1.0123456789"));          // more than ns
  EXPECT_FALSE(parse_trace_timestamp("12345678901.0"));          // would overflow
  EXPECT_FALSE(parse_trace_timestamp("1.2.3"));
  EXPECT_FALSE(parse_trace_timestamp("1."));
  EXPECT_FALSE(parse_trace_timestamp(".5"));
  EXPECT_FALSE(parse_trace_timestamp("-1.5"));
  EXPECT_FALSE(parse_trace_timestamp(""));
}

TEST(Flags, ThirdCharacterIsTheContext) {
  EXPECT_EQ(context_from_flags("....."), ExecContext::Task);
  EXPECT_EQ(context_from_flags("..s1."), ExecContext::Softirq);
  EXPECT_EQ(context_from_flags("b.s2."), ExecContext::Softirq);
  EXPECT_EQ(context_from_flags("d.h1."), ExecContext::Hardirq);
  EXPECT_EQ(context_from_flags("dNH2."), ExecContext::Hardirq);  // hardirq inside softirq
  EXPECT_EQ(context_from_flags("d.z1."), ExecContext::Nmi);
  EXPECT_EQ(context_from_flags("d.Z1."), ExecContext::Nmi);
  EXPECT_EQ(context_from_flags("d..."), ExecContext::Task);      // 4-column kernels
  EXPECT_EQ(context_from_flags("d.?1."), ExecContext::Unknown);
  EXPECT_EQ(context_from_flags(".."), ExecContext::Unknown);
}

TEST(Ftrace, KernelTextLine) {
  const auto t = tokenize_ftrace_line(
      "           sleep-19256   [000] ..s1.  3410.564929: mm_page_alloc: page=00000000dc85b400 pfn=0x21c222 order=3 "
      "migratetype=0 gfp_flags=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "sleep");
  EXPECT_EQ(t.tid, 19256U);
  EXPECT_EQ(t.cpu, 0);
  EXPECT_EQ(t.ts_ns, 3410564929000ULL);
  EXPECT_EQ(t.ctx, ExecContext::Softirq);
  EXPECT_EQ(t.event, "mm_page_alloc");
  EXPECT_EQ(t.system, "");
  EXPECT_EQ(t.fields.substr(0, 22), "page=00000000dc85b400 ");
}

TEST(Ftrace, CommWithSpacesDashesBracketsAndColons) {
  const auto t = tokenize_ftrace_line(" my prog-2 [1]: x-77    [001] d.h1.   12.000001: mm_page_free: page=0 pfn=0x10 order=2");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "my prog-2 [1]: x");
  EXPECT_EQ(t.tid, 77U);
  EXPECT_EQ(t.cpu, 1);
  EXPECT_EQ(t.ctx, ExecContext::Hardirq);
  EXPECT_EQ(t.event, "mm_page_free");
}

TEST(Ftrace, TgidColumnUnknownCommAndMarkers) {
  const auto t = tokenize_ftrace_line("           <...>-1977    (   1970) [003] .N...   5.500000: mm_page_free: pfn=0x1 order=0");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "");
  EXPECT_EQ(t.tid, 1977U);
  EXPECT_EQ(t.tgid, 1970U);
  EXPECT_EQ(t.cpu, 3);
  const auto no_tgid = tokenize_ftrace_line("  kworker/0:1-12    (-------) [000] .....   5.5: mm_page_free: pfn=0x1 order=0");
  ASSERT_EQ(no_tgid.cls, LineClass::Event) << no_tgid.error;
  EXPECT_EQ(no_tgid.tgid, 0U);
  const auto marker = tokenize_ftrace_line(
      " run-workload.sh-5672  [001] .....   662.126447: tracing_mark_write: labyrinth-workload: phase [000] x");
  ASSERT_EQ(marker.cls, LineClass::Event);
  EXPECT_EQ(marker.event, "tracing_mark_write");
  EXPECT_EQ(marker.fields, "labyrinth-workload: phase [000] x");
  const auto function = tokenize_ftrace_line("   bash-1 [000] ..... 1.000000: do_sys_open <-__x64_sys_openat");
  ASSERT_EQ(function.cls, LineClass::Event);
  EXPECT_EQ(function.event, "do_sys_open");
}

TEST(Ftrace, HeadersLossesAndBadLines) {
  auto t = tokenize_ftrace_line("# entries-in-buffer/entries-written: 140080/140095   #P:2");
  EXPECT_EQ(t.cls, LineClass::Header);
  EXPECT_EQ(t.declared_cpus, 2);
  EXPECT_EQ(t.overwritten, 15U);
  EXPECT_EQ(tokenize_ftrace_line("##### CPU 1 buffer started ####").cls, LineClass::Header);
  EXPECT_EQ(tokenize_ftrace_line("   ").cls, LineClass::Blank);
  t = tokenize_ftrace_line("CPU:1 [LOST 172 EVENTS]");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_EQ(t.cpu, 1);
  EXPECT_EQ(t.lost, 172U);
  EXPECT_TRUE(t.lost_count_known);
  t = tokenize_ftrace_line("CPU:0 [LOST EVENTS]");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_FALSE(t.lost_count_known);
  t = tokenize_ftrace_line("sleep-1 [000] ..s1. 3410.56492x: mm_page_alloc: pfn=0x1");
  EXPECT_EQ(t.cls, LineClass::Bad);
  ASSERT_NE(t.error, nullptr);
  EXPECT_EQ(tokenize_ftrace_line("hello world").cls, LineClass::Bad);
  EXPECT_EQ(tokenize_ftrace_line("x [000] ..... 1.0: mm_page_free: pfn=0x1").cls, LineClass::Bad) << "no COMM-PID";
}

TEST(TraceCmd, DefaultLatencyAndNanosecondShapes) {
  auto t = tokenize_tracecmd_line(
      "       kworker/0:1-1234  [000]  3370.358702: mm_page_alloc:        page=0x1ecf9d pfn=0x1ecf9d order=0 "
      "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "kworker/0:1");
  EXPECT_EQ(t.tid, 1234U);
  EXPECT_EQ(t.ctx, ExecContext::Unknown);
  EXPECT_EQ(t.fields.substr(0, 14), "page=0x1ecf9d ");
  t = tokenize_tracecmd_line("    ping-5679    1..s2.   662.230032: mm_page_alloc:        page=0x127778 pfn=0x127778");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "ping");
  EXPECT_EQ(t.tid, 5679U);
  EXPECT_EQ(t.cpu, 1);
  EXPECT_EQ(t.ctx, ExecContext::Softirq);
  EXPECT_EQ(t.ts_ns, 662230032000ULL);
  t = tokenize_tracecmd_line("trace-cm-5668   12d.h1.   661.180536646: mm_page_free:  page=0x1 pfn=0x1 order=0");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "trace-cm");
  EXPECT_EQ(t.cpu, 12);
  EXPECT_EQ(t.ctx, ExecContext::Hardirq);
  EXPECT_EQ(t.ts_ns, 661180536646ULL);
  t = tokenize_tracecmd_line(" run-workload.sh-5672  [001]   662.126447: print:                tracing_mark_write: x");
  ASSERT_EQ(t.cls, LineClass::Event);
  EXPECT_EQ(t.event, "print");
}

TEST(TraceCmd, HeadersAndDrops) {
  auto t = tokenize_tracecmd_line("cpus=2");
  EXPECT_EQ(t.cls, LineClass::Header);
  EXPECT_EQ(t.declared_cpus, 2);
  EXPECT_EQ(tokenize_tracecmd_line("version = 6").cls, LineClass::Header);
  EXPECT_EQ(tokenize_tracecmd_line("CPU 1 is empty").cls, LineClass::Header);
  t = tokenize_tracecmd_line("CPU:1 [12 EVENTS DROPPED]");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_EQ(t.lost, 12U);
  t = tokenize_tracecmd_line("CPU:0 [EVENTS DROPPED]");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_FALSE(t.lost_count_known);
  EXPECT_EQ(tokenize_tracecmd_line("CPU:0 [SOMETHING ELSE]").cls, LineClass::Bad);
}

TEST(PerfScript, SampleLines) {
  auto t = tokenize_perf_script_line(
      "            sshd  4321 [001]  3392.789028:        kmem:mm_page_alloc: page=0x21be2f pfn=0x21be2f order=0 "
      "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "sshd");
  EXPECT_EQ(t.tid, 4321U);
  EXPECT_EQ(t.cpu, 1);
  EXPECT_EQ(t.ts_ns, 3392789028000ULL);
  EXPECT_EQ(t.system, "kmem");
  EXPECT_EQ(t.event, "mm_page_alloc");
  EXPECT_EQ(t.ctx, ExecContext::Unknown);
  t = tokenize_perf_script_line("  Web Content-x 77/78 [000] 3391.617125123: kmem:mm_page_free: page=0x1 pfn=0x1 order=0");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "Web Content-x");
  EXPECT_EQ(t.tgid, 77U);
  EXPECT_EQ(t.tid, 78U);
  EXPECT_EQ(t.ts_ns, 3391617125123ULL);
  t = tokenize_perf_script_line("   bash 1234 55.000001: kmem:mm_page_free: page=0x1 pfn=0x1 order=0");  // no cpu column
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "bash");
  EXPECT_EQ(t.cpu, -1);
  t = tokenize_perf_script_line("     :4321  4321 [000]  5.000001: kmem:mm_page_free: page=0x1 pfn=0x1 order=0");
  ASSERT_EQ(t.cls, LineClass::Event) << t.error;
  EXPECT_EQ(t.comm, "");
  t = tokenize_perf_script_line("  perf 10 [000] 1.000000:     250000 cycles:  ffffffff8100 do_idle+0x1 ([kernel.kallsyms])");
  ASSERT_EQ(t.cls, LineClass::Event);
  EXPECT_EQ(t.event, "cycles");
}

TEST(PerfScript, LostRecordsAndHeaders) {
  auto t = tokenize_perf_script_line("         mmtouch  5951 [000]   704.603003: PERF_RECORD_LOST lost 21");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_EQ(t.lost, 21U);
  t = tokenize_perf_script_line("PERF_RECORD_LOST_SAMPLES lost 4");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_EQ(t.lost, 4U);
  t = tokenize_perf_script_line("Processed 76297 events and lost 27 chunks!");
  EXPECT_EQ(t.cls, LineClass::Lost);
  EXPECT_EQ(t.lost, 27U);
  EXPECT_FALSE(t.lost_count_known);
  t = tokenize_perf_script_line("# nrcpus avail : 8");
  EXPECT_EQ(t.cls, LineClass::Header);
  EXPECT_EQ(t.declared_cpus, 8);
  t = tokenize_perf_script_line("    perf 1 [000] 1.0: PERF_RECORD_COMM: perf:1/1");
  EXPECT_EQ(t.cls, LineClass::Event);
  EXPECT_EQ(t.event, "PERF_RECORD_COMM");
  EXPECT_EQ(tokenize_perf_script_line("perf: no samples").cls, LineClass::Bad);
}

// A trace header holds at most 65536 CPUs (found by fuzz_import_ftrace): a capture declaring
// more is a bad line, not a header, or the import would write a trace no reader opens.
TEST(Headers, CpuCountsAboveTheTraceLimitAreBadLines) {
  EXPECT_EQ(tokenize_ftrace_line("# entries-in-buffer/entries-written: 1/1   #P:65536").declared_cpus, 65536);
  auto t = tokenize_ftrace_line("# entries-in-buffer/entries-written: 1/1   #P:221356");
  EXPECT_EQ(t.cls, LineClass::Bad);
  EXPECT_EQ(t.declared_cpus, -1);
  ASSERT_NE(t.error, nullptr);
  EXPECT_STREQ(t.error, "declared CPU count above 65536");
  EXPECT_EQ(tokenize_tracecmd_line("cpus=65537").cls, LineClass::Bad);
  EXPECT_EQ(tokenize_tracecmd_line("cpus=4").declared_cpus, 4);
  EXPECT_EQ(tokenize_perf_script_line("# nrcpus avail : 2147483647").cls, LineClass::Bad);
}

TEST(Formats, NamesAndSniffing) {
  EXPECT_EQ(parse_capture_format("ftrace"), CaptureFormat::Ftrace);
  EXPECT_EQ(parse_capture_format("trace-cmd"), CaptureFormat::TraceCmd);
  EXPECT_EQ(parse_capture_format("perf-script"), CaptureFormat::PerfScript);
  EXPECT_EQ(parse_capture_format("text"), CaptureFormat::Text);
  EXPECT_EQ(parse_capture_format("auto"), CaptureFormat::Auto);
  EXPECT_FALSE(parse_capture_format("perf.data"));
  EXPECT_EQ(sniff_capture_format("# tracer: nop\n#\n"), CaptureFormat::Ftrace);
  EXPECT_EQ(sniff_capture_format("cpus=2\n  a-1 [000] 1.0: mm_page_free: pfn=0x1 order=0\n"), CaptureFormat::TraceCmd);
  EXPECT_EQ(sniff_capture_format("  a-1 [000] d..1. 1.0: mm_page_free: pfn=0x1 order=0\n"), CaptureFormat::Ftrace);
  EXPECT_EQ(sniff_capture_format("  a 1 [000] 1.0: kmem:mm_page_free: pfn=0x1 order=0\n"), CaptureFormat::PerfScript);
  EXPECT_EQ(sniff_capture_format("    ping-5679    1..s2.   662.230032: mm_page_free: pfn=0x1\n"), CaptureFormat::TraceCmd);
  EXPECT_EQ(sniff_capture_format("!labyrinth-text 1\n100 alloc pfn=0x1 order=0\n"), CaptureFormat::Text);
  EXPECT_EQ(sniff_capture_format("100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL\n"), CaptureFormat::Text);
  EXPECT_FALSE(sniff_capture_format("hello\nworld\n"));
  EXPECT_EQ(binary_file_kind(std::string_view("PERFILE2\0\0\0\0", 12)), BinaryFileKind::PerfData);
  EXPECT_EQ(binary_file_kind(std::string_view("\x17\x08" "Dtracing6", 11)), BinaryFileKind::TraceCmdDat);
  EXPECT_EQ(binary_file_kind("LABYRNTH"), BinaryFileKind::LabyrinthTrace);
  EXPECT_EQ(binary_file_kind(std::string_view("a\0b", 3)), BinaryFileKind::OtherBinary);
  EXPECT_EQ(binary_file_kind("plain text"), BinaryFileKind::Text);
  EXPECT_EQ(to_string(BinaryFileKind::PerfData), "a perf.data file");
  EXPECT_EQ(to_string(BinaryFileKind::OtherBinary), "a binary file");
}

}  // namespace
}  // namespace labyrinth
