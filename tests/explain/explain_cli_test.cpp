// `labyrinth explain` as a user runs it: exit codes per report, text first, JSON valid
// against replay/schema/labyrinth-explain.schema.json.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "json_schema_check.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

namespace {

using labyrinth::testing::run_labyrinth;

const std::string kSample = LABYRINTH_SOURCE_DIR "/traces/samples/gfp_atomic_failure.log";

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

nlohmann::json schema() { return nlohmann::json::parse(read(LABYRINTH_SOURCE_DIR "/replay/schema/labyrinth-explain.schema.json")); }

TEST(ExplainCli, SampleVerdictFirstThenTable) {
  const auto r = run_labyrinth({"explain", kSample});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("failure 1 of 2"), 0u);
  EXPECT_NE(r.out.find("\n  fragmentation: Node 0 Normal"), std::string::npos);
  EXPECT_NE(r.out.find("\n  watermark: Node 0 Normal"), std::string::npos);
  EXPECT_NE(r.out.find("min_free_kbytes <= 64239 kB"), std::string::npos);
}

TEST(ExplainCli, JsonConformsToTheSchema) {
  labyrinth::testing::TempDir dir;
  const std::string out = dir.file("explain.json");
  const auto r = run_labyrinth({"explain", kSample, "--json", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(read(out));
  const labyrinth::testing::SchemaChecker checker(schema());
  const auto errors = checker.check(doc);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(doc["schema_version"], 1);
  ASSERT_EQ(doc["failures"].size(), 2u);
  EXPECT_EQ(doc["failures"][0]["cause"], "fragmentation");
  EXPECT_EQ(doc["failures"][0]["gfp_mask"], "0xa20");
  EXPECT_EQ(doc["failures"][1]["advice"]["max_min_free_kbytes"], 64239);
  // Fixtures and broken inputs conform too.
  for (const char* f : {"csky_4.9_atomic_order10_cma.log", "android_6.1_arm64_nowait_order0.log",
                        "zfs_2.6.38_atomic_order0.log"}) {
    SCOPED_TRACE(f);
    const auto rr = run_labyrinth({"explain", std::string(LABYRINTH_SOURCE_DIR "/tests/fixtures/explain/") + f,
                                   "--json", "-"});
    const auto errs = checker.check(nlohmann::json::parse(rr.out));
    EXPECT_TRUE(errs.empty()) << errs.front();
  }
}

TEST(ExplainCli, ExitCodesPerReport) {
  labyrinth::testing::TempDir dir;
  // No report at all: 1, with a hint.
  write(dir.file("none.log"), "[    0.000000] Linux version 6.6.0\n");
  auto r = run_labyrinth({"explain", dir.file("none.log")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no 'page allocation failure' report"), std::string::npos);
  // A complete report followed by a cut one: the first is explained, exit 3 names the second.
  std::string text = read(kSample);
  text = text.substr(0, text.find("[ 8127.001170] Mem-Info:"));
  write(dir.file("cut.log"), text);
  r = run_labyrinth({"explain", dir.file("cut.log")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("fragmentation: Node 0 Normal"), std::string::npos);
  EXPECT_NE(r.err.find("report 2"), std::string::npos);
  EXPECT_NE(r.err.find("Mem-Info"), std::string::npos);
  // A kernel the rules do not cover: 5, still explaining nothing wrongly.
  r = run_labyrinth({"explain", kSample, "--kernel", "8.0"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.out.find("not modelled"), std::string::npos);
  // A bad --kernel is a usage error.
  r = run_labyrinth({"explain", kSample, "--kernel", "banana"});
  EXPECT_EQ(r.exit_code, 2);
  // stdin.
  r = run_labyrinth({"explain", "-"}, kSample);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("failure 2 of 2"), std::string::npos);
}

}  // namespace
