// labyrinth report as a user runs it: every bundled sample and replay case gives a page that
// opens offline, under 3 MiB, with its charts; bad input gives a clear error and exit code.
#include <gtest/gtest.h>

#include <filesystem>

#include "../replay/replay_test_util.hpp"
#include "report_test_util.hpp"
#include "run_command.hpp"

namespace labyrinth::html {
namespace {

using labyrinth::testing::run_labyrinth;
using replay::testing::read_text;
using testing::occurrences;
using testing::offline_violation;

TEST(ReportCli, EveryBundledSampleGivesAnOfflinePageWithCharts) {
  replay::testing::TempDir dir;
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LABYRINTH_SOURCE_DIR "/traces/samples")) {
    if (entry.path().extension() != ".trace") continue;
    const std::string out = dir.file(entry.path().stem().string() + ".html");
    const auto r = run_labyrinth({"report", entry.path().string(), "-o", out});
    ASSERT_EQ(r.exit_code, 0) << entry.path() << r.err;
    EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
    const std::string page = read_text(out);
    EXPECT_LT(page.size(), 3u << 20);
    EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(offline_violation(page), "") << entry.path();
    EXPECT_GE(occurrences(page, "<svg class=\"chart free-pages"), 1u) << entry.path();
    EXPECT_EQ(occurrences(page, "<svg class=\"chart memory-map"), 2u) << entry.path();
    EXPECT_GE(occurrences(page, "<svg class=\"chart breakdown"), 4u) << entry.path();
    EXPECT_NE(page.find("id=\"data-quality\""), std::string::npos);
    EXPECT_EQ(occurrences(page, "<svg"), occurrences(page, "</svg>"));
    ++n;
  }
  EXPECT_GE(n, 6);
}

TEST(ReportCli, AnImportedPerfCaptureOfTheFixturesGivesAPage) {
  replay::testing::TempDir dir;
  const std::string trace = dir.file("perf.trace");
  auto r = run_labyrinth({"import", "perf-script", LABYRINTH_SOURCE_DIR "/tests/fixtures/perf-kmem/perf-script.txt.zst", "-o",
                          trace});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string out = dir.file("perf.html");
  r = run_labyrinth({"report", trace, "-o", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_text(out);
  EXPECT_LT(page.size(), 3u << 20);
  EXPECT_EQ(offline_violation(page), "");
  EXPECT_GE(occurrences(page, "<svg class=\"chart order-area"), 1u);
  EXPECT_GE(occurrences(page, "<svg class=\"chart breakdown process"), 1u);
}

TEST(ReportCli, FailuresOfAReplayCaseAreMarkedAndListed) {
  replay::testing::TempDir dir;
  const std::string trace = replay::testing::trace_from_text(dir, read_text(replay::testing::case_path("atomic_below_min.txt")));
  const std::string out = dir.file("r.html");
  const auto r = run_labyrinth({"report", trace, "-o", out, "--mode", "mirror", "--interval", "1us"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_text(out);
  EXPECT_EQ(occurrences(page, "class=\"failure real\""), 1u);
  EXPECT_NE(page.find("order 0 GFP_ATOMIC in softirq, swapper/0 [0]"), std::string::npos);
  EXPECT_NE(page.find("cause watermark"), std::string::npos);
  EXPECT_NE(page.find("The first 1 failures"), std::string::npos);
}

// A recording without some attach points: the data-quality section names each with its cost,
// and does not claim that every event the kernel emitted is in the trace.
TEST(ReportCli, MissingAttachPointsAreListedWithTheirCost) {
  replay::testing::TempDir dir;
  const std::string trace =
      replay::testing::trace_from_text(dir, read_text(replay::testing::case_path("missing_attach_points.txt")));
  const std::string out = dir.file("m.html");
  const auto r = run_labyrinth({"report", trace, "-o", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_text(out);
  EXPECT_EQ(page.find("No data loss"), std::string::npos);
  EXPECT_EQ(occurrences(page, "<ul class=\"missing\">"), 1u);
  EXPECT_NE(page.find("<li><code>__isolate_free_page</code> (the kernel refuses fentry programs (Operation not "
                      "permitted)): compaction&#39;s fast isolations are guessed"),
            std::string::npos);
  EXPECT_NE(page.find("<li><code>mm_setup_per_zone_wmarks</code>: "), std::string::npos);
}

TEST(ReportCli, SimulateWithAWhatIfSettingMarksPredictedFailures) {
  replay::testing::TempDir dir;
  const std::string trace = replay::testing::trace_from_text(dir, read_text(replay::testing::case_path("atomic_below_min.txt")));
  const std::string out = dir.file("s.html");
  const auto r = run_labyrinth({"report", trace, "-o", out, "--min-free-kbytes", "4096", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string page = read_text(out);
  EXPECT_NE(page.find("simulate, seeded from"), std::string::npos);
  EXPECT_GE(occurrences(page, "class=\"failure predicted\""), 1u);
}

// A lower min than the kernel's: the model serves the kernel's GFP_ATOMIC failure at 3000 (47
// free pages, above 3/8 of the new min of 64 = 24), and the chart marks it as missed, open.
TEST(ReportCli, SimulateMarksTheKernelsFailuresTheModelServed) {
  replay::testing::TempDir dir;
  const std::string trace = replay::testing::trace_from_text(dir, read_text(replay::testing::case_path("atomic_below_min.txt")));
  const std::string out = dir.file("s.html");
  const auto r = run_labyrinth({"report", trace, "-o", out, "--min-free-kbytes", "256", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_text(out);
  EXPECT_GE(occurrences(page, "class=\"failure missed\""), 1u);
  EXPECT_EQ(occurrences(page, "class=\"failure real\""), 0u);
  EXPECT_NE(page.find("missed failure (the model served it)"), std::string::npos);
  EXPECT_NE(page.find("(missed: the model served it; the cause is the kernel&#39;s counters&#39;)"), std::string::npos);
}

TEST(ReportCli, BadInputGivesAClearErrorAndExitCode) {
  replay::testing::TempDir dir;
  auto r = run_labyrinth({"report", LABYRINTH_SOURCE_DIR "/traces/samples/perf-script.trace"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--output is required"), std::string::npos) << r.err;
  r = run_labyrinth({"report", dir.file("missing.trace"), "-o", dir.file("x.html")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.trace"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.html")));
  r = run_labyrinth({"report", LABYRINTH_SOURCE_DIR "/traces/samples/perf-script.trace", "-o",
                     dir.file("no/such/dir/x.html")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no/such/dir/x.html"), std::string::npos) << r.err;
  r = run_labyrinth({"report", LABYRINTH_SOURCE_DIR "/traces/samples/perf-script.trace", "-o", dir.file("y.html"),
                     "--interval", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--interval"), std::string::npos) << r.err;
  r = run_labyrinth({"report", LABYRINTH_SOURCE_DIR "/traces/samples/perf-script.trace", "-o", dir.file("z.html"),
                     "--mode", "mirror", "--balloon", "1G"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("need --mode simulate"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace labyrinth::html
