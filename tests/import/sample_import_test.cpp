// Every importer on the real captures of traces/samples/: the imported trace holds exactly the
// events an independent scan of the text finds, in order, with pfn, order, failure, context,
// timestamp and GFP flags; other events and loss markers are counted, nothing is skipped.
#include <gtest/gtest.h>

#include "labyrinth/traces/import/kmem_event_parser.hpp"

#include <algorithm>

#include "import_test_util.hpp"
#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth {
namespace {

using namespace import_testing;
using traces::EventKind;
using traces::ExecContext;
using traces::import::CaptureFormat;

struct Sample {
  const char* file;
  CaptureFormat format;
  int flags_style;  // see scan_capture
  bool has_failures;
  bool has_losses;
};

void PrintTo(const Sample& s, std::ostream* os) { *os << s.file; }

const Sample kSamples[] = {
    {"tracecmd-report.txt.zst", CaptureFormat::TraceCmd, 0, true, false},
    {"tracecmd-report-lt.txt.zst", CaptureFormat::TraceCmd, 2, true, false},
    {"perf-script.txt.zst", CaptureFormat::PerfScript, 0, true, false},
    {"perf-script-lost.txt.zst", CaptureFormat::PerfScript, 0, false, true},
    {"ftrace-trace.txt.zst", CaptureFormat::Ftrace, 1, true, false},
    {"ftrace-pipe-lost.txt.zst", CaptureFormat::Ftrace, 1, false, true},
};

std::string kind_name(EventKind kind) { return std::string(traces::tracepoint_name(kind)); }

char context_char(ExecContext ctx) {
  switch (ctx) {
    case ExecContext::Task: return '.';
    case ExecContext::Softirq: return 's';
    case ExecContext::Hardirq: return 'h';
    case ExecContext::Nmi: return 'z';
    case ExecContext::Unknown: return '?';
  }
  return '!';
}

char normalized_flag(char c) {
  if (c == 'H') return 'h';
  if (c == 'Z') return 'z';
  return c;
}

class SampleImport : public ::testing::TestWithParam<Sample> {};

TEST_P(SampleImport, MatchesAnIndependentScanOfTheText) {
  const Sample& sample = GetParam();
  const std::string text = read_capture(sample_path(sample.file));
  const Scan scan = scan_capture(text, sample.flags_style);
  ASSERT_GT(scan.events.size(), 1000U) << "the sample is a real capture";

  TempDir dir;
  const std::string out = dir.file("sample.trace");
  traces::import::ImportOptions options;
  options.format = sample.format;
  const auto table = traces::GfpTable::from_format_file(sample_path("mm_page_alloc.format"));
  ASSERT_TRUE(table) << table.why();
  options.gfp_table = *table;
  options.gfp_table_source = traces::GfpTableSource::FormatFile;
  auto input = traces::import::InputSource::open(sample_path(sample.file));
  const auto report = traces::import::import_capture(*input, out, options);

  EXPECT_EQ(report.losses.lines_skipped, 0U) << (report.first_bad_lines.empty() ? "" : report.first_bad_lines[0].reason + ": " + report.first_bad_lines[0].text);
  EXPECT_EQ(report.reordered, 0U);
  EXPECT_EQ(report.late, 0U);
  EXPECT_EQ(report.events_with_unknown_gfp, 0U);
  EXPECT_EQ(report.lines, lines_of(text).size());
  EXPECT_EQ(report.lines, report.events + report.header_lines + report.blank_lines + report.lost_markers +
                              report.losses.lines_other_events + report.losses.lines_skipped)
      << "every line is accounted for";

  traces::TraceReader reader(out);
  const auto& header = reader.header();
  EXPECT_EQ(header.source, "import:" + std::string(traces::import::to_string(sample.format)));
  EXPECT_EQ(header.clock, "trace-text");
  EXPECT_EQ(header.gfp_table_source, traces::GfpTableSource::FormatFile);
  EXPECT_EQ(header.gfp_table, *table);
  EXPECT_EQ(header.page_size, 4096U);
  EXPECT_EQ(header.max_order, 10U);
  EXPECT_EQ(header.pageblock_order, 9U);
  EXPECT_EQ(header.migratetype_names, traces::default_migratetype_names());
  const int declared = text.rfind("cpus=", 0) == 0 ? std::stoi(text.substr(5)) : -1;
  const std::size_t p = text.find("#P:");
  const int declared_ftrace = p != std::string::npos && p < 4096 ? std::stoi(text.substr(p + 3)) : -1;
  EXPECT_EQ(header.nr_cpus, static_cast<std::uint32_t>(std::max({declared, declared_ftrace, scan.max_cpu + 1})));

  const auto events = read_events(reader);
  ASSERT_TRUE(reader.complete()) << reader.damage().message;
  ASSERT_EQ(events.size(), scan.events.size());
  std::uint64_t failures = 0;
  std::array<std::uint64_t, traces::kEventKindCount> by_kind{};
  std::uint64_t atomic_softirq = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const traces::PageEvent& e = events[i];
    const ScannedEvent& s = scan.events[i];
    ASSERT_EQ(kind_name(e.kind), s.kind) << "event " << i;
    ASSERT_EQ(e.pfn, s.failed ? traces::kFailedPfn : s.pfn) << "event " << i;
    ASSERT_EQ(e.order, s.order) << "event " << i;
    ASSERT_EQ(e.ts_ns, ts_text_to_ns(s.ts)) << "event " << i << " " << s.ts;
    ASSERT_EQ(static_cast<int>(e.cpu), s.cpu) << "event " << i;
    if (sample.flags_style != 0) {
      ASSERT_EQ(context_char(e.ctx), normalized_flag(s.ctx)) << "event " << i;
    } else {
      ASSERT_EQ(e.ctx, ExecContext::Unknown);
    }
    if (e.kind == EventKind::Alloc) {
      ASSERT_EQ(header.gfp_table.format(e.gfp), s.gfp) << "event " << i << ": gfp " << std::hex << e.gfp;
      if ((e.gfp & 0x820) == 0x820 && e.ctx == ExecContext::Softirq) ++atomic_softirq;
    }
    failures += e.failed() ? 1U : 0U;
    ++by_kind[static_cast<std::size_t>(e.kind)];
  }
  const traces::TraceFooter& footer = reader.footer();
  EXPECT_EQ(footer.events, events.size());
  EXPECT_EQ(footer.events_by_kind, by_kind);
  EXPECT_EQ(footer.first_ts_ns, ts_text_to_ns(scan.events.front().ts));
  EXPECT_EQ(footer.last_ts_ns, ts_text_to_ns(scan.events.back().ts));
  EXPECT_EQ(footer.losses.lines_other_events, scan.other_event_lines);
  EXPECT_EQ(footer.losses.lost_events, scan.lost_events);
  EXPECT_EQ(footer.losses.lines_skipped, 0U);
  EXPECT_EQ(report.failures, failures);
  if (sample.has_failures) {
    EXPECT_GT(failures, 0U) << "the workload's refused allocations";
  }
  if (sample.has_losses) {
    EXPECT_GT(scan.lost_markers, 0U);
    EXPECT_GT(footer.losses.lost_events, 0U);
  }
  if (sample.flags_style != 0) {
    EXPECT_GT(atomic_softirq, 0U) << "loopback traffic gives GFP_ATOMIC allocations in softirq";
  }
}

TEST_P(SampleImport, AutoDetectsTheFormat) {
  const Sample& sample = GetParam();
  TempDir dir;
  auto input = traces::import::InputSource::open(sample_path(sample.file));
  traces::import::ImportOptions options;
  options.format = CaptureFormat::Auto;
  const auto report = traces::import::import_capture(*input, dir.file("auto.trace"), options);
  EXPECT_EQ(report.format, sample.format);
  EXPECT_EQ(report.losses.lines_skipped, 0U);
}

INSTANTIATE_TEST_SUITE_P(RealCaptures, SampleImport, ::testing::ValuesIn(kSamples),
                         [](const ::testing::TestParamInfo<Sample>& param) {
                           std::string name = param.param.file;
                           name = name.substr(0, name.find('.'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(SampleImport, ImportedSampleTracesAreCurrent) {
  // The converted .trace files next to the captures hold the same events as a fresh import.
  for (const Sample& sample : kSamples) {
    std::string name = sample.file;
    name = name.substr(0, name.find(".txt"));
    const std::string converted = sample_path(name + ".trace");
    if (!std::filesystem::exists(converted)) continue;
    TempDir dir;
    auto input = traces::import::InputSource::open(sample_path(sample.file));
    traces::import::ImportOptions options;
    options.format = sample.format;
    options.gfp_table = *traces::GfpTable::from_format_file(sample_path("mm_page_alloc.format"));
    options.gfp_table_source = traces::GfpTableSource::FormatFile;
    traces::import::import_capture(*input, dir.file("fresh.trace"), options);
    traces::TraceReader fresh(dir.file("fresh.trace"));
    traces::TraceReader bundled(converted);
    const auto a = read_events(fresh);
    const auto b = read_events(bundled);
    EXPECT_TRUE(bundled.complete()) << converted;
    EXPECT_EQ(a.size(), b.size()) << converted;
    EXPECT_TRUE(a == b) << converted;
    EXPECT_EQ(fresh.footer().losses, bundled.footer().losses) << converted;
  }
}

}  // namespace
}  // namespace labyrinth
