// record --realtime puts the recorder's reader in the real-time class, so that a busy machine
// cannot keep it waiting while the ring buffer fills; the recorded command keeps the normal
// class, and without the option (or with 0) the reader stays at its niceness. The command reads its
// parent's (the reader's) scheduling policy and niceness from /proc (fields 41 and 19).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

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

}  // namespace
}  // namespace labyrinth
