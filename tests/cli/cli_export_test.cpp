// --openmetrics (stat, replay) and --perfetto (replay) as a user runs them: the metrics read
// back by a real parser (python3-prometheus-client; promtool too when installed) and equal to
// the JSON report's numbers; the trace-event file checked against the format's rules (every
// event's fields, phases, counter tracks in time order, named processes and threads) and
// against the replay's own failures, timeline and extfrag events; both bounded in size.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../replay/replay_test_util.hpp"
#include "metrics_parser.hpp"
#include "trace_event_check.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using replay::testing::case_path;
using replay::testing::read_text;
using replay::testing::TempDir;
using testing::parse_metrics_file;
using testing::run_labyrinth;
using testing::samples_of;
using testing::events_named;
using testing::trace_event_format_errors;

const std::string kSamples = LABYRINTH_SOURCE_DIR "/traces/samples/";

nlohmann::json load(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

double value_of(const nlohmann::json& families, const std::string& sample, const nlohmann::json& match = nlohmann::json::object()) {
  const auto found = samples_of(families, sample, match);
  EXPECT_EQ(found.size(), 1u) << sample << match.dump();
  return found.empty() ? -1.0 : found[0]["value"].get<double>();
}

double sum_of(const nlohmann::json& families, const std::string& sample, const nlohmann::json& match = nlohmann::json::object()) {
  double sum = 0;
  for (const auto& s : samples_of(families, sample, match)) sum += s["value"].get<double>();
  return sum;
}

class CliExport : public ::testing::Test {
 protected:
  std::string trace(const std::string& case_name) {
    return replay::testing::trace_from_text(dir_, read_text(case_path(case_name)), case_name + ".trace");
  }
  std::string file(const std::string& name) const { return dir_.file(name); }
  TempDir dir_;
};

// stat on a bundled sample: both dialects parse, and every number is the JSON report's.
TEST_F(CliExport, StatMetricsParseAndEqualTheJsonReport) {
  const std::string json = file("s.json");
  for (const char* name : {"m.txt", "m.prom"}) {
    const std::string metrics = file(name);
    const auto r = run_labyrinth({"stat", kSamples + "perf-script.trace", "-q", "--json", json, "--openmetrics", metrics});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto parsed = parse_metrics_file(metrics);
    LABYRINTH_REQUIRE_PARSED(parsed);
    const auto doc = load(json);
    const auto& fams = parsed.families;
    const nlohmann::json stat{{"source", "stat"}};
    EXPECT_EQ(value_of(fams, "labyrinth_allocations_total", stat), doc["summary"]["allocations"].get<double>()) << name;
    EXPECT_EQ(value_of(fams, "labyrinth_allocated_bytes_total", stat), doc["summary"]["allocated_bytes"].get<double>());
    EXPECT_EQ(sum_of(fams, "labyrinth_allocations_by_order_total"), doc["summary"]["allocations"].get<double>());
    EXPECT_EQ(sum_of(fams, "labyrinth_allocation_failures_total"), doc["summary"]["failures"].get<double>());
    EXPECT_EQ(sum_of(fams, "labyrinth_allocation_failures_by_class_total"), doc["summary"]["failures"].get<double>());
    EXPECT_EQ(value_of(fams, "labyrinth_allocation_failures_by_class_total", {{"class", "opportunistic"}}),
              doc["summary"]["failures_by_class"]["opportunistic"]["failures"].get<double>());
    EXPECT_EQ(samples_of(fams, "labyrinth_data_quality_events_total").size(), doc["data_quality"].size());
    EXPECT_EQ(value_of(fams, "labyrinth_data_quality_events_total", {{"counter", "free_of_unknown_page"}}),
              doc["data_quality"][5]["value"].get<double>());
    EXPECT_EQ(value_of(fams, "labyrinth_trace_complete"), 1.0);
    for (const auto& fam : fams) {
      if (fam["type"] != "counter") continue;
      for (const auto& s : fam["samples"]) EXPECT_TRUE(s["name"].get<std::string>().ends_with("_total")) << s.dump();
    }
    const std::string promtool = testing::promtool_path();
    if (!promtool.empty() && std::string(name).ends_with(".prom")) {
      EXPECT_EQ(std::system((promtool + " check metrics < '" + metrics + "'").c_str()), 0);
    }
  }
}

// Every bundled sample, stat in the textfile dialect and replay in both modes as OpenMetrics:
// the parser reads every file (imports without zones or snapshots included).
TEST_F(CliExport, MetricsOfEverySampleParse) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSamples)) {
    if (entry.path().extension() != ".trace") continue;
    const std::string t = entry.path().string();
    const std::vector<std::vector<std::string>> runs{{"stat", t, "-q", "--openmetrics", file("m.prom")},
                                                     {"replay", t, "-q", "--mode", "mirror", "--openmetrics", file("m.txt")},
                                                     {"replay", t, "-q", "--mode", "simulate", "--openmetrics", file("m.txt")}};
    for (const auto& args : runs) {
      const auto r = run_labyrinth(args);
      ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;  // 3: a sample cut short on purpose
      const auto parsed = parse_metrics_file(args.back());
      LABYRINTH_REQUIRE_PARSED(parsed);
      EXPECT_GT(samples_of(parsed.families, "labyrinth_trace_events_total").at(0)["value"].get<double>(), 0) << t;
      ++checked;
    }
  }
  EXPECT_GE(checked, 18);
}

// The zone families of stat come from the end snapshot: 99 free order-2 blocks, 396 free
// pages, and the unusable index the kernel would print for that buddyinfo.
TEST_F(CliExport, StatZoneMetricsComeFromTheEndSnapshot) {
  const std::string metrics = file("m.txt");
  const auto r = run_labyrinth({"stat", trace("fragmentation_then_merge.txt"), "-q", "--openmetrics", metrics});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto parsed = parse_metrics_file(metrics);
  LABYRINTH_REQUIRE_PARSED(parsed);
  const nlohmann::json normal{{"zone", "Normal"}, {"node", "0"}};
  auto order = [&](int o) {
    nlohmann::json m = normal;
    m["order"] = std::to_string(o);
    return m;
  };
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_free_blocks", order(2)), 99.0);
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_free_blocks", order(3)), 0.0);
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_free_bytes", normal), 396.0 * 4096);
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_unusable_free_ratio", order(2)), 0.0);
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_unusable_free_ratio", order(3)), 1.0);  // only order-2 blocks
  nlohmann::json min = normal;
  min["level"] = "min";
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_watermark_bytes", min), 128.0 * 4096);
}

// replay: failures by class and cause from the forensics, the model's end state, validation.
TEST_F(CliExport, ReplayMetricsCarryForensicsAndTheModelsEndState) {
  const std::string t = trace("fragmentation_then_merge.txt");
  const std::string json = file("r.json"), metrics = file("r.txt");
  const auto r = run_labyrinth({"replay", t, "-q", "--mode", "mirror", "--json", json, "--openmetrics", metrics});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto parsed = parse_metrics_file(metrics);
  LABYRINTH_REQUIRE_PARSED(parsed);
  const auto doc = load(json);
  const auto& f = doc["failures"]["items"].at(0);
  const nlohmann::json mirror{{"source", "mirror"}};
  EXPECT_EQ(value_of(parsed.families, "labyrinth_allocation_failures_by_cause_total",
                     {{"source", "mirror"}, {"class", f["class"]}, {"cause", f["cause"]}}),
            1.0);
  EXPECT_EQ(sum_of(parsed.families, "labyrinth_allocation_failures_by_cause_total"), doc["summary"]["failures"].get<double>());
  EXPECT_EQ(value_of(parsed.families, "labyrinth_allocation_failures_total", {{"order", "3"}}), 1.0);
  const auto& last = doc["timeline"]["zones"][0]["samples"].back();
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_free_blocks", {{"zone", "Normal"}, {"order", "2"}}),
            last["free_blocks_by_order"][2].get<double>());
  EXPECT_EQ(value_of(parsed.families, "labyrinth_zone_mixed_pageblocks", mirror), last["mixed_pageblocks"].get<double>());
  EXPECT_EQ(value_of(parsed.families, "labyrinth_validation_passed", mirror), doc["validation"]["passed"].get<bool>() ? 1.0 : 0.0);
}

// The real consumer, when installed (Debian's prometheus-node-exporter, or $NODE_EXPORTER; not
// a dependency: its package starts a daemon): the textfile collector reads the .prom files of
// stat and both replay modes side by side, without an error, with typed counters.
TEST_F(CliExport, NodeExporterTextfileCollectorReadsThePromFiles) {
  const char* env = std::getenv("NODE_EXPORTER");
  const std::string exporter = env != nullptr ? env : "/usr/bin/prometheus-node-exporter";
  if (::access(exporter.c_str(), X_OK) != 0 || ::access("/usr/bin/curl", X_OK) != 0)
    GTEST_SKIP() << "prometheus-node-exporter or curl is not installed";
  const std::string textfiles = file("textfile");
  std::filesystem::create_directories(textfiles);
  const std::string t = trace("fragmentation_then_merge.txt");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"stat", t, "-q", "--openmetrics", textfiles + "/stat.prom"},
        std::vector<std::string>{"replay", t, "-q", "--mode", "mirror", "--openmetrics", textfiles + "/mirror.prom"},
        std::vector<std::string>{"replay", t, "-q", "--mode", "simulate", "--openmetrics", textfiles + "/simulate.prom"}}) {
    ASSERT_EQ(run_labyrinth(args).exit_code, 0);
  }
  const std::string address = "127.0.0.1:" + std::to_string(20000 + ::getpid() % 20000);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string listen = "--web.listen-address=" + address, dir = "--collector.textfile.directory=" + textfiles;
    ::execl(exporter.c_str(), exporter.c_str(), listen.c_str(), "--collector.disable-defaults", "--collector.textfile",
            dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string scrape = file("scrape.txt");
  bool scraped = false;
  for (int i = 0; i < 50 && !scraped; ++i) {
    ::usleep(200'000);
    scraped = std::system(("/usr/bin/curl -sf -o '" + scrape + "' http://" + address + "/metrics").c_str()) == 0;
  }
  ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(scraped) << exporter << " did not answer on " << address;
  const std::string text = read_text(scrape);
  EXPECT_NE(text.find("\nnode_textfile_scrape_error 0\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE labyrinth_allocations_total counter\n"), std::string::npos);
  for (const char* source : {"stat", "mirror", "simulate"})
    EXPECT_NE(text.find("labyrinth_allocations_total{source=\"" + std::string(source) + "\"}"), std::string::npos) << source;
}

TEST_F(CliExport, BadMetricsOutputsAreClearErrors) {
  const std::string t = trace("fragmentation_then_merge.txt");
  auto r = run_labyrinth({"replay", t, "-q", "--openmetrics", file("no/such/dir/m.txt")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no/such/dir/m.txt"), std::string::npos) << r.err;
  r = run_labyrinth({"stat", t, "--json", "-", "--openmetrics", "-"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("standard output"), std::string::npos) << r.err;
  r = run_labyrinth({"replay", t, "--perfetto", "-", "--openmetrics", "-"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  std::filesystem::create_symlink("/etc/passwd", file("link.txt"));
  r = run_labyrinth({"stat", t, "-q", "--openmetrics", file("link.txt")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
}

// Every bundled sample, in both modes: the trace-event file follows the format's rules.
TEST_F(CliExport, PerfettoTraceOfEverySampleFollowsTheFormat) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSamples)) {
    if (entry.path().extension() != ".trace") continue;
    for (const char* mode : {"mirror", "simulate"}) {
      const std::string out = file("p.json");
      const auto r = run_labyrinth({"replay", entry.path().string(), "-q", "--mode", mode, "--perfetto", out});
      ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;  // 3: a sample cut short on purpose
      const auto doc = load(out);
      const auto errors = trace_event_format_errors(doc);
      EXPECT_TRUE(errors.empty()) << entry.path() << " " << mode << ": " << (errors.empty() ? "" : errors.front());
      EXPECT_FALSE(events_named(doc, "C", "free pages").empty()) << entry.path();
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);
}

// The content: one counter sample per timeline sample, the failure with its forensics on
// its zone's failure thread, watermarks, the keyframe as a global instant.
TEST_F(CliExport, PerfettoTraceHoldsTheReplaysTimelineFailuresAndKeyframes) {
  const std::string json = file("r.json"), out = file("p.json");
  auto r = run_labyrinth({"replay", trace("fragmentation_then_merge.txt"), "-q", "--mode", "mirror", "--interval", "500ns",
                          "--json", json, "--perfetto", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = load(json);
  auto doc = load(out);
  ASSERT_TRUE(trace_event_format_errors(doc).empty());
  const auto& samples = report["timeline"]["zones"][0]["samples"];
  const auto free_pages = events_named(doc, "C", "free pages");
  ASSERT_EQ(free_pages.size(), samples.size());
  EXPECT_EQ(free_pages.back()["args"]["pages"], samples.back()["free_pages"]);
  const auto highatomic = events_named(doc, "C", "highatomic free pages");
  ASSERT_EQ(highatomic.size(), samples.size());
  EXPECT_EQ(highatomic.back()["args"]["pages"], samples.back()["highatomic_free_pages"]);
  EXPECT_EQ(events_named(doc, "C", "free blocks").back()["args"]["order 02"], samples.back()["free_blocks_by_order"][2]);
  EXPECT_EQ(events_named(doc, "C", "min watermark").at(0)["args"]["pages"], 128);
  const auto failures = events_named(doc, "i", "failure order 3");
  ASSERT_EQ(failures.size(), 1u);
  const auto& f = report["failures"]["items"][0];
  EXPECT_EQ(failures[0]["args"]["cause"], f["cause"]);
  EXPECT_EQ(failures[0]["args"]["gfp"], f["gfp"]);
  EXPECT_EQ(failures[0]["args"]["free_pages"], f["free_pages"]);
  EXPECT_DOUBLE_EQ(failures[0]["ts"].get<double>(), (f["ts_ns"].get<double>() - report["capture"]["first_ts_ns"].get<double>()) / 1000.0);
  EXPECT_NE(failures[0]["pid"], 1);  // on the zone's process, its failure thread
  bool named_failures = false;
  for (const auto& e : doc["traceEvents"])
    named_failures = named_failures || (e["ph"] == "M" && e["tid"] == failures[0]["tid"] && e["args"]["name"] == "failures");
  EXPECT_TRUE(named_failures);

  r = run_labyrinth({"replay", trace("keyframe_resync.txt"), "-q", "--mode", "mirror", "--json", json, "--perfetto", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = load(out);
  const auto keyframes = events_named(doc, "i", "keyframe");
  ASSERT_EQ(keyframes.size(), load(json)["keyframes"]["series"].size());
  ASSERT_FALSE(keyframes.empty());
  EXPECT_EQ(keyframes[0]["s"], "g");
}

// Extfrag events become instants on their zone, at most kMaxInstants of them; a long trace
// gives no more counter samples per track than the timeline keeps.
TEST_F(CliExport, PerfettoTraceStaysBoundedOnLongTraces) {
  std::ostringstream text;
  text << "!cpus 1\n!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192\n";
  const int n = 10'200;
  for (int i = 0; i < n; ++i) {
    text << 1000 + 10 * i << " extfrag pfn=0x" << std::hex << 0x10000 + 512 * (i % 100) << std::dec
         << " order=0 mt=0 fb_order=" << (i % 2 == 0 ? 9 : 3) << " fb_mt=1 owner=" << (i % 2) << " cpu=0\n";
    text << 1005 + 10 * i << " alloc pfn=0x" << std::hex << 0x18000 + i << std::dec << " order=0 mt=1 gfp=GFP_KERNEL cpu=0\n";
  }
  const std::string t = replay::testing::trace_from_text(dir_, text.str(), "long.trace");
  const std::string out = file("p.json");
  const auto r = run_labyrinth({"replay", t, "-q", "--mode", "simulate", "--interval", "1ns", "--perfetto", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = load(out);
  EXPECT_TRUE(trace_event_format_errors(doc).empty());
  const auto extfrag = events_named(doc, "i", "extfrag");
  EXPECT_EQ(extfrag.size(), 10'000u);
  EXPECT_EQ(doc["otherData"]["extfrag_total"], n);
  EXPECT_EQ(doc["otherData"]["extfrag_written"], 10'000);
  EXPECT_EQ(extfrag[0]["args"]["fragmenting"], false);  // fallback of a whole pageblock
  EXPECT_EQ(extfrag[1]["args"]["fragmenting"], true);
  EXPECT_EQ(extfrag[0]["args"]["fallback_migratetype"], "Movable");
  EXPECT_LE(events_named(doc, "C", "free pages").size(), 1000u);
  EXPECT_GT(events_named(doc, "C", "free pages").size(), 100u);
  EXPECT_LT(std::filesystem::file_size(out), 16u << 20);
}

}  // namespace
}  // namespace labyrinth
