// The HTML report's renderer: escaping of trace-controlled text, a page that stays under
// 3 MiB for an hour-long trace and for the worst case of every bounded part, and memory maps
// of a 1 TiB machine that stay readable and small.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <regex>
#include <sstream>

#include "../replay/replay_test_util.hpp"
#include "labyrinth/html/report.hpp"
#include "labyrinth/replay/page_stats.hpp"
#include "labyrinth/replay/pageblock_map.hpp"
#include "markup.hpp"
#include "report_test_util.hpp"

namespace labyrinth::html {
namespace {

using testing::occurrences;
using testing::offline_violation;

std::string first_svg(const std::string& page, const std::string& chart_class) {
  const auto at = page.find("<svg class=\"chart " + chart_class);
  return at == std::string::npos ? std::string() : page.substr(at, page.find("</svg>", at) - at);
}
constexpr std::size_t kMaxPage = 3u << 20;

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;");
  EXPECT_EQ(escape("plain text 123"), "plain text 123");
}

TEST(HtmlEscape, ReplacesControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(escape(std::string("a\x01" "b\x7f" "c", 5)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  EXPECT_EQ(escape(std::string("\xff\xfe", 2)), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(escape("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // overlong '/'
  EXPECT_EQ(escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(escape("cut \xE2\x82"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");  // truncated sequence
}

TEST(HtmlNumbers, CoordinatesAndCounts) {
  EXPECT_EQ(px(12.0), "12");
  EXPECT_EQ(px(12.34), "12.3");
  EXPECT_EQ(px(-0.04), "0");
  EXPECT_EQ(px(std::numeric_limits<double>::infinity()), "0");
  EXPECT_EQ(count(950), "950");
  EXPECT_EQ(count(12345), "12.3k");
  EXPECT_EQ(count(4.56e6), "4.56M");
  EXPECT_EQ(pages_as_bytes(256, 4096), "1 MiB");
  EXPECT_EQ(pages_as_bytes(3, 4096), "12 KiB");
}

// An hour of a busy zone: an allocation and a free every 50 ms, a failing atomic request
// from a process with a hostile name every 10 s.
std::string hour_long_text() {
  std::ostringstream t;
  t << "!labyrinth-text 1\n!kernel 6.18.0-test\n!cpus 2\n!max_order 10\n!pageblock_order 9\n"
       "!sysctl min_free_kbytes=512\n"
       "!option events=kmem:mm_page_alloc,kmem:mm_page_free\n"
       "!zone node=0 name=Normal start_pfn=0x10000 spanned=8192 managed=8192 min=128 low=160 high=192 "
       "protection=0,0,0,0,0\n"
       "!start_ts 500\n!start_zone node=0 name=Normal buddyinfo=0,0,0,0,0,0,0,0,0,0,8 free=8192\n"
       "!start_free 0x10000+8192\n";
  const std::uint64_t step = 50'000'000;
  for (std::uint64_t i = 0; i < 3600ull * 20; ++i) {
    const std::uint64_t ts = 1000 + i * step;
    const unsigned pfn = 0x10000 + static_cast<unsigned>(i % 4096) * 2;
    if (i % 200 == 199) {
      t << ts << " alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC cpu=0 pid=7 comm=<script>alert(1)</script> ctx=softirq\n";
    }
    t << ts << " alloc pfn=0x" << std::hex << pfn << std::dec << " order=0 mt=1 gfp=GFP_KERNEL cpu=1 pid=42 comm=worker"
      << " ctx=task\n";
    if (i >= 1000) {
      const unsigned old = 0x10000 + static_cast<unsigned>((i - 1000) % 4096) * 2;
      t << ts + 1 << " free pfn=0x" << std::hex << old << std::dec << " order=0 cpu=1 pid=42 comm=worker ctx=task\n";
    }
  }
  return t.str();
}

struct Replayed {
  replay::ReplayResult replay;
  replay::StatResult stat;
};

Replayed replay_like_the_report(const std::string& path, std::uint64_t interval_ns,
                                replay::ReplayMode mode = replay::ReplayMode::Mirror) {
  traces::TraceReader reader(path);
  replay::ReplayOptions o;
  o.mode = mode;
  o.interval_ns = interval_ns;
  o.timeline_points = kReportTimelinePoints;
  o.pageblock_map_cells = kReportMapCells;
  replay::Replayer replayer(reader.header(), reader.start_snapshot(), reader.end_snapshot(), o);
  replayer.set_process_names([&reader](std::uint32_t id) { return reader.comm(id); });
  replay::PageStats stats(reader.header());
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) {
    replayer.add(chunk);
    stats.add(chunk);
  }
  Replayed r{replayer.finish(reader), {}};
  r.stat = stats.finish(reader, 12);
  return r;
}

TEST(HtmlReport, AnHourOfEventsGivesABoundedPageWithEveryChart) {
  replay::testing::TempDir dir;
  const std::string path = replay::testing::trace_from_text(dir, hour_long_text());
  const Replayed r = replay_like_the_report(path, 10'000'000);  // 360,000 intervals
  ASSERT_EQ(r.replay.timeline.size(), 1u);
  EXPECT_GT(r.replay.timeline_samples, 300000u);
  EXPECT_LE(r.replay.timeline[0].samples.size(), kReportTimelinePoints);
  ASSERT_EQ(r.replay.failures.total(), 360u);
  const std::string page = render_report(r.replay, r.stat);
  EXPECT_LT(page.size(), kMaxPage);
  EXPECT_EQ(offline_violation(page), "");
  // The hostile process name is shown, escaped, never as markup.
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  for (const char* chart : {"free-pages", "order-area", "unusable-heat", "mixed", "memory-map", "breakdown gfp",
                            "breakdown process", "breakdown order-migratetype", "breakdown context"}) {
    EXPECT_GE(occurrences(page, std::string("<svg class=\"chart ") + chart), 1u) << chart;
  }
  EXPECT_EQ(occurrences(page, "<svg class=\"chart memory-map"), 2u);  // start and end
  // Every failure is a marker with its forensics on hover (close ones share one), and listed.
  // Free memory far above the watermarks: a second view near them carries the forensics.
  const std::string chart = first_svg(page, "free-pages near-watermarks\"");
  const std::size_t markers = occurrences(chart, "class=\"failure real\"");
  EXPECT_GE(markers, 100u);
  EXPECT_LE(markers, ReportOptions{}.failure_markers);
  EXPECT_EQ(occurrences(chart, "order 3 GFP_ATOMIC in softirq"), markers);
  EXPECT_EQ(occurrences(chart, "failure, cause "), markers);
  EXPECT_NE(page.find("The first 60 failures"), std::string::npos);
  // Charts carry axes with units and a legend.
  const std::size_t charts = occurrences(page, "<svg class=\"chart ");
  EXPECT_EQ(occurrences(page, "<g class=\"legend\">"), charts);
  EXPECT_GE(occurrences(page, "<g class=\"axis x\">"), charts);
  EXPECT_NE(page.find("free pages (4 KiB each)"), std::string::npos);
  EXPECT_NE(page.find("time since the start of the trace (s)"), std::string::npos);
  EXPECT_EQ(occurrences(page, "class=\"highatomic\""), 0u);  // no reserve, no band
}

// Free pages that only a high-order __GFP_HIGH request may take are a band under the free
// pages: a GFP_ATOMIC order-3 request served below the low watermark reserves its pageblock
// (88 of its pages are free), and the GFP_NOWAIT order-3 failure after it is the reserve's.
TEST(HtmlReport, TheFreePagesChartShowsTheHighatomicReserve) {
  replay::testing::TempDir dir;
  std::string text =
      "!labyrinth-text 1\n!kernel 6.18.0-test\n!cpus 2\n!max_order 10\n!pageblock_order 9\n"
      "!option events=kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_alloc_zone_locked,kmem:mm_page_pcpu_drain\n"
      "!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 "
      "protection=0,0,0,0,0\n!start_ts 100\n!start_free 0x10000+96";
  for (int i = 0; i < 30; ++i) text += fmt::format(" 0x{:x}+2", 0x10200 + 4 * i);
  text += "\n1000 alloc pfn=0x10000 order=3 mt=0 gfp=GFP_ATOMIC|__GFP_COMP cpu=0 pid=0 ctx=softirq\n"
          "200000000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";
  const Replayed r = replay_like_the_report(replay::testing::trace_from_text(dir, text), 100'000'000);
  ASSERT_EQ(r.replay.timeline.size(), 1u);
  EXPECT_EQ(r.replay.timeline[0].samples.back().highatomic_free_pages, 88u);
  const std::string page = render_report(r.replay, r.stat);
  const std::string chart = first_svg(page, "free-pages\"");
  EXPECT_EQ(occurrences(chart, "<polygon class=\"highatomic\""), 1u);
  EXPECT_NE(chart.find("of which in the highatomic reserve"), std::string::npos);
  EXPECT_EQ(offline_violation(page), "");
}

// With the kernel's counters in both snapshots, the validation section sets them against the
// trace's pages: allocated and freed, and the difference.
TEST(HtmlReport, ValidationShowsTheKernelsCountsAgainstTheTraces) {
  replay::testing::TempDir dir;
  std::string text = replay::testing::read_text(replay::testing::case_path("fast_isolation_corrected.txt"));
  const std::string start_free = "!start_free 0x10400+16 0x10480+16\n";
  ASSERT_NE(text.find(start_free), std::string::npos);
  text.insert(text.find(start_free) + start_free.size(), "!start_vmstat ts=600 pgalloc_normal=1000 pgfree=2000\n");
  text += "!end_vmstat ts=2600 pgalloc_normal=1004 pgfree=2003\n";
  const Replayed r = replay_like_the_report(replay::testing::trace_from_text(dir, text), 100'000'000);
  ASSERT_TRUE(r.replay.validation.kernel_counters.available);
  const std::string page = render_report(r.replay, r.stat);
  EXPECT_NE(page.find("<tr><td>pages allocated</td><td>4</td><td>0</td><td>4</td></tr>"), std::string::npos);
  EXPECT_NE(page.find("<tr><td>pages freed</td><td>3</td><td>1</td><td>2</td></tr>"), std::string::npos);
  EXPECT_EQ(offline_violation(page), "");
}

// A simulate report sets the model's direct compaction beside the kernel's over the recording.
TEST(HtmlReport, SimulateShowsTheModelsCompactionBesideTheKernels) {
  replay::testing::TempDir dir;
  std::string text = replay::testing::read_text(replay::testing::case_path("fast_isolation_corrected.txt"));
  const std::string start_free = "!start_free 0x10400+16 0x10480+16\n";
  ASSERT_NE(text.find(start_free), std::string::npos);
  const std::string path = replay::testing::trace_from_text(dir, text, "old.trace");
  text.insert(text.find(start_free) + start_free.size(), "!start_vmstat ts=600 pgfree=2000 compact_stall=3 compact_success=1\n");
  text += "!end_vmstat ts=2600 pgfree=2003 compact_stall=5 compact_success=2\n";
  const std::string counted = replay::testing::trace_from_text(dir, text, "counted.trace");
  const std::string page =
      render_report(replay_like_the_report(counted, 100'000'000, replay::ReplayMode::Simulate).replay, {});
  EXPECT_NE(page.find("<tr><th>direct compaction</th><td>model 0 runs, 0 requests served after one; kernel 2 stalls, 1 "
                      "succeeded</td></tr>"),
            std::string::npos);
  const std::string old =
      render_report(replay_like_the_report(path, 100'000'000, replay::ReplayMode::Simulate).replay, {});
  EXPECT_NE(old.find("kernel not counted in this trace"), std::string::npos);
  EXPECT_EQ(offline_violation(page), "");
}

// The worst case of every bounded part at once: the most zones charted, full timelines with
// varying values, thousands of failures, memory maps where no two neighbouring cells look the
// same, and long names in every breakdown.
TEST(HtmlReport, WorstCaseOfEveryPartStaysUnderThreeMebibytes) {
  std::mt19937_64 rng(12);
  replay::ReplayResult r;
  r.mode = replay::ReplayMode::Simulate;
  r.header.page_size = 4096;
  r.header.migratetype_names = traces::default_migratetype_names();
  r.first_ts_ns = 1'000'000'000;
  r.orders = 11;
  const std::size_t zones = 12;
  for (std::size_t z = 0; z < zones; ++z) {
    allocator::ZoneConfig zc;
    zc.node = static_cast<int>(z / 2);
    zc.start_pfn = allocator::Pfn{z << 24};
    zc.spanned_pages = zc.managed_pages = 1u << 24;
    r.model_config.zones.push_back(zc);
    replay::TimelineZone tz{zc.node, "Normal", {}};
    for (std::size_t i = 0; i < kReportTimelinePoints; ++i) {
      replay::TimelineSample s;
      s.ts_ns = r.first_ts_ns + i * 5'000'000'000ull;
      s.span_ns = 5'000'000'000ull;
      s.free_pages = rng() % 1'000'000;
      s.mixed_pageblocks = rng() % 500;
      s.min_pages = 1000 + rng() % 50;
      s.low_pages = s.min_pages + 200;
      s.high_pages = s.low_pages + 200;
      s.boost_pages = rng() % 300;
      for (unsigned o = 0; o < 11; ++o) {
        s.nr_free[o] = rng() % 5000;
        s.unusable_index[o] = static_cast<int>(rng() % 1001);
      }
      tz.samples.push_back(s);
    }
    r.timeline.push_back(tz);
  }
  r.failures = replay::FailureLog(0);
  for (std::size_t i = 0; i < 20000; ++i) {
    replay::FailureRecord f;
    f.ts_ns = r.first_ts_ns + rng() % 3'600'000'000'000ull;
    f.state.zone = static_cast<std::uint16_t>(rng() % zones);
    f.state.free_pages = static_cast<std::int64_t>(rng() % 1'000'000);
    f.kernel_failed = (i % 2) == 0;
    f.cause = static_cast<replay::FailureCause>(rng() % replay::kFailureCauseCount);
    f.evidence = std::string(300, 'e');
    r.failures.add(f);
  }
  for (std::uint64_t k = 0; k < 4000; ++k) {
    replay::KeyframeCheck kc;
    kc.ts_ns = r.first_ts_ns + k * 900'000'000u;
    kc.free_relative_error = static_cast<double>(rng() % 1000) / 1e4;
    kc.worst_order_zone = std::string(200, 'z');
    r.keyframes.push_back(kc);
  }
  std::vector<replay::ZonePageblocks> blocks(1);
  blocks[0].spanned_pages = 1ull << 28;  // 1 TiB
  for (std::uint64_t b = 0; b < (1ull << 28) >> 9; ++b) {
    allocator::PageblockState s;
    s.start_pfn = b << 9;
    s.type = static_cast<allocator::MigrateType>(rng() % allocator::kMigrateTypes);
    s.free_pages = static_cast<std::uint32_t>(rng() % 513);
    blocks[0].blocks.push_back(s);
  }
  r.start_map = replay::aggregate_pageblocks(blocks, 9, r.first_ts_ns, kReportMapCells);
  r.end_map = r.start_map;
  replay::StatResult stat;
  for (auto* rows : {&stat.by_gfp, &stat.by_process, &stat.by_callsite, &stat.by_context, &stat.by_order_migratetype,
                     &stat.failures_by_gfp, &stat.failures_by_process}) {
    for (int i = 0; i < 400; ++i) {
      replay::Row row;
      row.key = std::string(300, 'k') + std::to_string(i);
      row.tally.pages = rng() % 100000;
      row.tally.failures = rng() % 100;
      rows->push_back(row);
    }
  }
  ReportOptions options;
  options.top = 40;  // what the command allows at most
  const std::string page = render_report(r, stat, options);
  EXPECT_LT(page.size(), kMaxPage) << page.size();
  std::printf("worst-case page: %zu bytes\n", page.size());
  EXPECT_EQ(occurrences(page, "<svg class=\"chart free-pages\""), options.max_zones);
  EXPECT_NE(page.find(std::to_string(zones - options.max_zones) + " smaller zones are not charted"), std::string::npos);
  EXPECT_EQ(offline_violation(page), "");
}

TEST(PageblockMap, OneTebibyteIsAggregatedIntoBoundedCellsAndKeepsAReservedBlockVisible) {
  std::vector<replay::ZonePageblocks> zones(2);
  zones[0] = {"node 0 DMA32", 0x1000, 0x100000 - 0x1000, {}};
  zones[1] = {"node 0 Normal", 0x100000, (1ull << 28) - 0x100000, {}};  // up to 1 TiB
  for (auto& z : zones) {
    for (std::uint64_t pfn = (z.start_pfn >> 9) << 9; pfn < z.start_pfn + z.spanned_pages; pfn += 512) {
      allocator::PageblockState s;
      s.start_pfn = pfn;
      s.type = allocator::MigrateType::Movable;
      s.free_pages = 512;
      z.blocks.push_back(s);
    }
  }
  // One fully used HighAtomic pageblock in the middle of free Movable memory.
  const std::uint64_t reserved_pfn = 0x8000000;
  auto& block = zones[1].blocks[(reserved_pfn - 0x100000) >> 9];
  ASSERT_EQ(block.start_pfn, reserved_pfn);
  block.type = allocator::MigrateType::HighAtomic;
  block.free_pages = 0;

  const replay::PageblockMap map = replay::aggregate_pageblocks(zones, 9, 0, kReportMapCells);
  EXPECT_LE(map.cells.size(), kReportMapCells);
  EXPECT_EQ(map.pageblocks_per_cell, 256u);  // 524288 pageblocks in 2048 cells
  std::uint64_t pageblocks = 0, highatomic_cells = 0;
  for (const auto& c : map.cells) {
    pageblocks += c.pageblocks;
    highatomic_cells += c.by_type[allocator::index_of(allocator::MigrateType::HighAtomic)] != 0 ? 1u : 0u;
  }
  EXPECT_EQ(pageblocks, ((1ull << 28) - 0x1000) >> 9);  // from the first zone's start
  EXPECT_EQ(highatomic_cells, 1u);
  EXPECT_EQ(map.cells.front().zone, 0);
  EXPECT_EQ(map.cells.back().zone, 1);

  replay::ReplayResult r;
  r.header.page_size = 4096;
  r.header.migratetype_names = traces::default_migratetype_names();
  r.start_map = map;
  const std::string page = render_report(r, replay::StatResult{});
  EXPECT_LT(page.size(), 512u << 10);
  // The reserved cell takes the HighAtomic colour (#cc79a7), lightened at most half-way
  // although the cell is nearly all free ...
  EXPECT_EQ(occurrences(page, "fill=\"#e1b0cb\"><title>"), 1u);
  // ... and uniform memory collapses into one rectangle per row (64 cells a row).
  EXPECT_LE(occurrences(page, "<rect x="), 2048u / 64 + 2 + 20);
  EXPECT_NE(page.find("one cell = 512 MiB, 256 pageblocks"), std::string::npos);
}

}  // namespace
}  // namespace labyrinth::html
