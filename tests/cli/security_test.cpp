// What the commands write and with which rights (issue 6, security): trace data is created
// 0600 whatever the umask, never through a symbolic link, never over a file without -f; the
// commands that only read traces work as an unprivileged user.
#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bpf_test.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

namespace labyrinth {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::run_labyrinth;

const std::string kSamples = std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/";
const std::string kCase = std::string(LABYRINTH_SOURCE_DIR) + "/tests/replay/cases/fragmentation_then_merge.txt";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class OutputSafety : public ::testing::Test {
 protected:
  void SetUp() override { old_umask_ = ::umask(0); }  // the most permissive a user can have
  void TearDown() override { ::umask(old_umask_); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  testing::TempDir dir_;
  mode_t old_umask_ = 022;
};

TEST_F(OutputSafety, TraceDataIsCreatedOwnerOnlyWhateverTheUmask) {
  const std::string trace = file("case.trace");
  auto r = run_labyrinth({"import", "text", kCase, "-o", trace});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(trace), 0600u);
  r = run_labyrinth({"import", "perf-script", kSamples + "perf-script.txt.zst", "-o", file("perf.trace"), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(file("perf.trace")), 0600u);
  r = run_labyrinth({"script", trace, "-o", file("case.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(file("case.txt")), 0600u);
  // overwriting a world-readable file leaves it owner-only
  std::ofstream(file("old.trace")) << "old";
  std::ofstream(file("old.txt")) << "old";
  ASSERT_EQ(::chmod(file("old.trace").c_str(), 0666), 0);
  ASSERT_EQ(::chmod(file("old.txt").c_str(), 0666), 0);
  r = run_labyrinth({"import", "text", kCase, "-f", "-o", file("old.trace")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(file("old.trace")), 0600u);
  r = run_labyrinth({"script", trace, "-f", "-o", file("old.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(file("old.txt")), 0600u);
  EXPECT_NE(slurp(file("old.txt")).find("!labyrinth-text"), std::string::npos);
  // no temporary file is left next to the outputs
  for (const auto& name : dir_.entries()) EXPECT_EQ(name.find("importing"), std::string::npos) << name;
}

TEST_F(OutputSafety, ASymbolicLinkAtTheOutputIsRefusedEvenWithForce) {
  const std::string trace = file("case.trace");
  ASSERT_EQ(run_labyrinth({"import", "text", kCase, "-o", trace}).exit_code, 0);
  const std::string victim = file("victim");
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, file("to-victim"));
  fs::create_symlink(file("nowhere"), file("dangling"));
  for (const std::string link : {"to-victim", "dangling"}) {
    for (const bool force : {false, true}) {
      SCOPED_TRACE(link + (force ? " -f" : ""));
      const std::vector<std::vector<std::string>> commands = {
          {"import", "text", kCase, "-o", file(link)},
          {"script", trace, "-o", file(link)},
      };
      for (auto args : commands) {
        if (force) args.push_back("-f");
        const auto r = run_labyrinth(args);
        EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
        EXPECT_NE(r.err.find(file(link) + ": is a symbolic link; refusing to write through it"), std::string::npos)
            << args[0] << ": " << r.err;
        EXPECT_TRUE(fs::is_symlink(file(link)));
      }
    }
  }
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_EQ(mode_of(victim), 0666u);
  EXPECT_FALSE(fs::exists(file("nowhere")));
  // Reports go through common::OutputFile like every output: a link there is refused too.
  fs::create_symlink(victim, file("report.json"));
  const auto r = run_labyrinth({"stat", trace, "--json", file("report.json")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(file("report.json") + ": is a symbolic link; refusing to write through it"), std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_symlink(file("report.json")));
  EXPECT_EQ(slurp(victim), "precious");
}

TEST_F(OutputSafety, AnExistingFileIsOverwrittenOnlyWithForce) {
  const std::string trace = file("case.trace");
  ASSERT_EQ(run_labyrinth({"import", "text", kCase, "-o", trace}).exit_code, 0);
  std::ofstream(file("there")) << "precious";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"import", "text", kCase, "-o", file("there")},
                                               std::vector<std::string>{"script", trace, "-o", file("there")}}) {
    const auto r = run_labyrinth(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(file("there") + ": file exists (use -f to overwrite it)"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(file("there")), "precious");
  }
  // a FIFO or a device is written as is (no -f needed: nothing is overwritten)
  const auto r = run_labyrinth({"script", trace, "-o", "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// import, stat, script and replay as nobody, started from a directory nobody can read:
// none of them needs root, reads or writes the current directory, or needs /sys/kernel/tracing.
TEST(Unprivileged, ImportStatScriptAndReplayWorkAsNobody) {
  std::string why;
  if (::geteuid() != 0) why = "not root: cannot switch to nobody";
  if (why.empty() && ::access("/usr/bin/setpriv", X_OK) != 0) why = "no setpriv";
  const passwd* nobody = ::getpwnam("nobody");
  if (why.empty() && nobody == nullptr) why = "no user nobody";
  LABYRINTH_SKIP_OR_FAIL_WITHOUT(why);
  testing::TempDir base;
  ASSERT_EQ(::chmod(base.path().c_str(), 0711), 0);  // nobody may pass, not list
  const std::string cwd = base.file("cwd");
  const std::string work = base.file("work");
  fs::create_directory(cwd);
  fs::create_directory(work);
  ASSERT_EQ(::chmod(cwd.c_str(), 0700), 0);
  ASSERT_EQ(::chown(work.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  ASSERT_EQ(::chmod(work.c_str(), 0700), 0);
  const std::string w = work + "/";
  auto as_nobody = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=" + std::to_string(nobody->pw_uid),
                               "--regid=" + std::to_string(nobody->pw_gid), "--clear-groups", "--inh-caps=-all",
                               LABYRINTH_CLI});
    return run_command(args, "/dev/null", cwd);
  };
  struct Step {
    std::vector<std::string> args;
    std::string output;  // a file it must create, owned by nobody
  };
  const std::vector<Step> steps = {
      {{"import", "perf-script", kSamples + "perf-script.txt.zst", "-o", w + "perf.trace", "-q"}, w + "perf.trace"},
      {{"import", "text", kCase, "-o", w + "case.trace"}, w + "case.trace"},
      {{"stat", w + "perf.trace", "--json", w + "stat.json"}, w + "stat.json"},
      {{"script", w + "case.trace", "-o", w + "case.txt"}, w + "case.txt"},
      {{"import", "text", w + "case.txt", "-o", w + "again.trace"}, w + "again.trace"},
      {{"replay", w + "case.trace", "--json", w + "mirror.json", "--timeline", w + "t.csv"}, w + "t.csv"},
      {{"replay", w + "case.trace", "--balloon", "1M", "--json", w + "sim.json"}, w + "sim.json"},
      {{"replay", w + "perf.trace", "-q", "--json", w + "perf.json"}, w + "perf.json"},
  };
  for (const Step& step : steps) {
    const auto r = as_nobody(step.args);
    EXPECT_EQ(r.exit_code, 0) << step.args[0] << " " << step.args[1] << ": " << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(step.output.c_str(), &st), 0) << step.output;
    EXPECT_EQ(st.st_uid, nobody->pw_uid) << step.output;
  }
  EXPECT_EQ(mode_of(w + "perf.trace"), 0600u);
  EXPECT_TRUE(fs::is_empty(cwd));
  // and record, which does need privileges, says so without touching anything
  const auto r = as_nobody({"record", "-d", "1", "-o", w + "rec.trace"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(w + "rec.trace"));
}

}  // namespace
}  // namespace labyrinth
