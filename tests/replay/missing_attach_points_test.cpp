// A recording made without some attach points says which and what each costs (issue 16, "Bad
// input"); a trace from a recorder that never tried them says nothing about them.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "labyrinth/replay/capture.hpp"
#include "labyrinth/replay/missing_attach_points.hpp"
#include "labyrinth/replay/replay_report.hpp"
#include "replay_test_util.hpp"

namespace labyrinth::replay {
namespace {

using testing::case_path;
using testing::mirror;
using testing::read_text;
using testing::replay_file;
using testing::text_report;
using testing::TempDir;
using testing::trace_from_text;

// Byte 10 of the file header is the format's minor version (labyrinth-trace(5)).
void set_minor_version(const std::string& path, char minor) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(10);
  f.put(minor);
}

traces::TraceHeader header_missing(std::vector<std::string> missing) {
  traces::TraceHeader h;
  h.missing_events = std::move(missing);
  return h;
}

TEST(MissingAttachPoints, EachIsNamedWithTheRecordersReasonAndItsCost) {
  const auto missing = missing_attach_points(header_missing(
      {"__isolate_free_page (the kernel refuses fentry programs (Operation not permitted))", "kmem:mm_page_pcpu_drain",
       "mm_compaction_fast_isolate_freepages", "fexit/__putback_isolated_page", "kmem:mm_page_future"}));
  ASSERT_EQ(missing.size(), 5u);
  EXPECT_EQ(missing[0].name, "__isolate_free_page");
  EXPECT_EQ(missing[0].reason, "the kernel refuses fentry programs (Operation not permitted)");
  EXPECT_NE(missing[0].cost.find("fast isolations are guessed"), std::string::npos) << missing[0].cost;
  EXPECT_NE(missing[0].cost.find("per-order end state"), std::string::npos) << missing[0].cost;
  EXPECT_EQ(missing[1].name, "kmem:mm_page_pcpu_drain");
  EXPECT_EQ(missing[1].reason, "");
  EXPECT_NE(missing[1].cost.find("per-CPU lists"), std::string::npos) << missing[1].cost;
  EXPECT_NE(missing[2].cost.find("fast isolations are not seen"), std::string::npos) << missing[2].cost;
  EXPECT_EQ(missing[3].name, "__putback_isolated_page");  // a program section keeps its prefix
  EXPECT_NE(missing[3].cost.find("give back"), std::string::npos) << missing[3].cost;
  // One this labyrinth does not know still counts, with what is sure: its events are missing.
  EXPECT_EQ(missing[4].name, "kmem:mm_page_future");
  EXPECT_NE(missing[4].cost.find("not in the trace"), std::string::npos) << missing[4].cost;
}

// The highatomic reserve's moves: the recorder's section name and reason, and what mirror does
// instead (it guesses where the kernel reserves, and follows what the takes show).
TEST(MissingAttachPoints, WithoutThePageblockMovesTheHighatomicReserveIsGuessed) {
  const auto missing = missing_attach_points(
      header_missing({"fexit/move_freepages_block (the kernel refuses fentry programs (Operation not permitted))"}));
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].name, "move_freepages_block");
  EXPECT_EQ(missing[0].reason, "the kernel refuses fentry programs (Operation not permitted)");
  EXPECT_NE(missing[0].cost.find("highatomic reserve's reservations and give-backs"), std::string::npos)
      << missing[0].cost;
}

// The recorder names "zone_counters (why): ..." where it could not read the kernel's counters.
TEST(MissingAttachPoints, WithoutTheZoneCountersFailuresAreExplainedFromTheModelAlone) {
  const auto missing = missing_attach_points(header_missing(
      {"zone_counters (no kswapd thread found (its pglist_data is where the counters are)): failures are "
       "explained from the model's state alone"}));
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].name, "zone_counters");
  EXPECT_EQ(missing[0].reason, "no kswapd thread found (its pglist_data is where the counters are)");
  EXPECT_NE(missing[0].cost.find("model's state alone"), std::string::npos) << missing[0].cost;
}

TEST(MissingAttachPoints, TheFirstRecordersOwnCostTextAndRepeatsAreLeftOut) {
  const auto missing = missing_attach_points(header_missing(
      {"__isolate_free_page (no kernel BTF): mirror guesses the blocks of fast isolations and misses page reporting",
       "mm_setup_per_zone_wmarks", "mm_setup_per_zone_wmarks", " "}));
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(missing[0].name, "__isolate_free_page");
  EXPECT_EQ(missing[0].reason, "no kernel BTF");
  EXPECT_EQ(missing[0].cost.find("mirror guesses the blocks"), std::string::npos);  // replay's own cost
  EXPECT_EQ(missing[1].name, "mm_setup_per_zone_wmarks");
  EXPECT_NE(missing[1].cost.find("watermark"), std::string::npos) << missing[1].cost;
}

TEST(MissingAttachPoints, ReplayCountsThemAndNamesEachInTextAndJson) {
  TempDir dir;
  const ReplayResult r = replay_file(trace_from_text(dir, read_text(case_path("missing_attach_points.txt"))), mirror());
  EXPECT_EQ(r.quality.get(DataQuality::missing_attach_points), 3u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 1u);  // what the first one costs here
  EXPECT_FALSE(r.quality.lossy());  // no event was lost: the counts are not lower bounds
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);

  const auto doc = replay_to_json(r, 10);
  const auto& listed = doc["capture"]["missing_attach_points"];
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0]["name"], "__isolate_free_page");
  EXPECT_EQ(listed[0]["reason"], "the kernel refuses fentry programs (Operation not permitted)");
  EXPECT_EQ(listed[1]["name"], "__putback_isolated_page");
  EXPECT_EQ(listed[2]["name"], "mm_setup_per_zone_wmarks");
  EXPECT_TRUE(listed[2]["reason"].is_null());
  for (const auto& m : listed) EXPECT_FALSE(m["cost"].get<std::string>().empty());
  bool counted = false;
  for (const auto& q : doc["data_quality"]) {
    if (q["name"] == "missing_attach_points") counted = q["value"] == 3 && q["severity"] == "info";
  }
  EXPECT_TRUE(counted);

  const std::string text = text_report(r);
  const auto block = text.find("missing_attach_points");
  ASSERT_NE(block, std::string::npos) << text;
  for (const auto& m : missing_attach_points(r.header)) {
    const auto line = text.find(m.name + (m.reason.empty() ? "" : " (" + m.reason + ")") + ": " + m.cost);
    EXPECT_NE(line, std::string::npos) << m.name << "\n" << text;
    EXPECT_GT(line, block);  // under its counter
  }
}

// Format 1.0 and 1.1 recorders had no exact-block programs: their traces read, and a replay
// names only what their header lists as missing, never an attach point they did not try.
TEST(MissingAttachPoints, OlderFormatsReadAndClaimNothingTheirRecorderNeverTried) {
  TempDir dir;
  std::string text = read_text(case_path("compaction_isolate.txt"));
  const std::string path = trace_from_text(dir, text, "old.trace");
  for (const char minor : {char{0}, char{1}}) {
    set_minor_version(path, minor);
    const ReplayResult r = replay_file(path, mirror());
    EXPECT_EQ(r.quality.get(DataQuality::missing_attach_points), 0u);
    EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 1u);
    EXPECT_TRUE(replay_to_json(r, 10)["capture"]["missing_attach_points"].empty());
    EXPECT_EQ(text_report(r).find("missing_attach_points"), std::string::npos);
  }
  // A 1.1 recorder on a kernel without the compaction tracepoint said so: that is named.
  text.insert(text.find("!zone "), "!missing compaction:mm_compaction_isolate_freepages\n");
  const std::string named = trace_from_text(dir, text, "old-missing.trace");
  set_minor_version(named, 1);
  const ReplayResult r = replay_file(named, mirror());
  const auto missing = missing_attach_points(r.header);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].name, "compaction:mm_compaction_isolate_freepages");
  EXPECT_EQ(r.quality.get(DataQuality::missing_attach_points), 1u);
}

// The bundled samples are format 1.0 imports of text captures.
TEST(MissingAttachPoints, ABundledFormat10SampleReportsNone) {
  const std::string sample = std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/perf-script.trace";
  std::ifstream in(sample, std::ios::binary);
  char head[16] = {};
  in.read(head, sizeof head);
  ASSERT_EQ(head[10], 0) << "the sample is no longer format 1.0";
  traces::TraceReader reader(sample);
  CaptureDescription capture;
  describe_capture(capture, reader, reader.header());
  DataQualityCounters quality;
  add_capture_quality(quality, capture);
  EXPECT_EQ(quality.get(DataQuality::missing_attach_points), 0u);
  EXPECT_TRUE(capture_json(capture)["missing_attach_points"].empty());
}

}  // namespace
}  // namespace labyrinth::replay
