// `labyrinth record --flight-recorder` for real (root, BPF, tracefs): dumps on SIGUSR1 and on
// allocation failures provoked on this machine, read back and validated by mirror replay; a
// SIGKILL leaves complete dumps or none; a failed dump is logged, recording goes on and only
// written dumps count against --max-dumps;
// SIGTERM stops it cleanly. Without BPF they skip, unless LABYRINTH_REQUIRE_BPF=1 (CI).
// The FlightPressure tests squeeze the machine's memory: ctest runs them alone, and the balloon
// takes the machine lock (testing::MachineLock), as the benchmarks' squeezes do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "labyrinth/traces/trace_reader.hpp"
#include "bpf_test.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

namespace labyrinth {
namespace {

using namespace std::chrono_literals;
using testing::run_labyrinth;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The flight recorder running in the background; stderr goes to a file the test reads.
int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

class Recorder {
 public:
  Recorder(const std::vector<std::string>& args, const std::string& err_path) : err_path_(err_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(err, 2);
      std::vector<std::string> argv{LABYRINTH_CLI, "record"};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> p;
      for (auto& a : argv) p.push_back(a.data());
      p.push_back(nullptr);
      ::execv(p[0], p.data());
      ::_exit(127);
    }
  }
  ~Recorder() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  [[nodiscard]] std::string log() const { return slurp(err_path_); }
  // Waits until the log holds `what` `times` times; false on timeout or if it exited.
  bool wait_for(const std::string& what, int times, std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (occurrences(log(), what) >= times) return true;
      if (!reaped_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
      if (reaped_) return false;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  // SIGUSR1 until `nth` dumps are written. On a loaded machine the free-page map scans can
  // outlast their hold (event=keyframe_dropped), and a dump fails while the ring holds no
  // keyframe to start from: then it triggers again. False if no dump comes for another reason.
  bool dump(int nth = 1) {
    for (int tries = 0; tries < 20; ++tries) {
      const int attempts = occurrences(log(), "event=dump");  // dump and dump_failed lines
      signal(SIGUSR1);
      if (!wait_for("event=dump", attempts + 1, 30s)) return false;
      const std::string l = log();
      if (occurrences(l, "event=dump ") >= nth) return true;
      if (l.find("no keyframe yet") == std::string::npos) return false;
      std::this_thread::sleep_for(2s);
    }
    return false;
  }
  // The exit code, or -1 if it did not exit in time (then it is killed).
  int wait_exit(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!reaped_ && std::chrono::steady_clock::now() < end) {
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
      else std::this_thread::sleep_for(50ms);
    }
    if (!reaped_) return -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

 private:
  std::string err_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

std::vector<std::string> traces_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".trace") out.push_back(e.path().string());
  return out;
}

struct Dump {
  std::vector<traces::PageEvent> events;
  bool complete = false;
  std::uint64_t first_ts = 0, last_ts = 0;
};

Dump read_dump(const std::string& path) {
  traces::TraceReader reader(path);
  Dump d;
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) d.events.insert(d.events.end(), chunk.begin(), chunk.end());
  d.complete = reader.complete();
  d.first_ts = reader.footer().first_ts_ns;
  d.last_ts = reader.footer().last_ts_ns;
  return d;
}

nlohmann::json mirror(const std::string& dump, const testing::TempDir& dir) {
  const std::string json = dir.file("mirror.json");
  const auto r = run_labyrinth({"replay", dump, "--mode", "mirror", "--json", json});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(slurp(json));
}

using FlightRecorder = testing::BpfTest;

TEST_F(FlightRecorder, Sigusr1DumpReadsBackAndValidatesInMirror) {
  // Mirror's 1% on free pages assumes no balloon of another job squeezes the machine meanwhile
  // (the pressure tests check that case): beside one, a dump's Normal had 135 k pages free and
  // compaction's guessed isolations left it 1.6% off.
  const testing::MachineLock machine(testing::MachineLock::Shared);
  ASSERT_TRUE(machine.held()) << "cannot lock /tmp/labyrinth-machine.lock";
  testing::TempDir dir;
  const std::string metrics = dir.file("m.prom");
  Recorder rec({"--flight-recorder", "6s,32M", "--trigger", "sigusr1", "--keyframe-free-map", "2", "--openmetrics",
                metrics, "--openmetrics-interval", "500ms", "-o", dir.file("d.trace")},
               dir.file("err"));
  ASSERT_TRUE(rec.wait_for("event=start", 1, 60s)) << rec.log();
  std::this_thread::sleep_for(8s);  // longer than the window: the ring must drop the oldest
  // Events of our own inside the window: an idle machine allocated as few as 20 pages in 6 s.
  ASSERT_EQ(testing::run_command({LABYRINTH_PAGE_WORKLOAD, "touch", "16", "2"}).exit_code, 0);
  ASSERT_TRUE(rec.dump()) << rec.log();
  std::this_thread::sleep_for(1s);  // a metrics interval after the dump
  rec.signal(SIGTERM);
  ASSERT_EQ(rec.wait_exit(30s), 0) << rec.log();
  EXPECT_NE(rec.log().find("flight recorder ran"), std::string::npos) << rec.log();

  const auto dumps = traces_in(dir.path());
  ASSERT_EQ(dumps.size(), 1u) << rec.log();
  EXPECT_NE(dumps[0].find("sigusr1"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(dumps[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const Dump d = read_dump(dumps[0]);
  ASSERT_TRUE(d.complete);
  ASSERT_GT(d.events.size(), 100u);
  // At most the window, the post-trigger time and the end snapshot (a second is plenty).
  EXPECT_LE(d.last_ts - d.first_ts, 7'500'000'000ull) << rec.log();

  const auto m = mirror(dumps[0], dir);
  ASSERT_TRUE(m["validation"]["available"].get<bool>()) << m["validation"].dump();
  EXPECT_TRUE(m["validation"]["free_within_tolerance"].get<bool>()) << m["validation"].dump();
  EXPECT_GE(m["keyframes"]["checked"].get<std::uint64_t>(), 1u);

  const std::string prom = slurp(metrics);
  EXPECT_NE(prom.find("labyrinth_flight_dumps_total{result=\"written\"} 1"), std::string::npos) << prom;
  EXPECT_NE(prom.find("labyrinth_flight_ring_capacity_bytes 33554432"), std::string::npos) << prom;
}

TEST_F(FlightRecorder, SigkillLeavesCompleteDumpsOrNone) {
  testing::TempDir dir;
  Recorder rec({"--flight-recorder", "4s,16M", "--trigger", "sigusr1", "--rate-limit", "0", "--post-trigger", "0",
                "--max-dumps", "0", "-o", dir.file("k.trace")},
               dir.file("err"));
  ASSERT_TRUE(rec.wait_for("event=start", 1, 60s)) << rec.log();
  std::this_thread::sleep_for(2s);
  // Dumps one after another, and a SIGKILL while one is being written.
  for (int i = 0; i < 6; ++i) {
    rec.signal(SIGUSR1);
    std::this_thread::sleep_for(150ms);
  }
  ASSERT_TRUE(rec.wait_for("event=dump", 1, 30s)) << rec.log();  // written or failed
  if (occurrences(rec.log(), "event=dump ") == 0) {
    ASSERT_TRUE(rec.dump()) << rec.log();
  }
  rec.signal(SIGUSR1);
  std::this_thread::sleep_for(20ms);
  rec.signal(SIGKILL);
  EXPECT_EQ(rec.wait_exit(10s), 128 + SIGKILL);
  const auto dumps = traces_in(dir.path());
  EXPECT_GE(dumps.size(), 1u);
  for (const auto& p : dumps) EXPECT_TRUE(read_dump(p).complete) << p;
}

TEST_F(FlightRecorder, AFailedDumpIsLoggedAndRecordingGoesOn) {
  testing::TempDir dir;
  const std::string full = dir.file("full");
  std::filesystem::create_directory(full);
  ASSERT_EQ(::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{full};
  // Full before the first dump, whatever its size: a filler takes every block.
  const std::string filler = full + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
  }
  // --max-dumps 1: failed dumps must not use up the budget, only written ones.
  Recorder rec({"--flight-recorder", "4s,64M", "--trigger", "sigusr1", "--rate-limit", "0", "--max-dumps", "1",
                "-o", full + "/f.trace"},
               dir.file("err"));
  ASSERT_TRUE(rec.wait_for("event=start", 1, 60s)) << rec.log();
  std::this_thread::sleep_for(3s);
  // On a loaded machine the free-page map scans can outlast their hold (event=keyframe_dropped)
  // and a dump then fails for want of a keyframe, not of space: trigger again until one fails
  // on the disk. Every attempt is a dump or a dump_failed line.
  int attempts = 0;
  const auto dump_fails_on_the_disk = [&rec, &attempts](int enospc) {
    for (int tries = 0; tries < 20; ++tries) {
      rec.signal(SIGUSR1);
      ++attempts;
      if (!rec.wait_for("event=dump", attempts, 30s)) return false;
      const std::string log = rec.log();
      if (occurrences(log, "No space left on device") >= enospc) return true;
      if (occurrences(log, "no keyframe yet") == 0) return false;
      std::this_thread::sleep_for(2s);
    }
    return false;
  };
  ASSERT_TRUE(dump_fails_on_the_disk(1)) << rec.log();
  // Still recording, still answering, and the limit not reached.
  ASSERT_TRUE(dump_fails_on_the_disk(2)) << rec.log();
  EXPECT_NE(rec.log().find("failed=" + std::to_string(attempts) + " written=0"), std::string::npos) << rec.log();
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(full)) left.push_back(entry.path().string());
  EXPECT_EQ(left, std::vector<std::string>{filler}) << "a failed dump leaves nothing behind";

  // Space again (the directory below the tmpfs): one dump is written, then the limit holds.
  ASSERT_EQ(::umount2(full.c_str(), MNT_DETACH), 0) << std::strerror(errno);
  rec.signal(SIGUSR1);
  ASSERT_TRUE(rec.wait_for("event=dump ", 1, 30s)) << rec.log();
  rec.signal(SIGUSR1);
  ASSERT_TRUE(rec.wait_for("reason=\"dump limit reached\"", 1, 30s)) << rec.log();
  rec.signal(SIGTERM);
  EXPECT_EQ(rec.wait_exit(30s), 0) << rec.log();
  EXPECT_EQ(traces_in(full).size(), 1u);
}

// Hugetlb reservations refused under a balloon (tests/ebpf/workloads/pressure.sh): order-9
// allocations fail while the flight recorder runs; the dump holds them.
TEST(FlightPressure, RefusedHugetlbReservationsGiveADumpThatHoldsTheFailure) {
  LABYRINTH_REQUIRE_RECORDING();
  const testing::MachineLock machine;
  ASSERT_TRUE(machine.held()) << "cannot lock /tmp/labyrinth-machine.lock";
  const std::string hugepages_before = slurp("/proc/sys/vm/nr_hugepages");
  testing::TempDir dir;
  ASSERT_EQ(testing::run_command({"/bin/sh", LABYRINTH_SOURCE_DIR "/tests/ebpf/workloads/settle_memory.sh"}).exit_code, 0);
  Recorder rec({"--flight-recorder", "30s,64M", "--trigger", "failure:order>=9", "-m", "16", "-o",
                dir.file("oom-%r-%n.trace")},
               dir.file("err"));
  ASSERT_TRUE(rec.wait_for("event=start", 1, 60s)) << rec.log();
  const auto r = testing::run_command(
      {"/bin/bash", LABYRINTH_SOURCE_DIR "/tests/ebpf/workloads/pressure.sh", LABYRINTH_PAGE_WORKLOAD, "1"});
  EXPECT_EQ(slurp("/proc/sys/vm/nr_hugepages"), hugepages_before);  // the balloon is given back
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("refused_at="), std::string::npos) << r.out;
  ASSERT_TRUE(rec.wait_for("event=dump ", 1, 60s)) << rec.log();
  rec.signal(SIGTERM);
  ASSERT_EQ(rec.wait_exit(60s), 0) << rec.log();

  const auto dumps = traces_in(dir.path());
  ASSERT_GE(dumps.size(), 1u) << rec.log();
  EXPECT_NE(dumps[0].find("failure-order-ge9"), std::string::npos) << dumps[0];
  const Dump d = read_dump(dumps[0]);
  ASSERT_TRUE(d.complete);
  std::size_t failures = 0;
  for (const auto& e : d.events) failures += e.failed() && e.order >= 9 ? 1u : 0u;
  EXPECT_GE(failures, 1u) << rec.log();
  EXPECT_LE(d.last_ts - d.first_ts, 32'000'000'000ull);

  // The dump's end snapshot is taken at the trigger, in the middle of the squeeze, where
  // compaction and page reporting move blocks without events: mirror is not within 1% there
  // yet (issue #16; 1.5% to 10% measured), so the test asserts that the dump seeds and
  // validates at its end and reports the failure, not the error there.
  const auto m = mirror(dumps[0], dir);
  ASSERT_TRUE(m["validation"]["available"].get<bool>()) << m["validation"].dump();
  EXPECT_TRUE(m["validation"]["free_relative_error"].is_number()) << m["validation"].dump();
  std::uint64_t order9 = 0;
  for (const auto& f : m["failures"]["items"]) order9 += f["order"] == 9 ? 1u : 0u;
  EXPECT_GE(order9, 1u);
}

// Kernel-memory charge failures in a small memory cgroup (tests/ebpf/workloads/memcg_charge.sh):
// page allocations with __GFP_ACCOUNT that the memcg refuses are reported as failed, and a
// trigger narrowed to that flag catches them.
TEST(FlightPressure, MemcgChargeFailuresGiveADump) {
  LABYRINTH_REQUIRE_RECORDING();
  const testing::MachineLock machine(testing::MachineLock::Shared);  // no balloon beside mirror's 1%
  ASSERT_TRUE(machine.held()) << "cannot lock /tmp/labyrinth-machine.lock";
  testing::TempDir dir;
  Recorder rec({"--flight-recorder", "20s,32M", "--trigger", "failure:gfp=__GFP_ACCOUNT", "-o", dir.file("memcg.trace")},
               dir.file("err"));
  ASSERT_TRUE(rec.wait_for("event=start", 1, 60s)) << rec.log();
  std::this_thread::sleep_for(2s);
  // Its exit status is not asserted: the memcg OOM killer may end it after the refusals. Where
  // the task's oom_score_adj cannot be lowered (no CAP_SYS_RESOURCE) the killer takes it, and
  // the refused page charge is its last pipe buffer as it dies (try_charge_memcg gives up for
  // a dying task), one per run. Once in 30 runs beside the suite no dump came within 60 s (the
  // log was not kept): the kill landing in a page fault (a charge with no page allocation), or
  // the dump failing on a ring that held no keyframe yet, would each do that. A new run (a new
  // cgroup) gives a new failure to trigger on.
  std::string workload_output;
  bool dumped = false;
  for (int run = 0; run < 3 && !dumped; ++run) {
    const auto r = testing::run_command({"/bin/bash", LABYRINTH_SOURCE_DIR "/tests/ebpf/workloads/memcg_charge.sh"});
    workload_output += r.out + r.err;
    dumped = rec.wait_for("event=dump ", 1, 30s);
  }
  ASSERT_TRUE(dumped) << rec.log() << workload_output;
  rec.signal(SIGTERM);
  ASSERT_EQ(rec.wait_exit(60s), 0) << rec.log();

  const auto dumps = traces_in(dir.path());
  ASSERT_EQ(dumps.size(), 1u) << rec.log();
  traces::TraceReader reader(dumps[0]);
  const std::uint64_t account = reader.header().gfp_table.bits_of("__GFP_ACCOUNT");
  ASSERT_NE(account, 0u);
  const Dump d = read_dump(dumps[0]);
  ASSERT_TRUE(d.complete);
  std::size_t refused = 0;
  for (const auto& e : d.events) refused += e.failed() && (e.gfp & account) != 0 ? 1u : 0u;
  EXPECT_GE(refused, 1u) << rec.log();
  const auto m = mirror(dumps[0], dir);
  ASSERT_TRUE(m["validation"]["available"].get<bool>()) << m["validation"].dump();
  EXPECT_TRUE(m["validation"]["free_within_tolerance"].get<bool>()) << m["validation"].dump();
}

}  // namespace
}  // namespace labyrinth
