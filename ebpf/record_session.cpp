#include "labyrinth/ebpf/record_session.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "labyrinth/ebpf/kallsyms.hpp"
#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/ebpf/system_snapshot.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::EventKind;
using Clock = std::chrono::steady_clock;
using Kind = RecordError::Kind;

// ---- signals -------------------------------------------------------------------------
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_stop_count = 0;
volatile sig_atomic_t g_stop_from_tty = 0;
volatile sig_atomic_t g_child_event = 0;

extern "C" void on_stop_signal(int sig, siginfo_t* info, void*) {
  g_stop_signal = sig;
  g_stop_count = g_stop_count + 1;
  // Keyboard signals come from the kernel (SI_KERNEL) and reach the whole foreground
  // process group, the recorded command included; kill(2) gives SI_USER.
  g_stop_from_tty = (info != nullptr && info->si_code == SI_KERNEL) ? 1 : 0;
}
extern "C" void on_child_signal(int) { g_child_event = 1; }

class SignalGuard {
 public:
  SignalGuard() {
    g_stop_signal = 0;
    g_stop_count = 0;
    g_stop_from_tty = 0;
    g_child_event = 0;
    struct sigaction sa {};
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: epoll_wait returns EINTR
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; ++i) ::sigaction(kStop[i], &sa, &old_[i]);
    struct sigaction sc {};
    sc.sa_handler = on_child_signal;
    sc.sa_flags = SA_NOCLDSTOP;
    sigemptyset(&sc.sa_mask);
    ::sigaction(SIGCHLD, &sc, &old_chld_);
  }
  ~SignalGuard() {
    for (int i = 0; i < 3; ++i) ::sigaction(kStop[i], &old_[i], nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  static constexpr int kStop[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3] {};
  struct sigaction old_chld_ {};
};

// ---- the recorded command --------------------------------------------------------------
std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::faccessat(AT_FDCWD, name.c_str(), X_OK, AT_EACCESS) == 0 ? name : std::string();
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= p.size()) {
    std::size_t colon = p.find(':', pos);
    if (colon == std::string::npos) colon = p.size();
    // an empty PATH entry means the current directory
    const std::string candidate = (colon == pos ? std::string(".") : p.substr(pos, colon - pos)) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::faccessat(AT_FDCWD, candidate.c_str(), X_OK, AT_EACCESS) == 0)
      return candidate;
    pos = colon + 1;
  }
  return {};
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// Forked before anything else (no threads yet); blocks on a pipe until released, so the
// first instruction of the command runs with the BPF programs attached.
class ChildCommand {
 public:
  explicit ChildCommand(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int go[2];
    int err[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw RecordError(Kind::Failure, std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int e = errno;
      ::close(go[0]);
      ::close(go[1]);
      ::close(err[0]);
      ::close(err[1]);
      throw RecordError(Kind::Failure, std::string("fork: ") + std::strerror(e));
    }
    if (pid == 0) {
      ::close(go[1]);
      ::close(err[0]);
      char c = 0;
      ssize_t n;
      do {
        n = ::read(go[0], &c, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) ::_exit(127);  // the recorder gave up
      ::execvp(args[0], args.data());
      const int e = errno;
      [[maybe_unused]] const ssize_t w = ::write(err[1], &e, sizeof e);
      ::_exit(127);
    }
    pid_ = pid;
    ::close(go[0]);
    ::close(err[1]);
    go_fd_ = go[1];
    err_fd_ = err[0];
  }
  ~ChildCommand() {
    if (go_fd_ >= 0) ::close(go_fd_);  // EOF: the child exits without running the command
    if (err_fd_ >= 0) ::close(err_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }
  ChildCommand(const ChildCommand&) = delete;
  ChildCommand& operator=(const ChildCommand&) = delete;

  // Lets the child exec; returns 0 or the errno of a failed exec.
  int release() {
    const char c = 1;
    [[maybe_unused]] const ssize_t w = ::write(go_fd_, &c, 1);
    ::close(go_fd_);
    go_fd_ = -1;
    int e = 0;
    ssize_t n;
    do {
      n = ::read(err_fd_, &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    ::close(err_fd_);
    err_fd_ = -1;
    return n == static_cast<ssize_t>(sizeof e) ? e : 0;
  }

  // true once the child has exited (and was reaped).
  bool poll_exit() {
    if (reaped_) return true;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
    }
    return reaped_;
  }
  void signal(int sig) const {
    if (!reaped_) ::kill(pid_, sig);
  }
  // Blocks; a further stop signal while waiting kills the command.
  void wait(RecordObserver& observer) {
    const int seen = g_stop_count;
    while (!reaped_) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, 0);
      if (r == pid_) {
        reaped_ = true;
        status_ = st;
      } else if (r < 0 && errno == EINTR) {
        if (g_stop_count != seen) {
          observer.warning(fmt::format("killing the command (pid {})", pid_));
          ::kill(pid_, SIGKILL);
        }
      } else if (r < 0) {
        reaped_ = true;  // ECHILD: somebody else reaped it
      }
    }
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool exited() const { return reaped_; }
  [[nodiscard]] int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Running (not gone, not a zombie waiting for its parent).
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::string human_count(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string human_bytes(double v) {
  if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
  if (v >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
  if (v >= 1024.0) return fmt::format("{:.1f} KiB", v / 1024.0);
  return fmt::format("{:.0f} B", v);
}

// ---- the consumer --------------------------------------------------------------------------
struct PendingComm {
  std::uint32_t tid;
  std::uint32_t tgid;
  std::string comm;
};

class TraceSink final : public CollectedEventSink {
 public:
  TraceSink(traces::TraceWriter& writer, const Collector& collector, const KernelSymbols* symbols)
      : writer_(writer), collector_(collector), symbols_(symbols) {}

  // While the start snapshot is taken the writer must not see events yet: keep them.
  void set_buffering(bool on) { buffering_ = on; }
  void replay_buffered() {
    buffering_ = false;
    for (auto& item : buffered_) {
      if (auto* e = std::get_if<traces::PageEvent>(&item)) {
        on_event(*e);
      } else {
        const auto& c = std::get<PendingComm>(item);
        on_comm(c.tid, c.tgid, c.comm);
      }
    }
    buffered_.clear();
    buffered_.shrink_to_fit();
  }

  void on_event(const traces::PageEvent& in) override {
    if (buffering_) {
      buffered_.emplace_back(in);
      return;
    }
    traces::PageEvent e = in;
    e.comm_id = comm_of(e.tid, e.pid);
    if (e.stack_id != traces::kNoStack && defined_stacks_.insert(e.stack_id).second) define_stack(e.stack_id);
    writer_.append(e);
    ++events_;
    ++by_kind_[static_cast<std::size_t>(e.kind)];
    if (events_ == 1) first_ts_ = e.ts_ns;
    last_ts_ = std::max(last_ts_, e.ts_ns);
    since_flush_ = true;
  }

  void on_comm(std::uint32_t tid, std::uint32_t tgid, std::string_view comm) override {
    if (buffering_) {
      buffered_.emplace_back(PendingComm{tid, tgid, std::string(comm)});
      return;
    }
    (void)tgid;
    tid_comm_[tid] = intern(comm);
    if (tid == last_tid_) last_comm_ = kNoCache;
  }

  void flush_if_due() {
    if (!since_flush_) return;
    writer_.flush();
    since_flush_ = false;
  }

  [[nodiscard]] std::uint64_t events() const { return events_; }
  [[nodiscard]] std::uint64_t first_ts() const { return first_ts_; }
  [[nodiscard]] std::uint64_t last_ts() const { return last_ts_; }
  [[nodiscard]] const std::array<std::uint64_t, traces::kEventKindCount>& by_kind() const { return by_kind_; }
  [[nodiscard]] std::uint64_t comms() const { return comm_ids_.size(); }
  [[nodiscard]] std::uint64_t stacks() const { return defined_stacks_.size(); }
  [[nodiscard]] std::uint64_t stacks_lost() const { return stacks_lost_; }

 private:
  std::uint32_t intern(std::string_view comm) {
    const std::string key(comm);
    auto it = comm_ids_.find(key);
    if (it != comm_ids_.end()) return it->second;
    const std::uint32_t id = writer_.intern_comm(comm);
    comm_ids_.emplace(key, id);
    return id;
  }

  std::uint32_t comm_of(std::uint32_t tid, std::uint32_t tgid) {
    if (tid == last_tid_ && last_comm_ != kNoCache) return last_comm_;
    last_tid_ = tid;
    last_comm_ = lookup_comm(tid, tgid);
    return last_comm_;
  }

  std::uint32_t lookup_comm(std::uint32_t tid, std::uint32_t tgid) {
    auto it = tid_comm_.find(tid);
    if (it != tid_comm_.end()) return it->second;
    // The name record was lost (ring full) or the thread was never named: ask /proc once.
    std::uint32_t id = traces::kUnknownComm;
    std::ifstream in(fmt::format("/proc/{}/task/{}/comm", tgid, tid));
    std::string name;
    if (in && std::getline(in, name) && !name.empty()) id = intern(name);
    tid_comm_.emplace(tid, id);
    return id;
  }

  void define_stack(std::uint32_t id) {
    std::vector<std::uint64_t> ips;
    if (!collector_.stack(id, ips)) {
      ++stacks_lost_;
      return;
    }
    std::vector<std::string> frames;
    frames.reserve(ips.size());
    for (const auto ip : ips)
      frames.push_back(symbols_ != nullptr ? symbols_->symbolize(ip) : fmt::format("{:#x}", ip));
    writer_.define_stack(id, std::move(frames));
  }

  traces::TraceWriter& writer_;
  const Collector& collector_;
  const KernelSymbols* symbols_;
  static constexpr std::uint32_t kNoCache = ~std::uint32_t{0};
  std::uint32_t last_tid_ = 0;           // a one-entry cache in front of tid_comm_
  std::uint32_t last_comm_ = kNoCache;
  bool buffering_ = false;
  std::vector<std::variant<traces::PageEvent, PendingComm>> buffered_;
  std::unordered_map<std::uint32_t, std::uint32_t> tid_comm_;
  std::unordered_map<std::string, std::uint32_t> comm_ids_;
  std::unordered_set<std::uint32_t> defined_stacks_;
  std::uint64_t stacks_lost_ = 0;
  std::uint64_t events_ = 0;
  std::array<std::uint64_t, traces::kEventKindCount> by_kind_{};
  std::uint64_t first_ts_ = 0, last_ts_ = 0;
  bool since_flush_ = false;
};

// Takes a snapshot on a worker thread while the caller keeps the ring buffer drained.
class SnapshotTask {
 public:
  SnapshotTask(std::vector<traces::ZoneInfo> zones, SnapshotOptions options)
      : zones_(std::move(zones)), options_(options) {
    thread_ = std::thread([this] {
      try {
        snapshot_ = take_snapshot(zones_, options_, &warnings_);
      } catch (const std::exception& e) {
        warnings_.push_back(std::string("no snapshot: ") + e.what());
        snapshot_ = traces::Snapshot{};
      }
      done_.store(true, std::memory_order_release);
    });
  }
  ~SnapshotTask() {
    if (thread_.joinable()) thread_.join();
  }
  SnapshotTask(const SnapshotTask&) = delete;
  SnapshotTask& operator=(const SnapshotTask&) = delete;
  [[nodiscard]] bool done() const { return done_.load(std::memory_order_acquire); }
  traces::Snapshot take(RecordObserver& observer) {
    thread_.join();
    for (const auto& w : warnings_) observer.warning(w);
    return std::move(snapshot_);
  }

 private:
  std::vector<traces::ZoneInfo> zones_;
  SnapshotOptions options_;
  traces::Snapshot snapshot_;
  std::vector<std::string> warnings_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

void protect_from_oom_killer(RecordObserver& observer) {
  const int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  const char value[] = "-900";
  if (fd < 0 || ::write(fd, value, sizeof value - 1) != static_cast<ssize_t>(sizeof value - 1)) {
    observer.debug(1, std::string("cannot lower oom_score_adj: ") + std::strerror(errno));
  }
  if (fd >= 0) ::close(fd);
}

std::string event_name(EventKind k) {
  const TracepointSpec* s = find_tracepoint(k);
  return s != nullptr ? std::string(s->category) + ":" + s->name : std::string(traces::to_string(k));
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

void check_output_path(const RecordOptions& o) {
  struct stat st {};
  if (::lstat(o.output.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      throw RecordError(Kind::Output, o.output + " is a symbolic link; refusing to write through it",
                        {"remove it or choose another name with -o"});
    if (!S_ISREG(st.st_mode))
      throw RecordError(Kind::Output, o.output + " exists and is not a regular file", {"choose another name with -o"});
    if (!o.overwrite)
      throw RecordError(Kind::Output, o.output + " already exists",
                        {"use -f to overwrite it, or -o to write another file"});
  }
  std::string dir = ".";
  if (const auto slash = o.output.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : o.output.substr(0, slash);
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    const int e = errno;
    throw RecordError(Kind::Output, "cannot write to " + dir + ": " + std::strerror(e),
                      {"choose a writable place with -o FILE"});
  }
}

}  // namespace

std::vector<EventKind> default_record_events() {
  std::vector<EventKind> out;
  for (const auto& s : tracepoint_specs())
    if (s.default_on) out.push_back(s.kind);
  return out;
}

std::optional<std::vector<EventKind>> parse_event_list(std::string_view list, std::string* error) {
  std::vector<EventKind> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string item(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    std::vector<EventKind> add;
    if (item == "default") {
      add = default_record_events();
    } else if (item == "all") {
      for (const auto& s : tracepoint_specs()) add.push_back(s.kind);
    } else if (const TracepointSpec* s = find_tracepoint(item)) {
      add.push_back(s->kind);
    } else {
      if (error != nullptr) {
        std::vector<std::string> names;
        for (const auto& spec : tracepoint_specs()) names.emplace_back(spec.short_name);
        *error = "unknown event '" + item + "' (known: " + join(names, ", ") + ", default, all)";
      }
      return std::nullopt;
    }
    for (const auto k : add)
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  if (out.empty()) {
    if (error != nullptr) *error = "no event given";
    return std::nullopt;
  }
  return out;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(std::string(text.substr(0, i)), &used);
    if (used != i) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(i);
  double scale = 1e9;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return std::nullopt;
  const double ns = value * scale;
  if (!(ns > 0) || ns > 1e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

RecordResult run_record(const RecordOptions& o, RecordObserver& observer) {
  RecordResult result;
  result.output = o.output;

  // ---- options and preflight: nothing is created before these pass ----
  std::vector<EventKind> wanted = o.events.empty() ? default_record_events() : o.events;
  if (o.buffer_mib == 0 || (o.buffer_mib & (o.buffer_mib - 1)) != 0 || o.buffer_mib > 2048)
    throw RecordError(Kind::Usage, fmt::format("--buffer-size {} MiB: must be a power of two up to 2048", o.buffer_mib));
  if (o.min_order > 15) throw RecordError(Kind::Usage, fmt::format("--min-order {}: must be 0..15", o.min_order));
  if (o.pid != 0 && !process_alive(static_cast<pid_t>(o.pid)))
    throw RecordError(Kind::Usage, fmt::format("no process with pid {}", o.pid));
  std::string command_path;
  if (!o.command.empty()) {
    command_path = find_in_path(o.command.front());
    if (command_path.empty())
      throw RecordError(Kind::Usage, o.command.front() + ": command not found");
  }

  const KernelSupport ks = probe_kernel();
  for (const auto& w : check_record_preflight(ks, wanted)) observer.warning(w);
  std::vector<EventKind> attach;
  std::vector<std::string> missing;
  for (const auto k : wanted) {
    const TracepointStatus* ts = ks.tracepoint(k);
    if (ts != nullptr && ts->present && ts->missing_fields.empty())
      attach.push_back(k);
    else
      missing.push_back(event_name(k));
  }
  check_output_path(o);

  SystemFacts facts = collect_system_facts(ks.tracefs.path);
  for (const auto& w : facts.warnings) observer.warning(w);

  KernelSymbols symbols;
  if (o.call_graph) {
    std::string why;
    if (!symbols.load_file("/proc/kallsyms", &why))
      observer.warning("kernel stacks stay unsymbolized: " + why);
  }

  // ---- the command: forked while this process still has a single thread ----
  std::optional<ChildCommand> child;
  if (!o.command.empty()) {
    std::vector<std::string> argv = o.command;
    argv.front() = command_path;
    child.emplace(argv);
  }
  // Recordings matter most when memory runs out, which is when the OOM killer looks for the
  // largest process: the ring buffer's mapping makes that us. Step out of its way (as sshd
  // and journald do); the command was forked above and keeps the default.
  protect_from_oom_killer(observer);
  SignalGuard signals;

  // ---- BPF ----
  CollectorConfig cc;
  cc.kinds = attach;
  cc.ring_bytes = o.buffer_mib << 20;
  cc.wakeup_bytes = std::min(o.wakeup_kib << 10, cc.ring_bytes / 4);
  cc.batch = o.batch;
  cc.target_tgid = o.pid;
  cc.min_order = o.min_order;
  cc.stacks = o.call_graph;
  cc.task_rename = ks.has_task_rename;
  if (ks.preempt.found) cc.preempt_delta = ks.preempt.delta;
  cc.rdonly_cast = ks.has_rdonly_cast;
  cc.attach = o.attach;
  cc.page_struct_shift = ks.page_struct_shift;
  for (const auto& t : ks.tracepoints)
    if (t.raw_ok) cc.raw_kinds.push_back(t.spec->kind);
  cc.log = [&observer](int level, std::string_view msg) {
    if (level >= 1) observer.debug(level + 1, msg);  // libbpf info at -vv, debug at -vvv
  };
  Collector collector(cc);
  collector.attach();
  observer.debug(1, fmt::format("attached {}; execution context via {}", collector.attach_summary(),
                                ks.preempt.found ? ks.preempt.via : "nothing (unknown)"));
  if (!collector.raw_problem().empty())
    observer.debug(1, "using classic tracepoints (slower) because " + collector.raw_problem());
  if (g_stop_count > 0) {
    result.interrupted_before_start = true;
    result.stop_reason = "signal";
    return result;
  }

  // ---- the trace file ----
  traces::TraceHeader header;
  header.tool = "labyrinth";
  header.tool_version = o.tool_version;
  header.source = "record";
  fill_header(header, facts);
  header.clock = "boot";
  header.command = o.command;
  for (const auto k : attach) {
    const auto& gone = collector.unrecorded_kinds();
    if (std::find(gone.begin(), gone.end(), k) != gone.end()) {
      observer.warning("cannot record " + event_name(k) + " without raw_tp programs; recording without it");
      missing.push_back(event_name(k));
    } else {
      header.events.push_back(event_name(k));
    }
  }
  for (const auto& section : collector.optional_missing()) {
    observer.warning("cannot attach " + section + "; recording without it");
    missing.push_back(section.substr(section.find('/') + 1));
  }
  header.missing_events = missing;
  header.options["events"] = join(header.events, ",");
  header.options["pid"] = std::to_string(o.pid);
  header.options["min_order"] = std::to_string(o.min_order);
  header.options["call_graph"] = o.call_graph ? "1" : "0";
  header.options["buffer_mib"] = std::to_string(o.buffer_mib);
  header.options["wakeup_kib"] = std::to_string(o.wakeup_kib);
  header.options["batch"] = std::to_string(o.batch);
  header.options["kpageflags"] = o.kpageflags ? "1" : "0";
  header.options["keyframe_interval_ns"] = std::to_string(o.keyframe_interval.count());
  header.options["keyframe_free_map"] = std::to_string(o.keyframe_free_map);
  header.options["exec_context"] = ks.preempt.found ? ks.preempt.via : "unknown";
  header.options["attach"] = collector.attach_summary();
  if (o.duration) header.options["duration_ns"] = std::to_string(o.duration->count());
  header.start_time_unix_ns = realtime_ns();
  header.start_ts_ns = boottime_ns();
  const std::vector<traces::ZoneInfo> zones = header.zones;

  std::optional<traces::TraceWriter> writer;
  try {
    traces::WriterOptions wo;
    wo.overwrite = o.overwrite;
    writer.emplace(o.output, std::move(header), wo);
  } catch (const traces::TraceError& e) {
    throw RecordError(Kind::Output, e.what(), {"choose another file with -o, or -f to overwrite"});
  }

  TraceSink sink(*writer, collector, o.call_graph ? &symbols : nullptr);
  const auto t_start = Clock::now();
  const double cpu_start = cpu_seconds();
  std::optional<std::string> write_error;
  std::string stop_reason;
  bool child_signalled = false;

  // Takes the ring buffer; every 100 ms pushes out the per-CPU batches and hands the
  // events, in time order, to the trace.
  auto last_sync = Clock::now();
  auto consume = [&](int timeout_ms) {
    if (write_error) return;
    collector.poll(timeout_ms);
    const auto now = Clock::now();
    if (now - last_sync < std::chrono::milliseconds(100)) return;
    last_sync = now;
    try {
      collector.sync(sink);
    } catch (const traces::TraceError& e) {
      write_error = e.what();
    }
  };

  // ---- start snapshot, taken while the ring buffer is kept drained ----
  sink.set_buffering(true);
  {
    SnapshotTask task(zones, SnapshotOptions{o.kpageflags});
    while (!task.done()) consume(20);
    traces::Snapshot start = task.take(observer);
    try {
      collector.sync(sink);
      writer->write_start_snapshot(start);
      sink.replay_buffered();
    } catch (const traces::TraceError& e) {
      write_error = e.what();
    }
  }

  // ---- go ----
  if (child && !write_error) {
    const int exec_errno = child->release();
    if (exec_errno != 0) {
      observer.warning(fmt::format("cannot run {}: {}", o.command.front(), std::strerror(exec_errno)));
      stop_reason = "command-exit";
    } else {
      result.command_ran = true;
    }
  }

  auto last_status = Clock::now();
  auto last_flush = Clock::now();
  auto last_keyframe = Clock::now();
  const SnapshotOptions keyframe_options{false, false};
  std::uint64_t keyframe_wmark_changes = collector.watermark_changes();
  std::uint64_t events_at_status = 0;
  while (stop_reason.empty() && !write_error) {
    consume(50);
    const auto now = Clock::now();
    if (g_stop_count > 0) {
      stop_reason = "signal";
    } else if (child && child->poll_exit()) {  // SIGCHLD interrupts the poll
      stop_reason = "command-exit";
    } else if (o.duration && now - t_start >= *o.duration) {
      stop_reason = "duration";
    }
    const std::uint64_t wmark_changes = collector.watermark_changes();
    const bool watermarks_changed = wmark_changes != keyframe_wmark_changes;
    if (o.keyframe_interval.count() > 0 && stop_reason.empty() &&
        (now - last_keyframe >= o.keyframe_interval || watermarks_changed)) {
      keyframe_wmark_changes = wmark_changes;
      // About a millisecond (buddyinfo and zoneinfo); the ring buffer covers far more.
      last_keyframe = now;
      try {
        const bool with_map = o.kpageflags && o.keyframe_free_map != 0 &&
                              result.keyframes % o.keyframe_free_map == o.keyframe_free_map - 1;
        if (with_map) {
          SnapshotTask task(zones, SnapshotOptions{true, true});  // the ring buffer is kept drained meanwhile
          while (!task.done()) consume(20);
          writer->write_keyframe(task.take(observer));
        } else {
          writer->write_keyframe(take_snapshot(zones, keyframe_options));
        }
        ++result.keyframes;
      } catch (const traces::TraceError& e) {
        write_error = e.what();
      } catch (const std::exception& e) {
        observer.warning(std::string("no keyframe: ") + e.what());
      }
    }
    if (now - last_flush >= std::chrono::seconds(1)) {
      try {
        sink.flush_if_due();
      } catch (const traces::TraceError& e) {
        write_error = e.what();
      }
      last_flush = now;
      if (o.pid != 0 && !process_alive(static_cast<pid_t>(o.pid)) && stop_reason.empty()) stop_reason = "process-exit";
    }
    if (o.status_line && now - last_status >= std::chrono::milliseconds(500)) {
      const double dt = std::chrono::duration<double>(now - last_status).count();
      const double elapsed = std::chrono::duration<double>(now - t_start).count();
      const auto c = collector.counters();
      observer.status(fmt::format("recording {:.1f} s | {} events | {} events/s | {} drops | {} misses | {}", elapsed,
                                  human_count(static_cast<double>(sink.events())),
                                  human_count(static_cast<double>(sink.events() - events_at_status) / dt), c.drops,
                                  c.recursion_misses, human_bytes(static_cast<double>(writer->bytes_written()))));
      events_at_status = sink.events();
      last_status = now;
    }
  }
  if (write_error) stop_reason = "write-error";
  if (o.status_line) observer.status("");

  // The command outlived the recording: pass on a signal sent to us with kill(2) (a keyboard
  // signal reached it already), and stop it with SIGTERM after -d or an error, like perf.
  if (child && result.command_ran && !child->poll_exit() && !(stop_reason == "signal" && g_stop_from_tty != 0)) {
    child->signal(stop_reason == "signal" && g_stop_signal != 0 ? static_cast<int>(g_stop_signal) : SIGTERM);
    child_signalled = true;
  }

  // ---- stop: end snapshot (still recording), detach, drain, footer ----
  traces::Snapshot end;
  if (!write_error && g_stop_count < 2) {
    SnapshotTask task(zones, SnapshotOptions{o.kpageflags});
    while (!task.done()) consume(20);
    end = task.take(observer);
  }
  collector.detach();
  if (!write_error) {
    try {
      collector.finish(sink);
    } catch (const traces::TraceError& e) {
      write_error = e.what();
    }
  }
  result.counters = collector.counters();
  for (const auto& [program, misses] : result.counters.misses_by_program)
    observer.debug(1, fmt::format("{}: the kernel skipped it {} times", program, misses));
  observer.debug(1, fmt::format("{} records sent outside a batch, {} arrived late, {} not understood",
                                result.counters.bypass, result.counters.late, result.counters.bad_records));
  if (result.counters.run_count != 0)
    observer.debug(1, fmt::format("BPF programs ran {} times, {:.1f} ns per run (kernel.bpf_stats_enabled)",
                                  result.counters.run_count,
                                  static_cast<double>(result.counters.run_time_ns) /
                                      static_cast<double>(result.counters.run_count)));
  result.recorder_cpu_seconds = cpu_seconds() - cpu_start;
  result.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();

  if (child) {
    if (result.command_ran && !child->exited()) {
      if (!child_signalled && stop_reason != "command-exit")
        observer.info(fmt::format("waiting for {} (pid {}) to exit", o.command.front(), child->pid()));
      child->wait(observer);
    }
    if (child->exited()) result.command_exit_code = result.command_ran ? exit_code_of(child->status()) : 127;
    if (!result.command_ran) result.command_exit_code = 127;
  }

  traces::TraceFooter footer;
  footer.present = true;
  footer.events = sink.events();
  footer.events_by_kind = sink.by_kind();
  footer.first_ts_ns = sink.first_ts();
  footer.last_ts_ns = sink.last_ts();
  footer.end_time_unix_ns = realtime_ns();
  footer.losses.ringbuf_drops = result.counters.drops;
  footer.losses.recursion_misses = result.counters.recursion_misses;
  footer.losses.stacks_lost = result.counters.stack_errors + sink.stacks_lost();
  footer.exit_status = result.command_exit_code;
  footer.stop_reason = stop_reason;
  if (!write_error) {
    try {
      writer->finish(end, footer);
      result.trace_complete = true;
    } catch (const traces::TraceError& e) {
      write_error = e.what();
    }
  }
  result.bytes = writer->bytes_written();
  result.write_error = write_error;
  result.stop_reason = write_error ? "write-error" : stop_reason;
  result.events = sink.events();
  result.comms = sink.comms();
  result.stacks = sink.stacks();
  return result;
}

}  // namespace labyrinth::ebpf
