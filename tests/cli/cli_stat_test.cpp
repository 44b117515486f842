// labyrinth stat and script as a user runs them: exit codes, messages, JSON files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
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

// A free event carries no migratetype, GFP flags or call site: those tables have no frees
// column (it could only show zeros), the context and process tables count the free.
TEST_F(CliStat, FreesAreShownOnlyWhereTheyAreCounted) {
  const auto r = run_labyrinth({"stat", trace_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto table = [&](const std::string& title) {
    const auto at = r.out.find("\n" + title + "\n");
    EXPECT_NE(at, std::string::npos) << title << " missing:\n" << r.out;
    const auto end = r.out.find("\n\n", at + 1);
    return r.out.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  };
  EXPECT_EQ(table("By order and migratetype").find("frees"), std::string::npos);
  EXPECT_EQ(table("By GFP flags").find("frees"), std::string::npos);
  const std::string process = table("By process");
  EXPECT_NE(process.find("frees"), std::string::npos);
  EXPECT_TRUE(std::regex_search(process, std::regex(R"(\n\s+1\s+4\.0 KiB\s+0\s+1\s+5\s+w)"))) << process;
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

// A `record -g` trace of 6.18 stacks (tests/replay/cases/recorded_stacks.txt): 13 allocations
// (6 from do_wp_page, 6 from do_anonymous_page, 1 skb refill) and a failed skb refill.
class CliFolded : public CliStat {
 protected:
  void SetUp() override {
    CliStat::SetUp();
    stacks_ = file("stacks.trace");
    std::ifstream in(std::string(LABYRINTH_SOURCE_DIR) + "/tests/replay/cases/recorded_stacks.txt");
    traces::convert_text_to_trace(in, "recorded_stacks.txt", stacks_);
  }
  std::string stacks_;
};

// The rules flamegraph.pl and inferno read folded lines by: frames joined by ';', none empty,
// then one space and the count (both split at the last space; our frames have none).
void expect_folded_format(const std::string& folded) {
  const std::regex line_rule("^[^ ;][^;]*(;[^;]+)* [0-9]+$");
  std::istringstream lines(folded);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_TRUE(std::regex_match(line, line_rule)) << line;
    EXPECT_EQ(line.find(";;"), std::string::npos) << line;
    EXPECT_EQ(line.find(' '), line.rfind(' ')) << "a space inside a frame: " << line;
  }
  EXPECT_GT(n, 0);
  EXPECT_TRUE(folded.empty() || folded.back() == '\n');
}

TEST_F(CliFolded, WritesOneLinePerStackOutermostFirstWithoutTracingFrames) {
  const std::string out = file("a.folded");
  const auto r = run_labyrinth({"stat", stacks_, "--folded", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string folded = ss.str();
  expect_folded_format(folded);
  EXPECT_EQ(folded,
            "asm_exc_page_fault;exc_page_fault;do_user_addr_fault;handle_mm_fault;__handle_mm_fault;do_anonymous_page;"
            "vma_alloc_folio_noprof;folio_alloc_mpol_noprof;alloc_pages_mpol;__alloc_frozen_pages_noprof 6\n"
            "asm_exc_page_fault;exc_page_fault;do_user_addr_fault;handle_mm_fault;__handle_mm_fault;do_wp_page;"
            "vma_alloc_folio_noprof;alloc_pages_mpol;__alloc_frozen_pages_noprof 6\n"
            "sock_sendmsg;tcp_sendmsg;tcp_sendmsg_locked;sk_page_frag_refill;skb_page_frag_refill;alloc_pages_noprof;"
            "alloc_pages_mpol;__alloc_frozen_pages_noprof 1\n");
  EXPECT_EQ(folded.find("bpf"), std::string::npos);
  EXPECT_EQ(folded.find("0xffffffffc00295e9"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // stacks are trace data
}

TEST_F(CliFolded, CountsFailuresOrPagesOnRequest) {
  auto r = run_labyrinth({"stat", stacks_, "--folded", "-", "--folded-by", "failures"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_folded_format(r.out);  // stdout holds the folded lines alone
  EXPECT_EQ(r.out,
            "sock_sendmsg;tcp_sendmsg;tcp_sendmsg_locked;sk_page_frag_refill;skb_page_frag_refill;alloc_pages_noprof;"
            "alloc_pages_mpol;__alloc_frozen_pages_noprof 1\n");
  r = run_labyrinth({"stat", stacks_, "--folded", "-", "--folded-by", "pages"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::uint64_t pages = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) pages += std::stoull(line.substr(line.rfind(' ') + 1));
  EXPECT_EQ(pages, 13u);
  EXPECT_EQ(run_labyrinth({"stat", stacks_, "--folded", "-", "--folded-by", "bytes"}).exit_code, 2);
  EXPECT_EQ(run_labyrinth({"stat", stacks_, "--folded-by", "pages"}).exit_code, 2);  // needs --folded
}

TEST_F(CliFolded, AddsUpToTheTotalsWithEventsWithoutStacks) {
  // The trace of the fixture has no stacks at all: folding it is an error that says why.
  auto r = run_labyrinth({"stat", trace_, "--folded", "-"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no kernel stacks"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("record -g"), std::string::npos) << r.err;
  // Some events with a stack, one without, one whose stack is lost, one stack that is all
  // tracing frames; the module frame keeps its module without a space.
  const std::string mixed = file("mixed.trace");
  std::istringstream in(R"(!cpus 1
!zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4096 min=128 low=160 high=192
!stack 1 0xffffffffc00295e9;bpf_trace_run4+0x13d;__alloc_frozen_pages_noprof+0x2d1;alloc_pages_noprof+0x5a;mlx5e_alloc_rx_wqe+0x3a\x20[mlx5_core];net_rx_action+0x1f0
!stack 2 0xffffffffc00295e9;bpf_trace_run4+0x13d
100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_ATOMIC stack=1
110 alloc pfn=0x1001 order=0 mt=1 gfp=GFP_ATOMIC
120 alloc pfn=0x1002 order=0 mt=1 gfp=GFP_ATOMIC stack=2
130 alloc pfn=0x1003 order=0 mt=1 gfp=GFP_ATOMIC stack=9
)");
  traces::convert_text_to_trace(in, "mixed.txt", mixed);
  r = run_labyrinth({"stat", mixed, "--folded", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_folded_format(r.out);
  EXPECT_NE(r.out.find("net_rx_action;mlx5e_alloc_rx_wqe_[mlx5_core];alloc_pages_noprof;__alloc_frozen_pages_noprof 1\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[no_stack] 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[stack_lost] 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[unknown] 1\n"), std::string::npos) << r.out;
}

TEST_F(CliFolded, RefusesToClobberOrFollowSymlinksAndSharesStdoutWithNothing) {
  const std::string out = file("b.folded");
  std::ofstream(out) << "keep\n";
  auto r = run_labyrinth({"stat", stacks_, "--folded", out, "-q"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("file exists (use -f"), std::string::npos) << r.err;
  r = run_labyrinth({"stat", stacks_, "--folded", out, "-q", "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string target = file("target");
  std::ofstream(target) << "x\n";
  const std::string link = file("link.folded");
  std::filesystem::create_symlink(target, link);
  r = run_labyrinth({"stat", stacks_, "--folded", link, "-q", "-f"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  std::ifstream t(target);
  std::string content;
  std::getline(t, content);
  EXPECT_EQ(content, "x");
  r = run_labyrinth({"stat", stacks_, "--folded", "-", "--json", "-"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("standard output"), std::string::npos) << r.err;
  // With --json FILE both are written.
  const std::string json = file("r.json");
  r = run_labyrinth({"stat", stacks_, "--folded", file("c.folded"), "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(json));
  EXPECT_NE(r.out.find("By call site"), std::string::npos);
}

// A 7-digit pid (pid_max goes to 4194304) used to run into its comm: "1234567bash".
TEST_F(CliFolded, ProcessTablesKeepLongPidsApartFromTheComm) {
  const auto r = run_labyrinth({"stat", stacks_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("1234567bash"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  1234567  bash\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  0        swapper/0\n"), std::string::npos) << r.out;  // pids in one column
  EXPECT_NE(r.out.find("  pid      comm\n"), std::string::npos) << r.out;
}

// flamegraph.pl (Brendan Gregg's FlameGraph) draws our output; Debian 12 does not package it,
// so this runs where someone has put it on the PATH.
TEST_F(CliFolded, FlamegraphPlAcceptsTheOutput) {
  if (std::system("command -v flamegraph.pl >/dev/null 2>&1") != 0) GTEST_SKIP() << "flamegraph.pl is not installed";
  const std::string out = file("f.folded");
  ASSERT_EQ(run_labyrinth({"stat", stacks_, "--folded", out, "-q"}).exit_code, 0);
  const std::string svg = file("f.svg");
  ASSERT_EQ(std::system(("flamegraph.pl '" + out + "' > '" + svg + "' 2>/dev/null").c_str()), 0);
  std::ifstream in(svg);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("do_wp_page"), std::string::npos);
}

// A help ends with a blank line, so that what the shell prints next stands apart (record's
// footer once ended right at its last example). Help needs no privileges: nothing is recorded.
TEST(CliHelp, EveryHelpEndsWithABlankLine) {
  for (const char* cmd : {"record", "stat", "replay", "import", "script", "info"}) {
    const auto r = run_labyrinth({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_TRUE(r.out.ends_with("\n\n")) << cmd << " --help ends with: ..." << r.out.substr(r.out.size() - std::min<std::size_t>(r.out.size(), 60));
    EXPECT_FALSE(r.out.ends_with("\n\n\n")) << cmd;
  }
  const auto top = run_labyrinth({"--help"});
  EXPECT_TRUE(top.out.ends_with("\n\n")) << top.out;
  // A wrong option: one error and the pointer to --help, each on its own line, no help text.
  const auto r = run_labyrinth({"record", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err, "The following argument was not expected: --bogus\nRun with --help for more information.\n");
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
