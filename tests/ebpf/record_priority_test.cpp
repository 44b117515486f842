// record --realtime puts the recorder's reader in the real-time class, so that a busy machine
// cannot keep it waiting while the ring buffer fills; the recorded command keeps the normal
// class, and without the option (or with 0) the reader stays at its niceness. The command reads its
// parent's (the reader's) scheduling policy and niceness from /proc (fields 41 and 19).
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bpf_test.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

namespace labyrinth {
namespace {

using testing::run_labyrinth;

class RecordPriority : public testing::BpfTest {
 protected:
  // "READER_POLICY READER_NICE COMMAND_POLICY" as the recorded command saw them.
  std::string policies(const std::string& realtime) {
    const auto r = run_labyrinth({"record", "-o", dir_.file("p.trace"), "-f", "--no-kpageflags", "--realtime",
                                  realtime, "--", "sh", "-c",
                                  "echo $(cut -d' ' -f41,19 /proc/$PPID/stat) $(cut -d' ' -f41 /proc/self/stat)"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream in(r.out);
    std::string nice, policy, command;
    in >> nice >> policy >> command;
    return policy + " " + nice + " " + command;
  }
  testing::TempDir dir_;
};

TEST_F(RecordPriority, TheReaderIsRealTimeAndTheCommandIsNot) {
  if (IsSkipped() || HasFatalFailure()) return;
  EXPECT_EQ(policies("1"), "1 -10 0");   // SCHED_FIFO; niceness kept for its threads; SCHED_OTHER
  EXPECT_EQ(policies("0"), "0 -10 0");   // the normal class at --nice
}

// The recorder locks its pages (mlockall on fault) so that memory pressure cannot make it read
// its own code back; the command inherits no lock, and --no-mlock leaves the recorder as it was.
// Each side reports VmLck (kB) from /proc.
class RecordMemoryLock : public testing::BpfTest {
 protected:
  // {recorder's VmLck, command's VmLck}
  std::pair<long, long> locked_kib(bool no_mlock) {
    std::vector<std::string> args{"record", "-o", dir_.file("l.trace"), "-f", "--no-kpageflags"};
    if (no_mlock) args.emplace_back("--no-mlock");
    for (const char* a : {"--", "sh", "-c",
                          "echo $(awk '/^VmLck/ {print $2}' /proc/$PPID/status) "
                          "$(awk '/^VmLck/ {print $2}' /proc/self/status)"}) {
      args.emplace_back(a);
    }
    const auto r = run_labyrinth(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream in(r.out);
    long recorder = -1, command = -1;
    in >> recorder >> command;
    return {recorder, command};
  }
  testing::TempDir dir_;
};

TEST_F(RecordMemoryLock, TheRecorderLocksItsPagesAndTheCommandDoesNot) {
  if (IsSkipped() || HasFatalFailure()) return;
  const auto [recorder, command] = locked_kib(false);
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer intercepts mlockall(2) and makes it a no-op that succeeds.
  EXPECT_EQ(recorder, 0);
#else
  EXPECT_GT(recorder, 0);
#endif
  EXPECT_EQ(command, 0);
  const auto [unlocked, command_unlocked] = locked_kib(true);
  EXPECT_EQ(unlocked, 0);
  EXPECT_EQ(command_unlocked, 0);
}

// Every allocation event carries the allocating task's state that __alloc_pages reads (trace
// format 1.4): a command run in the real-time class allocates with it, the recorder without.
class RecordTaskState : public testing::BpfTest {
 protected:
  testing::TempDir dir_;
};

TEST_F(RecordTaskState, ARealTimeCommandsAllocationsCarryItsState) {
  if (IsSkipped() || HasFatalFailure()) return;
  const std::string trace = dir_.file("rt.trace");
  const auto r = run_labyrinth({"record", "-o", trace, "-f", "--no-kpageflags", "--", "chrt", "-f", "1", "sh", "-c",
                                "dd if=/dev/zero of=/dev/shm/labyrinth-rt-$$ bs=1M count=4 2>/dev/null; "
                                "rm -f /dev/shm/labyrinth-rt-$$"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto text = run_labyrinth({"script", trace});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  std::istringstream lines(text.out);
  std::uint64_t dd = 0, dd_rt = 0, recorder = 0, recorder_rt = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" alloc ") == std::string::npos || line.find(" ctx=task") == std::string::npos) continue;
    const bool rt = line.find(" task=rt") != std::string::npos;
    if (line.find(" comm=dd ") != std::string::npos) {
      ++dd;
      dd_rt += rt ? 1 : 0;
    } else if (line.find(" comm=labyrinth ") != std::string::npos) {
      ++recorder;
      recorder_rt += rt ? 1 : 0;
    }
  }
  EXPECT_GE(dd, 1024u);  // 4 MiB of shmem pages, in dd's own context
  EXPECT_EQ(dd_rt, dd);
  EXPECT_GT(recorder, 0u);
  EXPECT_EQ(recorder_rt, 0u);
}

}  // namespace
}  // namespace labyrinth
