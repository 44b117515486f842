// Hostile values that a trace can carry in well-formed blocks (issue 6): pfns outside every
// zone, orders above max_order, CPUs the header does not have, timestamps far apart, zones
// too large to model. stat and replay count them in the data-quality table (text and JSON)
// or refuse with a clear error, quickly, never with a crash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "labyrinth/traces/trace_writer.hpp"
#include "replay_test_util.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using testing::run_labyrinth;
using traces::EventKind;
using traces::PageEvent;

traces::TraceHeader small_header() {
  traces::TraceHeader h;
  h.kernel_release = "6.18.0-test";
  h.nr_cpus = 2;
  h.gfp_table = traces::GfpTable::builtin_linux_6_10();
  h.migratetype_names = traces::default_migratetype_names();
  traces::ZoneInfo z;
  z.name = "Normal";
  z.start_pfn = 0x10000;
  z.spanned_pages = z.present_pages = z.managed_pages = 8192;
  z.min_pages = 128, z.low_pages = 160, z.high_pages = 192;
  h.zones = {z};
  return h;
}

PageEvent event(EventKind kind, std::uint64_t ts, std::uint64_t pfn, unsigned order, unsigned cpu = 0) {
  PageEvent e;
  e.kind = kind;
  e.ts_ns = ts;
  e.pfn = pfn;
  e.order = static_cast<std::uint8_t>(order);
  e.cpu = static_cast<std::uint16_t>(cpu);
  e.migratetype = 0;
  e.gfp = 0xcc0;  // GFP_KERNEL
  e.ctx = traces::ExecContext::Task;
  return e;
}

std::string write_trace(const std::string& path, const traces::TraceHeader& h, const std::vector<PageEvent>& events,
                        bool start_map = true) {
  traces::TraceWriter w(path, h);
  if (start_map) {
    traces::Snapshot s;
    s.present = true;
    s.free_runs = {{0x10000, 4096}};
    w.write_start_snapshot(s);
  }
  for (const auto& e : events) w.append(e);
  w.finish(traces::Snapshot{}, traces::TraceFooter{});
  return path;
}

std::uint64_t quality_value(const nlohmann::json& doc, const std::string& name) {
  for (const auto& row : doc["data_quality"])
    if (row["name"] == name) return row["value"].get<std::uint64_t>();
  ADD_FAILURE() << "no data-quality row " << name;
  return 0;
}

struct Timed {
  labyrinth::testing::CommandResult r;
  double seconds = 0;
};

Timed timed(const std::vector<std::string>& args) {
  const auto t0 = std::chrono::steady_clock::now();
  Timed t;
  t.r = run_labyrinth(args);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

class HostileValues : public ::testing::Test {
 protected:
  replay::testing::TempDir dir_;
};

// Each bad event is counted in the data-quality table of every mode, in the text and the
// JSON report, and the command still succeeds: a bad event is not a bad file.
TEST_F(HostileValues, BadEventsAreCountedInTheDataQualityTableOfStatAndReplay) {
  const std::string trace = write_trace(dir_.file("bad.trace"), small_header(),
                                        {
                                            event(EventKind::Alloc, 1000, 0x10000, 0),
                                            event(EventKind::Alloc, 1100, 0x900000, 0),           // outside
                                            event(EventKind::Free, 1200, 0xffffffffffull, 0),     // outside
                                            event(EventKind::Alloc, 1300, 0x10000 + 4096, 13),    // order > 10
                                            event(EventKind::Free, 1400, 0x10000 + 2048, 15),     // order > 10
                                            event(EventKind::Alloc, 1500, 0x10100, 0, 60000),     // no such cpu
                                            event(EventKind::Alloc, 1600, 0x10201, 3),            // misaligned
                                            event(EventKind::Free, 1700, 0x10000, 0),
                                        });
  for (const char* mode : {"mirror", "simulate"}) {
    SCOPED_TRACE(mode);
    const auto json = run_labyrinth({"replay", trace, "--mode", mode, "--json", "-"});
    ASSERT_EQ(json.exit_code, 0) << json.err;
    const auto doc = nlohmann::json::parse(json.out);
    if (std::string(mode) == "mirror") {
      EXPECT_EQ(quality_value(doc, "outside_zones"), 2u);
      EXPECT_GE(quality_value(doc, "invalid_events"), 4u);  // two orders, the cpu, the misaligned block
    } else {  // simulate drops the frees of pages it never handed out, whatever they are
      EXPECT_EQ(quality_value(doc, "outside_zones"), 1u);
      EXPECT_GE(quality_value(doc, "invalid_events"), 2u);  // the alloc of order 13, the cpu
      EXPECT_GE(quality_value(doc, "free_of_unmapped_page"), 1u);
    }
    const auto text = run_labyrinth({"replay", trace, "--mode", mode});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("outside_zones"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("invalid_events"), std::string::npos) << text.out;
  }
  const auto stat = run_labyrinth({"stat", trace, "--json", "-"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  const auto doc = nlohmann::json::parse(stat.out);
  EXPECT_EQ(doc["summary"]["allocations"], 5);
}

// Issue 14: the model's metadata costs what the trace touches, so a zone of 2^32 - 2 pages
// (16 TiB) with a short trace replays in both modes, and so do two small zones 2^45 pfns apart
// (simulate maps far pfns in a hash map). The same trace cut before its footer may touch every
// frame: the eager cost, 14 bytes a frame (56 GiB), is refused up front with the sizes, not by
// the allocator or the kernel's OOM killer. Zones beyond 16 TiB are refused by name.
TEST_F(HostileValues, ZonesTooLargeToModelAreRefusedWithTheirSize) {
  traces::TraceHeader huge = small_header();
  huge.zones.front().spanned_pages = huge.zones.front().present_pages = huge.zones.front().managed_pages =
      (1ull << 32) - 2;
  traces::TraceHeader apart = small_header();
  traces::ZoneInfo far = apart.zones.front();
  far.name = "Movable";
  far.start_pfn = 1ull << 45;
  apart.zones.push_back(far);
  traces::TraceHeader many = small_header();
  for (int i = 1; i < 1000; ++i) {
    traces::ZoneInfo z = huge.zones.front();
    z.node = i;
    z.start_pfn = static_cast<std::uint64_t>(i) << 33;
    many.zones.push_back(z);
  }
  const std::vector<PageEvent> events{event(EventKind::Alloc, 1000, 0x10000, 0), event(EventKind::Free, 2000, 0x10000, 0)};
  const std::string huge_trace = write_trace(dir_.file("huge.trace"), huge, events);
  const std::string apart_trace = write_trace(dir_.file("apart.trace"), apart, events);
  const std::string many_trace = write_trace(dir_.file("many.trace"), many, events);
  const std::string cut_trace = write_trace(dir_.file("cut.trace"), huge, events);
  std::filesystem::resize_file(cut_trace, std::filesystem::file_size(cut_trace) - 10);  // into the footer
  const double memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  for (const char* mode : {"mirror", "simulate"}) {
    SCOPED_TRACE(mode);
    for (const auto& trace : {huge_trace, apart_trace}) {
      const auto r = timed({"replay", trace, "--mode", mode, "-q", "--json", "-"});
      EXPECT_LT(r.seconds, 60.0);  // hang guard, not a speed target
      ASSERT_EQ(r.r.exit_code, 0) << trace << ": " << r.r.err;
      EXPECT_EQ(nlohmann::json::parse(r.r.out)["summary"]["allocations"], 1) << trace;
    }
    if (memory < 60.0 * (1ull << 30)) {  // 56 GiB of metadata would fit in more
      const auto cut = run_labyrinth({"replay", cut_trace, "--mode", mode, "-q"});
      EXPECT_EQ(cut.exit_code, 1) << cut.err;
      EXPECT_NE(cut.err.find(cut_trace + ": its zones span 4294967294 page frames"), std::string::npos) << cut.err;
      EXPECT_NE(cut.err.find("more than this machine has"), std::string::npos) << cut.err;
      EXPECT_EQ(cut.err.find("internal error"), std::string::npos) << cut.err;
    }
    const auto r = run_labyrinth({"replay", many_trace, "--mode", mode, "-q"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("TiB); the model takes machines up to 16 TiB"), std::string::npos) << r.err;
  }
  // stat does not model pages: it reads the trace in small memory
  for (const auto& trace : {huge_trace, apart_trace, many_trace}) {
    const auto s = timed({"stat", trace, "-q"});
    EXPECT_EQ(s.r.exit_code, 0) << s.r.err;
    EXPECT_LT(s.seconds, 60.0);  // hang guard, not a speed target
  }
}

// Issue 14: zones that overlap are not a machine. Refused before the model is built, naming
// both zones, in every mode; stat, which models no pages, still reads the trace.
TEST_F(HostileValues, OverlappingZonesAreRefusedNamingBoth) {
  traces::TraceHeader h = small_header();
  traces::ZoneInfo movable = h.zones.front();
  movable.name = "Movable";
  movable.start_pfn = 0x11000;  // inside Normal's 0x10000-0x12000
  h.zones.push_back(movable);
  const std::string trace = write_trace(dir_.file("overlap.trace"), h, {event(EventKind::Alloc, 1000, 0x10000, 0)});
  for (const char* mode : {"mirror", "simulate"}) {
    SCOPED_TRACE(mode);
    const auto r = run_labyrinth({"replay", trace, "--mode", mode, "-q"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("the trace declares zones that overlap: zone Normal of node 0 (pfns 0x10000-0x12000) and "
                         "zone Movable of node 0 (pfns 0x11000-0x13000)"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  EXPECT_EQ(run_labyrinth({"stat", trace, "-q"}).exit_code, 0);
}

// Timestamps 2^63 ns apart with a 1 ms timeline interval: the empty stretch must not be
// sampled interval by interval.
TEST_F(HostileValues, TimestampsFarApartDoNotStallTheTimeline) {
  const std::string trace = write_trace(dir_.file("ts.trace"), small_header(),
                                        {
                                            event(EventKind::Alloc, 1000, 0x10000, 0),
                                            event(EventKind::Free, 1ull << 62, 0x10000, 0),
                                            event(EventKind::Alloc, (1ull << 63) + 5, 0x10000, 0),
                                            event(EventKind::Alloc, 7, 0x10008, 0, 1),  // and far behind
                                        });
  for (const char* mode : {"mirror", "simulate"}) {
    SCOPED_TRACE(mode);
    const auto t = timed({"replay", trace, "--mode", mode, "--interval", "1ms", "--json", "-"});
    ASSERT_EQ(t.r.exit_code, 0) << t.r.err;
    EXPECT_LT(t.seconds, 60.0);  // hang guard (was minutes), not a speed target
    const auto doc = nlohmann::json::parse(t.r.out);
    EXPECT_EQ(quality_value(doc, "out_of_order_events") + quality_value(doc, "late_events"), 1u);
  }
  const auto s = timed({"stat", trace, "-q"});
  EXPECT_EQ(s.r.exit_code, 0) << s.r.err;
  EXPECT_LT(s.seconds, 60.0);  // hang guard, not a speed target
}

// Process names that are not UTF-8 (the kernel takes any bytes for a comm) in the JSON
// reports, and in the header of a trace imported from text.
TEST_F(HostileValues, ProcessNamesThatAreNotUtf8DoNotBreakTheJsonReports) {
  const std::string trace = dir_.file("comm.trace");
  {
    traces::TraceWriter w(trace, small_header());
    PageEvent e = event(EventKind::Alloc, 1000, 0x10000, 0);
    e.comm_id = w.intern_comm("bad\xff\xfe name");
    e.pid = 42;
    w.append(e);
    w.finish(traces::Snapshot{}, traces::TraceFooter{});
  }
  for (const std::vector<std::string>& args : {std::vector<std::string>{"stat", trace, "--json", "-"},
                                               std::vector<std::string>{"replay", trace, "--json", "-"}}) {
    const auto r = run_labyrinth(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_TRUE(nlohmann::json::accept(r.out)) << args[0];
    if (args[0] == "stat") {
      EXPECT_NE(r.out.find("bad\xef\xbf\xbd"), std::string::npos) << r.out;  // U+FFFD
    }
  }
  const std::string text = dir_.file("cmd.txt");
  std::ofstream(text) << "!command record \xff\xfe\n!zone node=0 name=Normal start_pfn=0x10000 spanned=8192 "
                         "managed=8192 min=128 low=160 high=192\n1000 alloc pfn=0x10000 order=0\n";
  const auto r = run_labyrinth({"import", "text", text, "-o", dir_.file("cmd.trace")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run_labyrinth({"stat", dir_.file("cmd.trace"), "-q"}).exit_code, 0);
}

// Events out of time order across CPUs (tests/replay/cases/cpus_out_of_order.txt): replay
// sorts them, so the pages that move between CPUs pair up; what is too late to sort is
// counted. Shown in the text and the JSON report of both modes.
TEST_F(HostileValues, EventsOutOfOrderAcrossCpusAreSortedAndCounted) {
  const std::string trace =
      replay::testing::trace_from_text(dir_, replay::testing::read_text(replay::testing::case_path("cpus_out_of_order.txt")));
  for (const char* mode : {"mirror", "simulate"}) {
    SCOPED_TRACE(mode);
    const auto json = run_labyrinth({"replay", trace, "--mode", mode, "--json", "-"});
    ASSERT_EQ(json.exit_code, 0) << json.err;
    const auto doc = nlohmann::json::parse(json.out);
    EXPECT_EQ(quality_value(doc, "out_of_order_events"), 5u);  // earlier than the latest before them
    EXPECT_EQ(quality_value(doc, "late_events"), 0u);
    EXPECT_EQ(quality_value(doc, "double_alloc"), 0u);
    EXPECT_EQ(quality_value(doc, "double_free"), 0u);
    EXPECT_EQ(quality_value(doc, "free_of_unknown_page"), 0u);
    EXPECT_EQ(quality_value(doc, "free_of_unmapped_page"), 0u);
    const auto text = run_labyrinth({"replay", trace, "--mode", mode});
    EXPECT_NE(text.out.find("out_of_order_events"), std::string::npos) << text.out;
    EXPECT_EQ(text.out.find("double_free"), std::string::npos) << text.out;
  }
  // In file order, without the sorter, the moved pages look like bad frees: stat says why.
  const auto stat = run_labyrinth({"stat", trace, "--json", "-"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_EQ(quality_value(nlohmann::json::parse(stat.out), "out_of_order_events"), 2u);  // than the one before
}

// The text twin refuses numbers that do not fit the header field they go to.
TEST_F(HostileValues, TextTwinRefusesOutOfRangeHeaderNumbers) {
  for (const char* line : {"!cpus 4294967297", "!max_order 4294967306", "!start_free 0xfffffffffffffff0+0x20"}) {
    const std::string text = dir_.file("h.txt");
    std::ofstream(text) << line << "\n1000 alloc pfn=0x10000 order=0\n";
    const auto r = run_labyrinth({"import", "text", text, "-f", "-o", dir_.file("h.trace")});
    EXPECT_EQ(r.exit_code, 1) << line << ": " << r.err;
    EXPECT_NE(r.err.find(text + ":1: "), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace labyrinth
