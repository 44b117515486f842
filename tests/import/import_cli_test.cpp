// labyrinth import as a user runs it: the GFP table it says it used, bad input of every kind
// (a clear error naming the file and line, a non-zero exit, no output left behind), unknown
// lines counted with their line numbers, loss markers, stdin, overwriting, SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "import_test_util.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using import_testing::read_events;
using import_testing::sample_path;
using import_testing::TempDir;
using testing::run_labyrinth;

constexpr const char* kGoodLines =
    "cpus=2\n"
    "       kworker/0:1-1234  [000]  3370.358702: mm_page_alloc:        page=0x1ecf9d pfn=0x1ecf9d order=0 "
    "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP\n"
    "            ping-77      [001]  3370.358800: mm_page_alloc:        page=(nil) pfn=0x0 order=3 migratetype=0 "
    "gfp_flags=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP\n"
    "       kdamond.0-77      [000]  3371.040831: mm_page_free:         page=0x1ecf9d pfn=0x1ecf9d order=0\n";

class ImportCli : public ::testing::Test {
 protected:
  // Nothing but the expected files: no temporary output left behind by a failed import.
  void expect_only(std::vector<std::string> names) const {
    auto have = dir_.entries();
    std::sort(have.begin(), have.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(have, names);
  }
  TempDir dir_;
};

TEST_F(ImportCli, ImportsAndSaysWhichGfpTableItUsed) {
  dir_.write("c.txt", kGoodLines);
  auto r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("a.trace"), "--format-file",
                          sample_path("mm_page_alloc.format")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("imported 3 events"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("format-file table from " + sample_path("mm_page_alloc.format")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("failed 1"), std::string::npos) << r.err;

  ::setenv("LABYRINTH_TRACEFS", dir_.file("no-tracefs").c_str(), 1);
  r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("b.trace")});
  ::unsetenv("LABYRINTH_TRACEFS");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("built-in table"), std::string::npos) << r.err;

  traces::TraceReader reader(dir_.file("a.trace"));
  EXPECT_EQ(reader.header().gfp_table_source, traces::GfpTableSource::FormatFile);
  EXPECT_EQ(reader.header().nr_cpus, 2U);
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0].gfp, 0x140ccaU);
  EXPECT_EQ(reader.comm(events[0].comm_id), "kworker/0:1");
  EXPECT_TRUE(events[1].failed());
  EXPECT_EQ(events[1].gfp, 0x52820U);
  EXPECT_EQ(events[2].kind, traces::EventKind::Free);
  EXPECT_EQ(events[2].ts_ns, 3371040831000ULL);
  expect_only({"c.txt", "a.trace", "b.trace"});

  const auto stat = run_labyrinth({"stat", dir_.file("a.trace"), "--json", "-"});
  EXPECT_EQ(stat.exit_code, 0) << stat.err;
}

TEST_F(ImportCli, UnknownFormat) {
  dir_.write("c.txt", kGoodLines);
  const auto r = run_labyrinth({"import", "systemtap", dir_.file("c.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown capture format 'systemtap'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ftrace, trace-cmd, perf-script"), std::string::npos) << r.err;
  expect_only({"c.txt"});
}

TEST_F(ImportCli, MissingEmptyBinaryAndNonTraceInput) {
  auto r = run_labyrinth({"import", "ftrace", dir_.file("nope.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir_.file("nope.txt") + ": cannot open"), std::string::npos) << r.err;

  dir_.write("empty.txt", "");
  r = run_labyrinth({"import", "ftrace", dir_.file("empty.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir_.file("empty.txt") + ": empty input"), std::string::npos) << r.err;

  dir_.write("perf.data", std::string("PERFILE2\0\0\0\0\x68\0\0\0", 16));
  r = run_labyrinth({"import", "perf-script", dir_.file("perf.data"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("perf.data file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("perf script -i"), std::string::npos) << r.err;

  dir_.write("notes.txt", "Shopping list\n\n- eggs\n- milk\n");
  r = run_labyrinth({"import", "ftrace", dir_.file("notes.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir_.file("notes.txt") + ": no kmem page events found in 4 lines"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 unparseable lines, the first at line 1"), std::string::npos) << r.err;

  r = run_labyrinth({"import", "auto", dir_.file("notes.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot tell the capture format"), std::string::npos) << r.err;
  expect_only({"empty.txt", "perf.data", "notes.txt"});
}

TEST_F(ImportCli, OnlyOtherEvents) {
  dir_.write("sched.txt",
             "# tracer: nop\n"
             "          <idle>-0       [001] d..2.   100.000001: sched_switch: prev_comm=swapper/1 prev_pid=0\n"
             "            bash-12      [000] .....   100.000002: tracing_mark_write: hello\n");
  const auto r = run_labyrinth({"import", "ftrace", dir_.file("sched.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no kmem page events found in 3 lines"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 lines of other events (sched_switch, tracing_mark_write)"), std::string::npos) << r.err;
  expect_only({"sched.txt"});
}

TEST_F(ImportCli, UnwritableOutput) {
  dir_.write("c.txt", kGoodLines);
  auto r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("missing-dir/a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir_.file("missing-dir/a.trace") + ": cannot create"), std::string::npos) << r.err;

  std::filesystem::create_directory(dir_.path() / "sub");
  r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("sub")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;

  r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", "/proc/version"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/proc/version"), std::string::npos) << r.err;
  expect_only({"c.txt", "sub"});
}

TEST_F(ImportCli, ExistingOutputNeedsForce) {
  dir_.write("c.txt", kGoodLines);
  dir_.write("a.trace", "precious");
  auto r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("a.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("file exists (use -f"), std::string::npos) << r.err;
  EXPECT_EQ(import_testing::read_file(dir_.file("a.trace")), "precious");
  r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("a.trace"), "-f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  traces::TraceReader reader(dir_.file("a.trace"));
  EXPECT_EQ(read_events(reader).size(), 3U);
  r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("c.txt"), "-f"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
  EXPECT_EQ(import_testing::read_file(dir_.file("c.txt")), kGoodLines);
  expect_only({"c.txt", "a.trace"});
}

TEST_F(ImportCli, BadLinesAreCountedAndShownWithLineNumbers) {
  std::string text = kGoodLines;
  text += "garbage line one\n";                                                          // 5
  text += "            ping-77      [001]  3371.1: mm_page_alloc: page=0x1 order=0\n";   // 6: no pfn
  text += "            ping-77      [001]  3371.2: sched_switch: prev_comm=ping\n";       // 7
  text += "CPU:1 [7 EVENTS DROPPED]\n";                                                   // 8
  text += "CPU:0 [EVENTS DROPPED]\n";                                                     // 9
  text += "            ping-77      [001]  3371.3: mm_page_alloc: page=0x2 pfn=0x2 order=0 migratetype=0 "
          "gfp_flags=GFP_KERNEL|__GFP_FUTURE\n";                                          // 10
  for (int i = 0; i < 6; ++i) text += "more garbage " + std::to_string(i) + "\n";        // 11-16
  dir_.write("c.txt", text);
  const auto r = run_labyrinth({"import", "trace-cmd", dir_.file("c.txt"), "-o", dir_.file("a.trace")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("8 lines could not be parsed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir_.file("c.txt") + ":5: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir_.file("c.txt") + ":6: mm_page_alloc: no pfn= field"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir_.file("c.txt") + ":13: "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(dir_.file("c.txt") + ":14: "), std::string::npos) << "only the first five are shown";
  EXPECT_NE(r.err.find("lost 8 events"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("__GFP_FUTURE (1)"), std::string::npos) << r.err;
  traces::TraceReader reader(dir_.file("a.trace"));
  const auto events = read_events(reader);
  ASSERT_EQ(events.size(), 4U);
  EXPECT_EQ(events[3].gfp, 0xcc0U);
  EXPECT_EQ(reader.footer().losses.lines_skipped, 8U);
  EXPECT_EQ(reader.footer().losses.lines_other_events, 1U);
  EXPECT_EQ(reader.footer().losses.lost_events, 8U);
}

TEST_F(ImportCli, StdinZstdAndTextTwin) {
  dir_.write("c.txt", kGoodLines);
  auto r = run_labyrinth({"import", "auto", "-", "-o", dir_.file("a.trace")}, dir_.file("c.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("from <stdin> (trace-cmd"), std::string::npos) << r.err;

  r = run_labyrinth({"import", "perf-script", sample_path("perf-script.txt.zst"), "-o", dir_.file("p.trace")});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  dir_.write("twin.txt", "!cpus 1\n100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL pid=5 comm=w ctx=task\n"
                         "300 free pfn=0x1000 order=0 pid=5 comm=w ctx=task\n");
  r = run_labyrinth({"import", "text", dir_.file("twin.txt"), "-o", dir_.file("t.trace")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("imported 2 events"), std::string::npos) << r.err;
  dir_.write("bad-twin.txt", "!cpus 1\n100 alloc pfn=0x1000 order=banana\n");
  r = run_labyrinth({"import", "text", dir_.file("bad-twin.txt"), "-o", dir_.file("u.trace")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir_.file("bad-twin.txt") + ":2"), std::string::npos) << r.err;
  expect_only({"c.txt", "a.trace", "p.trace", "twin.txt", "t.trace", "bad-twin.txt"});
}

TEST_F(ImportCli, InterruptLeavesNothingBehind) {
  const std::string fifo = dir_.file("in.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl(LABYRINTH_CLI, LABYRINTH_CLI, "import", "trace-cmd", fifo.c_str(), "-o", dir_.file("a.trace").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Open the FIFO only once the importer has, without blocking: an importer that dies first
  // (an exec refused for want of memory beside a balloon) must fail the test, not hang it.
  int fd = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
    ASSERT_EQ(errno, ENXIO) << std::strerror(errno);  // ENXIO: no reader yet
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) FAIL() << "the importer exited before opening its input: status " << status;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "the importer did not open its input in 60 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
  std::string lines;
  for (int i = 0; i < 20000; ++i) {
    lines += "  w-1 [000] " + std::to_string(100 + i) + ".000001: mm_page_free: page=0x1 pfn=0x1 order=0\n";
  }
  for (std::size_t at = 0; at < lines.size();) {
    const ssize_t n = ::write(fd, lines.data() + at, lines.size() - at);
    ASSERT_GT(n, 0) << std::strerror(errno);
    at += static_cast<std::size_t>(n);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the importer now waits for more input
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fd);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  expect_only({"in.fifo"});
}

}  // namespace
}  // namespace labyrinth
