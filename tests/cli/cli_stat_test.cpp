// labyrinth stat and script as a user runs them: exit codes, messages, JSON files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "labyrinth/traces/text_trace.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using testing::run_labyrinth;

class CliStat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("laby-cli-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    trace_ = file("t.trace");
    std::istringstream in(R"(!cpus 1
!zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4096 min=128 low=160 high=192
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL pid=5 comm=w ctx=task
200 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC ctx=softirq
300 free pfn=0x1000 order=0 pid=5 comm=w ctx=task
)");
    traces::convert_text_to_trace(in, "t.txt", trace_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
  std::string trace_;
};

TEST_F(CliStat, PrintsSummaryAndWritesJson) {
  const std::string json = file("r.json");
  const auto r = run_labyrinth({"stat", trace_, "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("allocations"), std::string::npos);
  EXPECT_NE(r.out.find("Failures by context"), std::string::npos);
  std::ifstream in(json);
  const auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["summary"]["allocations"], 1);
  EXPECT_EQ(doc["summary"]["frees"], 1);
  EXPECT_EQ(doc["summary"]["failures"], 1);
}

TEST_F(CliStat, JsonToStdoutSuppressesText) {
  const auto r = run_labyrinth({"stat", trace_, "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["summary"]["failures_by_class"]["atomic"]["failures"], 1);
}

TEST_F(CliStat, MissingTraceFailsWithHint) {
  const auto r = run_labyrinth({"stat", file("nope.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope.trace: cannot open"), std::string::npos) << r.err;
}

TEST_F(CliStat, NonTraceFileIsBadTrace) {
  const std::string text = file("capture.txt");
  std::ofstream(text) << "bash-1 [000] 1.0: mm_page_alloc: pfn=0x1\n";
  const auto r = run_labyrinth({"stat", text});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("offset 0"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labyrinth import"), std::string::npos) << r.err;
}

TEST_F(CliStat, TruncatedTraceReportsPrefixAndFails) {
  const auto size = std::filesystem::file_size(trace_);
  std::filesystem::resize_file(trace_, size - 10);  // cuts into the footer
  const auto r = run_labyrinth({"stat", trace_, "--json", "-"});
  EXPECT_EQ(r.exit_code, 3);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["summary"]["allocations"], 1);
  EXPECT_FALSE(doc["capture"]["complete"].get<bool>());
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 events were readable"), std::string::npos) << r.err;
}

TEST_F(CliStat, UnwritableJsonPathFailsAndLeavesNothing) {
  const auto r = run_labyrinth({"stat", trace_, "--json", file("no/such/dir/r.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("r.json: cannot create"), std::string::npos) << r.err;
}

TEST_F(CliStat, WrongOptionsExitTwo) {
  EXPECT_EQ(run_labyrinth({"stat", "--top", "many"}).exit_code, 2);
  EXPECT_EQ(run_labyrinth({"stat", "--bogus"}).exit_code, 2);
  EXPECT_EQ(run_labyrinth({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_labyrinth({}).exit_code, 2);
}

TEST_F(CliStat, ScriptPrintsTheTextTwinWhichImportsBack) {
  const auto r = run_labyrinth({"script", trace_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200 alloc pfn=failed order=3"), std::string::npos);
  std::istringstream in(r.out);
  const std::string again = file("again.trace");
  EXPECT_EQ(traces::convert_text_to_trace(in, "script", again).events, 3u);
}

}  // namespace
}  // namespace labyrinth
