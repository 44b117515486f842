// The one output module: what it refuses (a symbolic link, an existing file unless asked, a
// directory), what it leaves behind when writing fails (nothing: read-only directory, disk
// full), the modes it creates, writing in place (a recording) and into a FIFO.
#include "labyrinth/common/output_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace labyrinth::common {
namespace {

namespace fs = std::filesystem;

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("labyrinth-output-test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (const auto& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::permissions(dir_ / "ro", fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Only the files the test made: no temporary left behind.
  std::size_t entries(const std::string& d) const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) ++n;
    return n;
  }
  // Root can mount; CI runs as root, so there a failed mount is a failure, elsewhere a skip.
  bool mount_tmpfs(const std::string& d, unsigned long flags, const char* opts) {
    fs::create_directories(d);
    if (::mount("tmpfs", d.c_str(), "tmpfs", flags, opts) == 0) {
      mounts_.push_back(d);
      return true;
    }
    return false;
  }

  fs::path dir_;
  std::vector<std::string> mounts_;
};

TEST_F(OutputFileTest, WritesAndCommitsWithTheAskedMode) {
  write_file(path("report.json"), "{}\n", OutputPolicy{});
  EXPECT_EQ(slurp(path("report.json")), "{}\n");
  write_file(path("trace.txt"), "data", OutputPolicy{.private_data = true});
  struct stat st {};
  ASSERT_EQ(::stat(path("trace.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(entries(dir_.string()), 2u);
}

TEST_F(OutputFileTest, AnExistingFileIsReplacedOnlyWhenAsked) {
  write_file(path("out"), "old", OutputPolicy{});
  try {
    write_file(path("out"), "new", OutputPolicy{});
    FAIL() << "overwrote without being asked";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(path("out") + ": file exists"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(path("out")), "old");
  write_file(path("out"), "new", OutputPolicy{.overwrite = true});
  EXPECT_EQ(slurp(path("out")), "new");
  EXPECT_EQ(entries(dir_.string()), 1u);
}

TEST_F(OutputFileTest, NeverWritesThroughASymbolicLink) {
  write_file(path("victim"), "precious", OutputPolicy{});
  fs::create_symlink(path("victim"), path("link"));
  for (const bool overwrite : {false, true}) {
    try {
      write_file(path("link"), "evil", OutputPolicy{.overwrite = overwrite});
      FAIL() << "wrote through a symbolic link, overwrite=" << overwrite;
    } catch (const OutputError& e) {
      EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(slurp(path("victim")), "precious");
  EXPECT_TRUE(fs::is_symlink(path("link")));
  // A link planted at the temporary name is not followed either.
  fs::create_symlink(path("victim"), path("t.tmp." + std::to_string(::getpid())));
  EXPECT_THROW(write_file(path("t"), "evil", OutputPolicy{.overwrite = true}), OutputError);
  EXPECT_EQ(slurp(path("victim")), "precious");
  EXPECT_FALSE(fs::exists(path("t")));
}

TEST_F(OutputFileTest, ADirectoryAtTheTargetIsRefused) {
  fs::create_directory(path("d"));
  EXPECT_THROW(write_file(path("d"), "x", OutputPolicy{.overwrite = true}), OutputError);
  EXPECT_TRUE(fs::is_directory(path("d")));
}

TEST_F(OutputFileTest, AReadOnlyDirectoryGivesAnErrorAndNoFile) {
  const std::string ro = path("ro");
  if (::geteuid() == 0) {
    // Root ignores permission bits: a read-only mount is what refuses root.
    if (!mount_tmpfs(ro, MS_RDONLY, "size=1m")) {
      if (std::getenv("CI") != nullptr) FAIL() << "cannot mount a read-only tmpfs as root";
      GTEST_SKIP() << "cannot mount tmpfs";
    }
  } else {
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  }
  try {
    write_file(ro + "/out.json", "{}", OutputPolicy{.overwrite = true});
    FAIL() << "wrote into a read-only directory";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(ro + "/out.json: cannot create: "), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(ro), 0u);
}

TEST_F(OutputFileTest, DiskFullGivesAnErrorAndLeavesNothing) {
  const std::string small = path("small");
  if (!mount_tmpfs(small, 0, "size=1m")) {
    if (std::getenv("CI") != nullptr) FAIL() << "cannot mount a 1 MiB tmpfs (CI runs as root)";
    GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  }
  write_file(small + "/kept", "kept", OutputPolicy{});
  const std::string big(std::size_t{2} << 20, 'x');
  try {
    write_file(small + "/big.csv", big, OutputPolicy{.overwrite = true});
    FAIL() << "wrote 2 MiB into 1 MiB";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(small + "/big.csv: write failed: No space left on device"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(entries(small), 1u);  // no temporary, no partial file
  EXPECT_EQ(slurp(small + "/kept"), "kept");
  // An existing file is not harmed by a failed replacement.
  try {
    write_file(small + "/kept", big, OutputPolicy{.overwrite = true});
    FAIL() << "wrote 2 MiB into 1 MiB";
  } catch (const OutputError&) {
  }
  EXPECT_EQ(slurp(small + "/kept"), "kept");
  EXPECT_EQ(entries(small), 1u);
}

TEST_F(OutputFileTest, InPlaceTheTargetGrowsAndStaysWhenAbandoned) {
  const OutputPolicy in_place{.private_data = true, .in_place = true};
  {
    OutputFile out(path("rec.trace"), in_place);
    out.write("first chunk");
    EXPECT_EQ(slurp(path("rec.trace")), "first chunk");  // readable while it grows
  }  // abandoned, as by a kill: what was written stays
  EXPECT_EQ(slurp(path("rec.trace")), "first chunk");
  EXPECT_EQ(entries(dir_.string()), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(path("rec.trace").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(OutputFile(path("rec.trace"), in_place), OutputError);  // exists, no overwrite
  ::chmod(path("rec.trace").c_str(), 0644);
  {
    OutputFile out(path("rec.trace"), OutputPolicy{.overwrite = true, .private_data = true, .in_place = true});
    out.write("new");
    out.commit();
  }
  EXPECT_EQ(slurp(path("rec.trace")), "new");  // truncated, and private again
  ASSERT_EQ(::stat(path("rec.trace").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  fs::create_symlink(path("rec.trace"), path("link"));
  EXPECT_THROW(OutputFile(path("link"), OutputPolicy{.overwrite = true, .in_place = true}), OutputError);
  EXPECT_EQ(slurp(path("rec.trace")), "new");
}

TEST_F(OutputFileTest, AFifoIsWrittenAsItIsNotReplaced) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const int reader = ::open(path("fifo").c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  write_file(path("fifo"), "through", OutputPolicy{.overwrite = true});
  char buf[16] = {};
  EXPECT_EQ(::read(reader, buf, sizeof buf), 7);
  EXPECT_EQ(std::string(buf), "through");
  ::close(reader);
  EXPECT_TRUE(fs::is_fifo(path("fifo")));  // a rename would have put a regular file there
  EXPECT_EQ(entries(dir_.string()), 1u);
}

TEST_F(OutputFileTest, CommitTemporaryFollowsTheSameRules) {
  write_file(path("out"), "old", OutputPolicy{});
  write_file(path("tmp"), "new", OutputPolicy{});
  EXPECT_THROW(commit_temporary(path("tmp"), path("out"), false), OutputError);
  EXPECT_EQ(slurp(path("out")), "old");
  EXPECT_EQ(slurp(path("tmp")), "new");  // still there for the caller to remove
  commit_temporary(path("tmp"), path("out"), true);
  EXPECT_EQ(slurp(path("out")), "new");
  EXPECT_FALSE(fs::exists(path("tmp")));
  write_file(path("tmp2"), "x", OutputPolicy{});
  commit_temporary(path("tmp2"), path("fresh"), false);
  EXPECT_EQ(slurp(path("fresh")), "x");
  fs::create_symlink(path("fresh"), path("link"));
  write_file(path("tmp3"), "evil", OutputPolicy{});
  EXPECT_THROW(commit_temporary(path("tmp3"), path("link"), true), OutputError);
  EXPECT_TRUE(fs::is_symlink(path("link")));
  EXPECT_EQ(slurp(path("fresh")), "x");
}

TEST_F(OutputFileTest, AnAbandonedFileLeavesNothing) {
  {
    OutputFile out(path("half"), OutputPolicy{});
    out.write("half of it");
  }
  EXPECT_EQ(entries(dir_.string()), 0u);
}

}  // namespace
}  // namespace labyrinth::common
