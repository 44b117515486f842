// --openmetrics and --perfetto on a real recording (root, BPF): a short workload recorded with
// keyframes, then stat's zone metrics equal the kernel's end snapshot, replay's metrics parse
// in both dialects (promtool too when installed), and the Perfetto file follows the format
// with a counter sample per timeline sample and an instant per keyframe check.
// Skips without root and BPF, unless LABYRINTH_REQUIRE_BPF=1 (CI) makes that a failure.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bpf_test.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "metrics_parser.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "trace_event_check.hpp"

namespace labyrinth {
namespace {

using testing::events_named;
using testing::parse_metrics_file;
using testing::run_labyrinth;
using testing::samples_of;

nlohmann::json load(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Anonymous memory and page cache, about two seconds: enough for keyframes every 500 ms.
constexpr const char* kWorkload = R"(set -e
d=$(mktemp -d)
head -c 100M /dev/zero > "$d/f"; sync; rm -f "$d/f"; rmdir "$d"
python3 -c 'import time
for _ in range(4):
    x = bytearray(64 * 1024 * 1024); time.sleep(0.3); del x'
)";

class ExportRecording : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (::geteuid() != 0) why = "not root";
    if (why.empty()) {
      trace_ = dir_.file("real.trace");
      const auto r = run_labyrinth({"record", "-o", trace_, "-m", "64", "--keyframe-interval", "500ms", "--", "sh", "-c",
                                    kWorkload});
      if (r.exit_code != 0) why = "labyrinth record failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
    }
    LABYRINTH_SKIP_OR_FAIL_WITHOUT(why.empty() ? why : "cannot record: " + why);
  }
  testing::TempDir dir_;
  std::string trace_;
};

TEST_F(ExportRecording, MetricsAndPerfettoTraceOfARealRecording) {
  // stat: the zone families are the end snapshot's /proc/buddyinfo and NR_FREE_PAGES.
  const std::string stat_metrics = dir_.file("stat.txt");
  auto r = run_labyrinth({"stat", trace_, "-q", "--openmetrics", stat_metrics});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto parsed = parse_metrics_file(stat_metrics);
  LABYRINTH_REQUIRE_PARSED(parsed);
  traces::TraceReader reader(trace_);
  const traces::Snapshot& end = reader.end_snapshot();
  ASSERT_TRUE(end.present);
  for (const auto& z : end.zones) {
    const nlohmann::json zone{{"node", std::to_string(z.node)}, {"zone", z.zone}};
    for (std::size_t o = 0; o < z.buddyinfo.size(); ++o) {
      nlohmann::json match = zone;
      match["order"] = std::to_string(o);
      const auto s = samples_of(parsed.families, "labyrinth_zone_free_blocks", match);
      ASSERT_EQ(s.size(), 1u) << match.dump();
      EXPECT_EQ(s[0]["value"].get<double>(), static_cast<double>(z.buddyinfo[o])) << match.dump();
    }
    const auto free = samples_of(parsed.families, "labyrinth_zone_free_bytes", zone);
    ASSERT_EQ(free.size(), 1u);
    EXPECT_EQ(free[0]["value"].get<double>(), static_cast<double>(z.free_pages) * reader.header().page_size);
  }

  // replay: both dialects through the parser; promtool on the textfile one when installed.
  const std::string json = dir_.file("r.json"), perfetto = dir_.file("p.json");
  const std::string om = dir_.file("r.txt"), prom = dir_.file("r.prom");
  r = run_labyrinth({"replay", trace_, "-q", "--mode", "mirror", "--interval", "100ms", "--json", json, "--perfetto",
                     perfetto, "--openmetrics", om});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_labyrinth({"replay", trace_, "-q", "--mode", "mirror", "--openmetrics", prom});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = load(json);
  for (const std::string& path : {om, prom}) {
    parsed = parse_metrics_file(path);
    LABYRINTH_REQUIRE_PARSED(parsed);
    EXPECT_EQ(samples_of(parsed.families, "labyrinth_allocations_total")[0]["value"].get<double>(),
              report["summary"]["allocations"].get<double>())
        << path;
    EXPECT_FALSE(samples_of(parsed.families, "labyrinth_zone_mixed_pageblocks").empty());
  }
  if (const std::string promtool = testing::promtool_path(); !promtool.empty()) {
    EXPECT_EQ(std::system((promtool + " check metrics < '" + prom + "'").c_str()), 0);
  }

  // Perfetto: the format's rules; one counter sample per kept timeline sample of each zone;
  // one global instant per keyframe check.
  const auto doc = load(perfetto);
  const auto errors = testing::trace_event_format_errors(doc);
  EXPECT_TRUE(errors.empty()) << errors.front();
  std::size_t samples = 0;
  for (const auto& z : report["timeline"]["zones"]) samples += z["samples"].size();
  EXPECT_EQ(events_named(doc, "C", "free pages").size(), samples);
  const auto keyframes = events_named(doc, "i", "keyframe");
  EXPECT_EQ(keyframes.size(), report["keyframes"]["series"].size());
  EXPECT_FALSE(keyframes.empty()) << "the recording has no keyframes";
}

}  // namespace
}  // namespace labyrinth
