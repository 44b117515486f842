// Integration tests that really record with `labyrinth record` (root, BPF, tracefs).
// Without them the tests skip, unless LABYRINTH_REQUIRE_BPF=1, which turns a skip into a
// failure (CI sets it). The tests of one binary are serialized with a file lock, so ctest
// -j cannot make two of them compete for the two CPUs and the ring buffer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bpf_test.hpp"
#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_metadata.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace {

namespace fs = std::filesystem;
using labyrinth::traces::EventKind;
using labyrinth::traces::ExecContext;
using labyrinth::traces::PageEvent;
using labyrinth::traces::TraceReader;
using namespace std::chrono_literals;

constexpr int kExitNoPermission = 4;  // cli/exit_codes.hpp
constexpr int kExitFailure = 1;
constexpr int kExitBadTrace = 3;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint64_t boottime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Process {
  pid_t pid = -1;
  std::string out_path, err_path;
};

struct Finished {
  int status = -1;  // raw wait status
  bool timed_out = false;
  std::string out, err;
  [[nodiscard]] int exit_code() const {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }
};

class RecordTest : public labyrinth::testing::BpfTest {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    char tmpl[] = "/tmp/labyrinth-record-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    BpfTest::TearDown();
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  Process spawn(const std::vector<std::string>& argv, const std::vector<std::string>& prefix = {}) {
    static int n = 0;
    Process p;
    p.out_path = path("out" + std::to_string(n));
    p.err_path = path("err" + std::to_string(n));
    ++n;
    std::vector<std::string> all = prefix;
    all.insert(all.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (auto& a : all) args.push_back(a.data());
    args.push_back(nullptr);
    p.pid = ::fork();
    if (p.pid == 0) {
      const int out = ::open(p.out_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      const int err = ::open(p.err_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::chdir(dir_.c_str());
      ::execvp(args[0], args.data());
      ::_exit(126);
    }
    return p;
  }

  Finished wait(const Process& p, std::chrono::seconds timeout = 120s) {
    Finished f;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const pid_t r = ::waitpid(p.pid, &f.status, WNOHANG);
      if (r == p.pid) break;
      if (std::chrono::steady_clock::now() > end) {
        ::kill(p.pid, SIGKILL);
        ::waitpid(p.pid, &f.status, 0);
        f.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    f.out = slurp(p.out_path);
    f.err = slurp(p.err_path);
    return f;
  }

  Finished run(const std::vector<std::string>& argv, std::chrono::seconds timeout = 120s) {
    return wait(spawn(argv), timeout);
  }

  static std::vector<std::string> record(std::vector<std::string> args) {
    args.insert(args.begin(), {LABYRINTH_CLI, "record"});
    return args;
  }

  // Waits until the recorder has written its start snapshot (the file grows past the header).
  bool wait_for_file(const std::string& file, std::chrono::seconds timeout = 20s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      std::error_code ec;
      if (fs::exists(file, ec) && fs::file_size(file, ec) > 4096) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::string dir_;
  std::vector<std::string> mounts_;
};

std::optional<std::uint32_t> field(const std::string& text, const std::string& key) {
  const auto pos = text.find(key + "=");
  if (pos == std::string::npos) return std::nullopt;
  return static_cast<std::uint32_t>(std::stoul(text.substr(pos + key.size() + 1)));
}

int migratetype_index(const TraceReader& r, const std::string& name) {
  const auto& names = r.header().migratetype_names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int>(i);
  return -1;
}

TEST_F(RecordTest, WorkloadPagesAreAllocatedAndFreedWithoutLoss) {
  const std::string trace = path("w.trace");
  const auto f = run(record({"-o", trace, "--", LABYRINTH_PAGE_WORKLOAD, "touch", "64", "4"}));
  ASSERT_FALSE(f.timed_out) << f.err;
  ASSERT_EQ(f.exit_code(), 0) << f.err;
  const auto pid = field(f.out, "pid");
  const auto pages = field(f.out, "pages");
  ASSERT_TRUE(pid && pages) << f.out;
  ASSERT_EQ(*pages, 64u * 256u * 4u);

  TraceReader r(trace);
  const auto& h = r.header();
  EXPECT_EQ(h.source, "record");
  EXPECT_EQ(h.clock, "boot");
  EXPECT_EQ(h.page_size, static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_FALSE(h.zones.empty());
  EXPECT_FALSE(h.gfp_table.empty());
  EXPECT_FALSE(h.vm_sysctls.empty());
  EXPECT_EQ(h.command.size(), 4u);
  EXPECT_NE(std::find(h.events.begin(), h.events.end(), "kmem:mm_page_alloc"), h.events.end());
  EXPECT_NE(std::find(h.events.begin(), h.events.end(), "kmem:mm_page_free"), h.events.end());
  EXPECT_TRUE(r.start_snapshot().present);
  EXPECT_FALSE(r.start_snapshot().free_runs.empty());
  EXPECT_FALSE(r.start_snapshot().zones.empty());
  const int movable = migratetype_index(r, "Movable");
  ASSERT_GE(movable, 0);

  // Its anonymous pages come zeroed (__GFP_ZERO); its page-cache pages (a library read back
  // cold after another test's squeeze evicted it: 60 live under ASan once) stay cached.
  const std::uint64_t zeroed = h.gfp_table.parse("__GFP_ZERO").value_or(0);
  std::unordered_set<std::uint64_t> live;       // workload pages allocated, not yet freed
  std::unordered_set<std::uint64_t> live_anon;  // of them, the anonymous ones
  std::uint64_t allocs = 0, freed = 0, named = 0, not_task = 0;
  std::uint64_t prev_ts = 0, inversions = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) {
      if (e.ts_ns < prev_ts) ++inversions;
      prev_ts = e.ts_ns;
      if (e.kind == EventKind::Alloc && e.pid == *pid && e.order == 0 && e.migratetype == movable && !e.failed()) {
        ++allocs;
        live.insert(e.pfn);
        if ((e.gfp & zeroed) == zeroed) live_anon.insert(e.pfn);
        if (r.comm(e.comm_id) == "page_workload") ++named;
        if (e.ctx != ExecContext::Task) ++not_task;
      } else if (e.kind == EventKind::Free && e.order == 0 && live.erase(e.pfn) != 0) {
        ++freed;
        live_anon.erase(e.pfn);
      }
    }
  }
  ASSERT_TRUE(r.complete()) << r.damage().message;
  const auto& foot = r.footer();
  EXPECT_EQ(foot.losses.ringbuf_drops, 0u);
  EXPECT_EQ(foot.exit_status, 0);
  EXPECT_EQ(foot.stop_reason, "command-exit");
  EXPECT_GE(allocs, *pages);
  // every page the workload touched was freed by its munmap; only events the kernel skipped
  // (recursion misses, counted) may be missing, plus the few anonymous pages of its start
  // that no free in the recording names (22 to 27 in three runs with cold caches)
  EXPECT_LE(live_anon.size(), foot.losses.recursion_misses + 32) << "allocated but never freed";
  EXPECT_GE(freed + foot.losses.recursion_misses, *pages);
  // before its exec the child still carries the recorder's name; every touch comes after
  EXPECT_GE(named, *pages);
  EXPECT_EQ(not_task, 0u);
  EXPECT_TRUE(r.end_snapshot().present);
  EXPECT_EQ(inversions, 0u) << "per-CPU batches are merged back into time order";
}

// Pages the kernel migrated so far (/proc/vmstat pgmigrate_success).
std::uint64_t pages_migrated() {
  std::ifstream in("/proc/vmstat");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value)
    if (key == "pgmigrate_success") return value;
  return 0;
}

// The pfn of every page the workload touched (from its /proc/self/pagemap) must be among
// its recorded allocations: checks the pfn arithmetic of both ways of attaching. Compaction
// may move a touched page before its pfn is read (the pressure tests beside this one make it
// run): the new page comes from compaction's isolated blocks, with no allocation event, so the
// machine's migrations while the workload ran are allowed for, with the recorder's losses.
class RecordPfnTest : public RecordTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(RecordPfnTest, RecordedPfnsAreThePagesTheWorkloadGot) {
  const std::string trace = path("pfn.trace");
  const std::string pfn_file = path("pfns.bin");
  const std::uint64_t migrated_before = pages_migrated();
  const auto f = run(record({"-o", trace, "--no-kpageflags", "--attach", GetParam(), "-e", "alloc,free", "--",
                             LABYRINTH_PAGE_WORKLOAD, "-p", pfn_file, "touch", "16", "2"}));
  const std::uint64_t migrated = pages_migrated() - migrated_before;
  ASSERT_EQ(f.exit_code(), 0) << f.err;
  std::vector<std::uint64_t> expected(fs::file_size(pfn_file) / sizeof(std::uint64_t));
  {
    std::ifstream in(pfn_file, std::ios::binary);
    in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * 8));
  }
  ASSERT_EQ(expected.size(), 16u * 256u * 2u);
  const auto pid = field(f.out, "pid");
  ASSERT_TRUE(pid);
  TraceReader r(trace);
  EXPECT_NE(r.header().options.at("attach").find(GetParam() == "raw" ? "raw_tp:alloc,free" : "tracepoint:alloc,free"),
            std::string::npos)
      << r.header().options.at("attach");
  std::unordered_set<std::uint64_t> allocated;
  std::span<const PageEvent> chunk;
  while (r.next(chunk))
    for (const auto& e : chunk)
      if (e.kind == EventKind::Alloc && e.pid == *pid) allocated.insert(e.pfn);
  std::uint64_t missing = 0;
  for (const auto pfn : expected) missing += allocated.count(pfn) == 0 ? 1u : 0u;
  const auto& losses = r.footer().losses;
  EXPECT_LE(missing, losses.recursion_misses + losses.ringbuf_drops + migrated)
      << missing << " of " << expected.size() << " pfns not recorded; " << migrated << " pages migrated meanwhile";
}

INSTANTIATE_TEST_SUITE_P(Attach, RecordPfnTest, ::testing::Values("raw", "classic"));

TEST_F(RecordTest, LoopbackNetworkBurstGivesAtomicAllocationsInSoftirq) {
  const std::string trace = path("net.trace");
  const auto f = run(record({"-o", trace, "--", LABYRINTH_PAGE_WORKLOAD, "net", "1"}));
  ASSERT_EQ(f.exit_code(), 0) << f.err << f.out;
  TraceReader r(trace);
  const auto& gfp = r.header().gfp_table;
  const std::uint64_t high = gfp.bits_of("__GFP_HIGH");
  const std::uint64_t kswapd = gfp.bits_of("__GFP_KSWAPD_RECLAIM");
  const std::uint64_t direct = gfp.bits_of("__GFP_DIRECT_RECLAIM");
  ASSERT_NE(high, 0u);
  ASSERT_NE(kswapd, 0u);
  std::uint64_t softirq_atomic = 0, softirq = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) {
      if (e.kind != EventKind::Alloc || e.ctx != ExecContext::Softirq) continue;
      ++softirq;
      if ((e.gfp & (high | kswapd)) == (high | kswapd) && (e.gfp & direct) == 0) ++softirq_atomic;
    }
  }
  EXPECT_TRUE(r.complete());
  EXPECT_GT(softirq_atomic, 10u) << softirq << " softirq allocations";
}

TEST_F(RecordTest, CommandExitStatusPassesThrough) {
  auto f = run(record({"-o", path("a.trace"), "--no-kpageflags", "--", "sh", "-c", "exit 7"}));
  EXPECT_EQ(f.exit_code(), 7) << f.err;
  TraceReader r(path("a.trace"));
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
  }
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.footer().exit_status, 7);

  f = run(record({"-o", path("b.trace"), "--no-kpageflags", "--", "sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(f.exit_code(), 128 + SIGTERM) << f.err;

  f = run(record({"-o", path("c.trace"), "--", "/nonexistent/command"}));
  EXPECT_NE(f.exit_code(), 0);
  EXPECT_NE(f.err.find("command not found"), std::string::npos) << f.err;
  EXPECT_FALSE(fs::exists(path("c.trace")));
}

TEST_F(RecordTest, SigintStopsCleanlyWithACompleteTrace) {
  const std::string trace = path("int.trace");
  const auto p = spawn(record({"-o", trace}));
  ASSERT_TRUE(wait_for_file(trace)) << slurp(p.err_path);
  // some allocator activity while recording
  run({LABYRINTH_PAGE_WORKLOAD, "touch", "16", "2"});
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(p.pid, SIGINT), 0);
  const auto f = wait(p, 60s);
  ASSERT_FALSE(f.timed_out);
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::uint64_t n = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) n += chunk.size();
  ASSERT_TRUE(r.complete()) << r.damage().message;
  EXPECT_EQ(r.footer().stop_reason, "signal");
  EXPECT_GE(n, 16u * 256u * 2u);
  EXPECT_EQ(r.footer().events, n);
  EXPECT_TRUE(r.end_snapshot().present);
}

TEST_F(RecordTest, SigtermIsPassedOnToTheCommand) {
  const std::string trace = path("term.trace");
  const auto p = spawn(record({"-o", trace, "--no-kpageflags", "--", "sleep", "60"}));
  ASSERT_TRUE(wait_for_file(trace)) << slurp(p.err_path);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(p.pid, SIGTERM), 0);
  const auto f = wait(p, 30s);
  ASSERT_FALSE(f.timed_out) << "the command did not get the signal";
  EXPECT_EQ(f.exit_code(), 128 + SIGTERM) << f.err;
  TraceReader r(trace);
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
  }
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.footer().stop_reason, "signal");
  EXPECT_EQ(r.footer().exit_status, 128 + SIGTERM);
}

TEST_F(RecordTest, StopsWhenTheRecordedProcessExits) {
  const auto target = spawn({"sleep", "2"});
  const std::string trace = path("exit.trace");
  // the target exits after 2 s and stays a zombie until we reap it: that counts as gone
  const auto f = run(record({"-o", trace, "-p", std::to_string(target.pid), "--no-kpageflags"}), 60s);
  wait(target);
  ASSERT_FALSE(f.timed_out);
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
  }
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.footer().stop_reason, "process-exit");
}

TEST_F(RecordTest, ShowsALiveStatusLineOnATerminal) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "no script(1) to provide a terminal";
  const std::string trace = path("tty.trace");
  const std::string cmd = std::string(LABYRINTH_CLI) + " record --no-kpageflags -d 1500ms -o " + trace;
  const auto f = run({"script", "-qec", cmd, "/dev/null"});
  EXPECT_EQ(f.exit_code(), 0) << f.out << f.err;
  EXPECT_NE(f.out.find("recording "), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("events/s"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("| 0 drops"), std::string::npos) << f.out;
  // not on a pipe
  const auto g = run(record({"--no-kpageflags", "-d", "700ms", "-f", "-o", trace}));
  EXPECT_EQ(g.err.find("events/s"), std::string::npos) << g.err;
}

TEST_F(RecordTest, UnmountedTracefsSaysHowToMountIt) {
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare(1)";
  // a private mount namespace without tracefs (and without debugfs, where libbpf looks first)
  const std::string cmd = "umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; "
                          "umount /sys/kernel/tracing 2>/dev/null; exec " + std::string(LABYRINTH_CLI) +
                          " record -d 1 -o " + path("notrace.trace");
  const auto f = run({"unshare", "-m", "--propagation", "private", "sh", "-c", cmd});
  EXPECT_EQ(f.exit_code(), 5) << f.err;
  EXPECT_NE(f.err.find("mount -t tracefs nodev /sys/kernel/tracing"), std::string::npos) << f.err;
  EXPECT_FALSE(fs::exists(path("notrace.trace")));
}

TEST_F(RecordTest, SigkillLeavesAReadablePrefixReportedIncomplete) {
  const std::string trace = path("kill.trace");
  const auto p = spawn(record({"-o", trace, "--no-kpageflags"}));
  ASSERT_TRUE(wait_for_file(trace)) << slurp(p.err_path);
  // keep the allocator busy up to the kill
  const auto load = spawn({LABYRINTH_PAGE_WORKLOAD, "touch", "32", "100000"});
  std::this_thread::sleep_for(3s);
  const std::uint64_t killed_at = boottime_ns();
  ASSERT_EQ(::kill(p.pid, SIGKILL), 0);
  wait(p);
  ::kill(load.pid, SIGKILL);
  wait(load);

  TraceReader r(trace);
  std::uint64_t n = 0, last_ts = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    n += chunk.size();
    for (const auto& e : chunk) last_ts = std::max(last_ts, e.ts_ns);
  }
  EXPECT_FALSE(r.complete());
  EXPECT_TRUE(r.damage().truncated) << r.damage().message;
  EXPECT_GT(n, 10000u);
  const auto s = run({LABYRINTH_CLI, "stat", trace, "-q"});
  EXPECT_EQ(s.exit_code(), kExitBadTrace) << s.err;
  EXPECT_NE(s.err.find(trace + ": offset "), std::string::npos) << s.err;
  // Killed between blocks, the file lacks only its footer; killed while a block was being
  // written, it ends inside that block. Either way the message says the recording is cut short.
  EXPECT_TRUE(s.err.find("the recording did not finish (incomplete)") != std::string::npos ||
              s.err.find("the file ends inside a block") != std::string::npos)
      << s.err;
  EXPECT_NE(s.err.find(std::to_string(n) + " events were readable"), std::string::npos) << s.err;
  // chunks are flushed at least every second: what is lost is the last second or so
  ASSERT_GT(last_ts, 0u);
  EXPECT_LT(static_cast<double>(killed_at - last_ts) / 1e9, 2.0);
}

TEST_F(RecordTest, UnprivilegedUserGetsTheCapabilityMessageAndNoFile) {
  if (::access("/usr/bin/setpriv", X_OK) != 0 && ::access("/bin/setpriv", X_OK) != 0)
    GTEST_SKIP() << "no setpriv";
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);  // nobody could create the file if it tried
  const std::string trace = path("nobody.trace");
  const auto f = wait(spawn(record({"-o", trace, "-d", "1"}),
                            {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}));
  EXPECT_EQ(f.exit_code(), kExitNoPermission) << f.err;
  EXPECT_NE(f.err.find("CAP_BPF"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("capabilit"), std::string::npos) << f.err;
  EXPECT_FALSE(fs::exists(trace));
}

TEST_F(RecordTest, CapBpfPerfmonAndDacReadSearchAreEnough) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  const std::string trace = path("caps.trace");
  const std::string caps = "+bpf,+perfmon,+dac_read_search";
  const auto f = wait(spawn(record({"-o", trace, "-d", "1"}), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                              "--inh-caps=" + caps, "--ambient-caps=" + caps}));
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::uint64_t n = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) n += chunk.size();
  EXPECT_TRUE(r.complete());
  EXPECT_GT(n, 0u);
  EXPECT_FALSE(r.start_snapshot().free_runs.empty()) << "/proc/kpageflags with CAP_DAC_READ_SEARCH";
  // without CAP_SYS_ADMIN, /proc/self/pagemap shows no pfns: classic tracepoints for the page
  // events (compaction's carry pfns and stay raw_tp)
  const std::string attach = r.header().options.at("attach");
  EXPECT_NE(attach.find("tracepoint:alloc,free"), std::string::npos) << attach;
  EXPECT_EQ(attach.find("raw_tp:alloc"), std::string::npos) << attach;
  struct stat st {};
  ASSERT_EQ(::stat(trace.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RecordTest, RefusesToClobberWithoutForce) {
  const std::string trace = path("old.trace");
  { std::ofstream(trace) << "precious"; }
  auto f = run(record({"-o", trace, "-d", "200ms", "--no-kpageflags"}));
  EXPECT_EQ(f.exit_code(), kExitFailure) << f.err;
  EXPECT_NE(f.err.find("-f"), std::string::npos) << f.err;
  EXPECT_EQ(slurp(trace), "precious");

  f = run(record({"-f", "-o", trace, "-d", "200ms", "--no-kpageflags"}));
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
  }
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.footer().stop_reason, "duration");
  EXPECT_EQ(fs::status(trace).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  const std::string link = path("link.trace");
  fs::create_symlink(path("target"), link);
  f = run(record({"-f", "-o", link, "-d", "200ms"}));
  EXPECT_EQ(f.exit_code(), kExitFailure) << f.err;
  EXPECT_FALSE(fs::exists(path("target")));
  // a link to an existing file: the file is not touched
  const std::string link2 = path("link2.trace");
  fs::create_symlink(trace, link2);
  const std::string before = slurp(trace);
  f = run(record({"-f", "-o", link2, "-d", "200ms", "--no-kpageflags"}));
  EXPECT_EQ(f.exit_code(), kExitFailure) << f.err;
  EXPECT_NE(f.err.find("symbolic link"), std::string::npos) << f.err;
  EXPECT_EQ(slurp(trace), before);
}

TEST_F(RecordTest, UnwritableOutputDirectoryIsReportedBeforeRecording) {
  const auto f = run(record({"-o", "/proc/labyrinth-no-such-dir/x.trace", "-d", "1"}));
  EXPECT_EQ(f.exit_code(), kExitFailure) << f.err;
  EXPECT_NE(f.err.find("cannot write to /proc/labyrinth-no-such-dir"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("-o"), std::string::npos) << f.err;
}

TEST_F(RecordTest, DiskFullStopsWithAClearErrorAndAReadablePrefix) {
  const std::string mnt = path("small");
  fs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) GTEST_SKIP() << "cannot mount tmpfs";
  mounts_.push_back(mnt);
  const std::string trace = mnt + "/full.trace";
  const auto f = run(record({"-o", trace, "--no-kpageflags", "--", LABYRINTH_PAGE_WORKLOAD, "touch", "256", "40"}),
                     300s);
  EXPECT_EQ(f.exit_code(), kExitFailure) << f.err;
  EXPECT_NE(f.err.find("No space left on device"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("incomplete"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find(trace), std::string::npos) << f.err;
  TraceReader r(trace);
  std::uint64_t n = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) n += chunk.size();
  EXPECT_FALSE(r.complete());
  EXPECT_GT(n, 0u);
  // what was written stays readable by stat, which says it is incomplete and how much it read
  const auto s = run({LABYRINTH_CLI, "stat", trace, "--json", path("full.json")});
  EXPECT_EQ(s.exit_code(), kExitBadTrace) << s.err;
  EXPECT_NE(s.err.find(trace + ": offset "), std::string::npos) << s.err;
  EXPECT_NE(s.err.find(std::to_string(n) + " events were readable"), std::string::npos) << s.err;
  EXPECT_NE(s.out.find("trace_incomplete"), std::string::npos) << s.out;
  EXPECT_NE(slurp(path("full.json")).find("\"complete\": false"), std::string::npos);
}

// A ring buffer too small for the event rate: a 1 MiB buffer, and the recorder stopped
// (SIGSTOP) for a second while a workload allocates, so the buffer must overflow. The drops
// are counted and every report shows them as data loss, in text and in JSON.
TEST_F(RecordTest, RingBufferTooSmallDropsAreShownAsDataLossEverywhere) {
  const std::string trace = path("drops.trace");
  const auto p = spawn(record({"-o", trace, "-m", "1", "-e", "alloc,free", "--no-kpageflags", "-d", "3"}));
  ASSERT_TRUE(wait_for_file(trace, 20s)) << slurp(p.err_path);
  const auto load = spawn({LABYRINTH_PAGE_WORKLOAD, "touch", "64", "100000"});
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(p.pid, SIGSTOP), 0);
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(::kill(p.pid, SIGCONT), 0);
  const auto f = wait(p, 60s);
  ::kill(load.pid, SIGKILL);
  wait(load);
  ASSERT_FALSE(f.timed_out);
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  EXPECT_NE(f.err.find("events lost: the ring buffer was full"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("-m 2"), std::string::npos) << f.err;

  TraceReader r(trace);
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
  }
  ASSERT_TRUE(r.complete()) << r.damage().message;
  const std::uint64_t drops = r.footer().losses.ringbuf_drops;
  ASSERT_GT(drops, 0u);
  const std::string row = std::to_string(drops) + "  ringbuf_drops";
  const std::string json_row = "\"name\": \"ringbuf_drops\",\n      \"severity\": \"data_loss\",\n      \"value\": " +
                               std::to_string(drops);
  for (const std::string& cmd : {std::string("stat"), std::string("replay")}) {
    SCOPED_TRACE(cmd);
    const auto text = run({LABYRINTH_CLI, cmd, trace});
    EXPECT_EQ(text.exit_code(), 0) << text.err;
    EXPECT_NE(text.out.find(row), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("the trace lost data"), std::string::npos) << text.out;
    const auto json = run({LABYRINTH_CLI, cmd, trace, "--json", "-"});
    EXPECT_EQ(json.exit_code(), 0) << json.err;
    EXPECT_NE(json.out.find(json_row), std::string::npos) << json.out.substr(0, 2000);
    EXPECT_NE(json.out.find("\"ringbuf_drops\": " + std::to_string(drops)), std::string::npos);  // capture.losses
  }
}

// record writes its trace and nothing else: run it with private, empty /tmp, /var/tmp and
// /dev/shm (a mount namespace) from a directory of its own, without -o and with -g, and
// look at what is there afterwards. The default output is relative to the current directory.
TEST_F(RecordTest, WritesOnlyItsTraceNothingInSharedTemporaryPlaces) {
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare(1)";
  // The build tree may itself be under /tmp (a CI clone): hold the binary open on fd 3 before
  // the empty mounts hide it, and run it through /proc/self/fd/3.
  const std::string cmd =
      "set -e; exec 3< \"$0\"; for d in /tmp /var/tmp /dev/shm; do mount -t tmpfs -o mode=1777 none $d; done; "
      "mkdir -m 700 /tmp/work; cd /tmp/work; "
      "bpf_before=$(ls -A /sys/fs/bpf 2>/dev/null | wc -l); "
      "/proc/self/fd/3 record -g -d 1 --no-kpageflags >/dev/null 2>&1; "
      "bpf_after=$(ls -A /sys/fs/bpf 2>/dev/null | wc -l); echo bpf $bpf_before $bpf_after; "
      "find /tmp /var/tmp /dev/shm -mindepth 1 -printf '%p %m\\n'";
  const auto f = run({"unshare", "-m", "--propagation", "private", "sh", "-c", cmd, LABYRINTH_CLI});
  ASSERT_EQ(f.exit_code(), 0) << f.err << f.out;
  std::istringstream lines(f.out);
  std::string line;
  std::set<std::string> found;
  while (std::getline(lines, line)) {
    if (line.rfind("bpf ", 0) == 0) {
      std::istringstream in(line.substr(4));
      int before = -1, after = -2;
      in >> before >> after;
      EXPECT_EQ(before, after) << "record left something in /sys/fs/bpf";
      continue;
    }
    found.insert(line);
  }
  EXPECT_EQ(found, (std::set<std::string>{"/tmp/work 700", "/tmp/work/labyrinth.trace 600"})) << f.out;
}

// --no-zone-counters loads the alloc programs without them (those a kernel before 5.17 takes):
// the recording has its events and no zone counters, and names nothing missing for them.
TEST_F(RecordTest, WithoutZoneCountersThePlainAllocProgramsRecord) {
  const std::string trace = path("plain.trace");
  const auto f = run(record({"-o", trace, "--no-zone-counters", "--no-kpageflags", "--", LABYRINTH_PAGE_WORKLOAD,
                             "touch", "16", "2"}));
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  EXPECT_EQ(f.err.find("zone_counters"), std::string::npos) << f.err;
  TraceReader r(trace);
  const auto& events = r.header().events;
  EXPECT_EQ(std::find(events.begin(), events.end(), "bpf:zone_counters"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "kmem:mm_page_alloc"), events.end());
  std::uint64_t allocs = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) allocs += e.kind == EventKind::Alloc ? 1 : 0;
  }
  EXPECT_GT(allocs, 4000u);  // 2 x 16 MiB touched
  EXPECT_TRUE(r.take_zone_counters().empty());
}

// The free lists read by BPF at every keyframe, checked against the kernel's own accounts: the
// blocks per order buddyinfo counted right after the walk, and the /proc/kpageflags scan of the
// end snapshot. Memory moves between two reads: on a busy machine a process that exits frees
// hundreds of MB in between. So every map must be near (5%), and at least half of them as exact
// as a quiet moment allows (free pages within 0.5%, every order of 100 blocks or more within 2%);
// a walk that lost or misread a list would not be, at any moment.
TEST_F(RecordTest, KeyframesCarryTheFreeListsAsTheKernelCountsThem) {
  const labyrinth::testing::MachineLock machine(labyrinth::testing::MachineLock::Shared);  // no balloon meanwhile
  ASSERT_TRUE(machine.held()) << "cannot lock /tmp/labyrinth-machine.lock";
  const std::string trace = path("lists.trace");
  const auto f = run(record({"-o", trace, "--keyframe-interval", "300ms", "--", LABYRINTH_PAGE_WORKLOAD, "touch", "16",
                             "20"}));
  ASSERT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  EXPECT_EQ(r.header().options.at("free_map_source"), "free_lists");
  EXPECT_EQ(r.header().options.at("keyframe_free_map"), "1");
  ASSERT_GE(r.keyframes().size(), 2u);
  std::vector<labyrinth::traces::FreeRun> runs;
  std::size_t exact = 0;
  for (std::size_t i = 0; i < r.keyframes().size(); ++i) {
    const auto& k = r.keyframes()[i];
    ASSERT_TRUE(k.free_map_in_file) << "keyframe " << i;
    ASSERT_TRUE(r.keyframe_free_map(i, runs)) << "keyframe " << i;
    std::uint64_t map_pages = 0, counted = 0;
    for (const auto& run : runs) map_pages += run.pages;
    for (const auto& z : k.zones) {
      for (std::size_t o = 0; o < z.buddyinfo.size(); ++o) counted += z.buddyinfo[o] << o;
    }
    const double off = std::abs(static_cast<double>(map_pages) - static_cast<double>(counted));
    EXPECT_LE(off, 0.05 * static_cast<double>(counted)) << "keyframe " << i << ": " << map_pages << " against " << counted;
    bool orders_agree = true;
    const auto& zones = r.header().zones;
    for (const auto& z : k.zones) {
      const auto zone = std::find_if(zones.begin(), zones.end(), [&](const auto& h) { return h.name == z.zone; });
      ASSERT_NE(zone, zones.end());
      const auto blocks = labyrinth::traces::decompose_free_runs(runs, r.header().max_order, zone->start_pfn,
                                                                 zone->start_pfn + zone->spanned_pages);
      for (std::size_t o = 0; o < z.buddyinfo.size() && o < blocks.size(); ++o) {
        if (z.buddyinfo[o] < 100) continue;
        const double d = std::abs(static_cast<double>(blocks[o]) - static_cast<double>(z.buddyinfo[o]));
        orders_agree = orders_agree && d <= 0.02 * static_cast<double>(z.buddyinfo[o]);
      }
    }
    if (off <= 0.005 * static_cast<double>(counted) && orders_agree) ++exact;
  }
  EXPECT_GE(2 * exact, r.keyframes().size()) << exact << " of " << r.keyframes().size() << " maps agreed";
  // The last keyframe's walk and the end snapshot's scan, at most 300 ms apart.
  const auto& end = r.end_snapshot().free_runs;
  ASSERT_FALSE(end.empty());
  ASSERT_TRUE(r.keyframe_free_map(r.keyframes().size() - 1, runs));
  std::uint64_t end_pages = 0, shared = 0;
  for (const auto& run : end) end_pages += run.pages;
  for (std::size_t a = 0, b = 0; a < runs.size() && b < end.size();) {
    const std::uint64_t lo = std::max(runs[a].start_pfn, end[b].start_pfn);
    const std::uint64_t hi = std::min(runs[a].start_pfn + runs[a].pages, end[b].start_pfn + end[b].pages);
    if (hi > lo) shared += hi - lo;
    (runs[a].start_pfn + runs[a].pages < end[b].start_pfn + end[b].pages) ? ++a : ++b;
  }
  EXPECT_GT(static_cast<double>(shared), 0.95 * static_cast<double>(end_pages));
}

TEST_F(RecordTest, PidFilterKeepsOnlyThatProcess) {
  const auto load = spawn({LABYRINTH_PAGE_WORKLOAD, "touch", "16", "100000"});
  std::this_thread::sleep_for(100ms);
  const std::string trace = path("pid.trace");
  const auto f = run(record({"-o", trace, "-p", std::to_string(load.pid), "-d", "1", "--no-kpageflags"}));
  ::kill(load.pid, SIGKILL);
  wait(load);
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::uint64_t ours = 0, others = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) (e.pid == static_cast<std::uint32_t>(load.pid) ? ours : others)++;
  }
  EXPECT_GT(ours, 1000u);
  EXPECT_EQ(others, 0u);
  EXPECT_EQ(r.header().options.at("pid"), std::to_string(load.pid));
}

TEST_F(RecordTest, MinOrderAndEventSelection) {
  const std::string trace = path("order.trace");
  const auto f = run(record({"-o", trace, "--min-order", "1", "-e", "alloc,free", "--no-kpageflags", "--",
                             LABYRINTH_PAGE_WORKLOAD, "touch", "16", "2"}));
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  // The zone counters come with the allocations (read at their failures).
  EXPECT_EQ(r.header().events,
            (std::vector<std::string>{"kmem:mm_page_alloc", "kmem:mm_page_free", "bpf:zone_counters"}));
  std::uint64_t small = 0, other_kinds = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) {
      if (e.order < 1) ++small;
      if (e.kind != EventKind::Alloc && e.kind != EventKind::Free) ++other_kinds;
    }
  }
  EXPECT_EQ(small, 0u);
  EXPECT_EQ(other_kinds, 0u);
}

TEST_F(RecordTest, CallGraphGivesSymbolizedKernelStacks) {
  const std::string trace = path("g.trace");
  const auto f =
      run(record({"-g", "-o", trace, "--no-kpageflags", "--", LABYRINTH_PAGE_WORKLOAD, "touch", "16", "1"}));
  ASSERT_EQ(f.exit_code(), 0) << f.err;
  TraceReader r(trace);
  std::set<std::uint32_t> ids;
  std::uint64_t with_stack = 0, allocs = 0;
  std::span<const PageEvent> chunk;
  while (r.next(chunk)) {
    for (const auto& e : chunk) {
      if (e.kind != EventKind::Alloc) continue;
      ++allocs;
      if (e.stack_id != 0) {
        ++with_stack;
        ids.insert(e.stack_id);
      }
    }
  }
  ASSERT_GT(allocs, 0u);
  EXPECT_GT(with_stack, allocs * 9 / 10);
  bool symbolized = false, fault_path = false;
  for (const auto id : ids) {
    const auto* st = r.stack(id);
    ASSERT_NE(st, nullptr) << id;
    ASSERT_FALSE(st->frames.empty());
    for (const auto& frame : st->frames) {
      if (frame.find("+0x") != std::string::npos && frame.rfind("0x", 0) != 0) symbolized = true;
      if (frame.find("fault") != std::string::npos) fault_path = true;
    }
  }
  EXPECT_TRUE(symbolized);
  EXPECT_TRUE(fault_path) << "touching pages allocates from the page-fault path";
}

TEST_F(RecordTest, InfoReportsThisKernel) {
  const auto f = run({LABYRINTH_CLI, "info", "--json", "-"});
  ASSERT_EQ(f.exit_code(), 0) << f.err;
  EXPECT_NE(f.out.find("\"schema_version\": 1"), std::string::npos);
  EXPECT_NE(f.out.find("\"kmem:mm_page_alloc\""), std::string::npos);
  EXPECT_NE(f.out.find("\"GFP_ATOMIC\""), std::string::npos);
  EXPECT_NE(f.out.find("\"ready\": true"), std::string::npos);
  EXPECT_NE(f.out.find("\"min_pages\""), std::string::npos);
  // Each tracing program's function, with what the recorder's own probe found.
  const std::string moves = labyrinth::ebpf::probe_kernel().tracing_refusal("move_freepages_block");
  EXPECT_NE(f.out.find("\"function\": \"move_freepages_block\""), std::string::npos) << f.out;
  EXPECT_NE(f.out.find(moves.empty() ? "\"available\": true" : "\"problem\": \"" + moves + "\""), std::string::npos);
  // The zone counters at failures, as the recorder's probe finds them (this VM: available).
  const std::string counters = labyrinth::ebpf::probe_kernel().zone_counters_refusal;
  const auto j = nlohmann::json::parse(f.out);
  ASSERT_TRUE(j.contains("zone_counters")) << f.out;
  EXPECT_EQ(j["zone_counters"]["available"].get<bool>(), counters.empty()) << f.out;
  const auto text = run({LABYRINTH_CLI, "info"});
  ASSERT_EQ(text.exit_code(), 0);
  EXPECT_NE(text.out.find("kmem:mm_page_pcpu_drain"), std::string::npos);
  EXPECT_NE(text.out.find("tracing programs (fentry/fexit"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(counters.empty() ? "zone counters at failures (task iterator, bpf_loop): yes"
                                           : "zone counters at failures (task iterator, bpf_loop): no: " + counters),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("record           ready"), std::string::npos) << text.out;
}

TEST_F(RecordTest, InfoWorksUnprivilegedAndSaysRecordIsNotReady) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  const auto f = wait(spawn({LABYRINTH_CLI, "info"},
                            {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}));
  EXPECT_EQ(f.exit_code(), 0) << f.err;
  EXPECT_NE(f.out.find("NOT READY"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("CAP_BPF"), std::string::npos) << f.out;
}

}  // namespace
