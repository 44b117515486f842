// labyrinth report in a real browser: headless Chromium parses the page (its DOM holds every
// chart) and renders it to PNG, which must show ink in every chart band and the charts'
// exact fill colours over whole areas, not just in legends. Skips without Chromium or
// python3, unless LABYRINTH_REQUIRE_BROWSER=1, LABYRINTH_REQUIRE_BPF=1 (set by .ci/run) or
// CI is set: there a missing browser is a failure.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "../replay/replay_test_util.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using labyrinth::testing::run_command;
using labyrinth::testing::run_labyrinth;

bool browser_required() {
  for (const char* var : {"LABYRINTH_REQUIRE_BROWSER", "LABYRINTH_REQUIRE_BPF"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && std::string(v) == "1") return true;
  }
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0' && std::string(ci) != "0" && std::string(ci) != "false";
}

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class Browser : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    std::string missing;
    if (chromium_.empty()) missing = "chromium is not installed (apt-get install chromium)";
    if (missing.empty() && run_command({"/usr/bin/python3", "-c", "import zlib"}).exit_code != 0) missing = "python3 is not installed";
    if (!missing.empty()) {
      if (browser_required()) FAIL() << "the browser test is required here, but " << missing;
      GTEST_SKIP() << missing;
    }
    page_ = dir_.file("report.html");
    // A mirror replay with failures, keyframes and stacks would be best; the bundled trace-cmd
    // sample has every breakdown, and replays into this machine's zones.
    const auto r = run_labyrinth({"report", LABYRINTH_SOURCE_DIR "/traces/samples/tracecmd-report.trace", "-o", page_, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  testing::CommandResult chromium(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/timeout", "180", chromium_, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--hide-scrollbars", "--user-data-dir=" + dir_.file("profile")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("file://" + page_);
    return run_command(argv);
  }
  std::string chromium_, page_;
  replay::testing::TempDir dir_;
};

TEST_F(Browser, TheDomHoldsEveryChart) {
  const auto r = chromium({"--dump-dom"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& dom = r.out;
  const std::string file = replay::testing::read_text(page_);
  // The browser's DOM, not the file: the page parsed into the elements written.
  EXPECT_EQ(count(dom, "<svg class=\"chart "), count(file, "<svg class=\"chart "));
  for (const char* chart : {"free-pages", "order-area", "unusable-heat", "mixed", "memory-map", "breakdown gfp",
                            "breakdown process", "breakdown context", "breakdown order-migratetype"}) {
    EXPECT_GE(count(dom, std::string("<svg class=\"chart ") + chart), 1u) << chart;
  }
  EXPECT_GE(count(dom, "<polygon class=\"order-layer\""), 11u);
  EXPECT_GE(count(dom, "<polyline class=\"series free\""), 1u);
  EXPECT_GE(count(dom, "<g class=\"legend\">"), count(dom, "<svg class=\"chart "));
  EXPECT_EQ(count(dom, "<script"), 0u);
}

TEST_F(Browser, TheScreenshotShowsTheCharts) {
  const std::string png = dir_.file("report.png");
  const auto r = chromium({"--screenshot=" + png, "--window-size=1000,8000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(std::filesystem::exists(png)) << r.err;
  const std::string check = LABYRINTH_SOURCE_DIR "/tests/html/png_check.py";
  // Ink per 250 px band: the page's charts fill the first 3000 px and most of the rest.
  const auto stats = run_command({"/usr/bin/python3", check, "stats", png, "250"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  std::istringstream lines(stats.out);
  int band_y = 0, inked_bands = 0, bands = 0;
  double inked = 0;
  std::size_t colours = 0;
  while (lines >> band_y >> inked >> colours) {
    ++bands;
    if (band_y < 3000) {
      EXPECT_GT(inked, 1.0) << "band at y=" << band_y << " is blank";
      EXPECT_GT(colours, 10u) << "band at y=" << band_y;
    }
    inked_bands += inked > 1.0 ? 1 : 0;
  }
  EXPECT_EQ(bands, 32);
  EXPECT_GE(inked_bands, 20);
  // Whole areas in the charts' own fill colours (a legend box is 140 px): the highest order's
  // layer of the stacked area, and free Movable pageblocks of the memory map.
  const auto fills = run_command({"/usr/bin/python3", check, "colours", png, "#440154", "#d1eee6"});
  ASSERT_EQ(fills.exit_code, 0) << fills.err;
  std::istringstream fl(fills.out);
  std::map<std::string, long> pixels;
  std::string colour;
  long n = 0;
  while (fl >> colour >> n) pixels[colour] = n;
  EXPECT_GT(pixels["#440154"], 2000) << fills.out;
  EXPECT_GT(pixels["#d1eee6"], 2000) << fills.out;
}

}  // namespace
}  // namespace labyrinth
