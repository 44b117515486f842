// Helper of bench/record/run.sh.
//
//   measure run -- CMD ARGS...       runs CMD; prints "wall_s= user_s= sys_s= exit=" on stderr
//                                     (CPU of CMD and every child it waited for)
//   measure footer TRACE             prints "events= drops= misses= bytes= complete=" of a
//                                     labyrinth trace
//   measure ftrace -o FILE [-b KB] -e SYSTEM:EVENT... -- CMD ARGS...
//                                     records the events in a private ftrace instance while
//                                     CMD runs, the way trace-cmd does (splice of each CPU's
//                                     trace_pipe_raw into a file); prints "events= overrun=
//                                     bytes=" on stderr. For machines where trace-cmd record
//                                     itself cannot run.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "labyrinth/traces/trace_reader.hpp"

namespace {

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

pid_t spawn(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execvp(args[0], args.data());
    std::perror(args[0]);
    ::_exit(127);
  }
  return pid;
}

// Waits for pid; returns its wait status and its (and its children's) rusage.
int wait_for(pid_t pid, rusage& ru) {
  int status = 0;
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  return status;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int cmd_run(std::vector<std::string> argv) {
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = spawn(std::move(argv));
  rusage ru{};
  const int status = wait_for(pid, ru);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "measure: wall_s={:.3f} user_s={:.3f} sys_s={:.3f} exit={}\n", wall, seconds(ru.ru_utime),
             seconds(ru.ru_stime), exit_code(status));
  return exit_code(status);
}

int cmd_footer(const std::string& path) {
  labyrinth::traces::TraceReader r(path);
  std::span<const labyrinth::traces::PageEvent> chunk;
  std::uint64_t n = 0;
  while (r.next(chunk)) n += chunk.size();
  const auto& f = r.footer();
  fmt::print("events={} drops={} misses={} bytes={} complete={}\n", n, f.losses.ringbuf_drops,
             f.losses.recursion_misses, r.file_size(), r.complete() ? 1 : 0);
  return 0;
}

bool write_file(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::atomic<bool> g_stop{false};

// trace-cmd's recorder: splice the CPU's raw ring-buffer pages into a pipe, then into a file.
void splice_cpu(const std::string& raw, const std::string& out, std::atomic<std::uint64_t>& bytes) {
  const int in = ::open(raw.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int pipefd[2];
  if (in < 0 || fd < 0 || ::pipe2(pipefd, O_CLOEXEC) != 0) {
    std::perror("ftrace recorder");
    return;
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto pump = [&] {
    bool any = false;
    while (true) {
      const ssize_t n = ::splice(in, nullptr, pipefd[1], nullptr, page * 16, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n <= 0) break;
      any = true;
      ssize_t left = n;
      while (left > 0) {
        const ssize_t m = ::splice(pipefd[0], nullptr, fd, nullptr, static_cast<std::size_t>(left), SPLICE_F_MOVE);
        if (m <= 0) break;
        left -= m;
        bytes += static_cast<std::uint64_t>(m);
      }
    }
    return any;
  };
  while (!g_stop.load()) {
    if (!pump()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // trace-cmd's default: -s 1000 (us)
  }
  pump();
  ::close(in);
  ::close(fd);
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

int cmd_ftrace(const std::string& out, unsigned buffer_kb, const std::vector<std::string>& events,
               std::vector<std::string> argv) {
  std::string root = "/sys/kernel/tracing";
  if (::access((root + "/instances").c_str(), F_OK) != 0) root = "/sys/kernel/debug/tracing";
  const std::string inst = root + "/instances/labyrinth-bench-" + std::to_string(::getpid());
  if (::mkdir(inst.c_str(), 0700) != 0) {
    std::perror(inst.c_str());
    return 1;
  }
  auto cleanup = [&] { ::rmdir(inst.c_str()); };
  write_file(inst + "/buffer_size_kb", std::to_string(buffer_kb));
  for (const auto& e : events) {
    const auto colon = e.find(':');
    if (colon == std::string::npos || !write_file(inst + "/events/" + e.substr(0, colon) + "/" + e.substr(colon + 1) + "/enable", "1")) {
      fmt::print(stderr, "measure: cannot enable {}\n", e);
      cleanup();
      return 1;
    }
  }
  const long ncpus = ::sysconf(_SC_NPROCESSORS_CONF);
  std::atomic<std::uint64_t> bytes{0};
  std::vector<std::thread> readers;
  for (long c = 0; c < ncpus; ++c) {
    readers.emplace_back(splice_cpu, inst + "/per_cpu/cpu" + std::to_string(c) + "/trace_pipe_raw",
                         out + ".cpu" + std::to_string(c), std::ref(bytes));
  }
  write_file(inst + "/tracing_on", "1");
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = spawn(std::move(argv));
  rusage ru{};
  const int status = wait_for(pid, ru);
  write_file(inst + "/tracing_on", "0");
  g_stop = true;
  for (auto& t : readers) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage self{};  // the reader threads are the recorder here
  ::getrusage(RUSAGE_SELF, &self);
  ru.ru_utime.tv_sec += self.ru_utime.tv_sec;
  ru.ru_utime.tv_usec += self.ru_utime.tv_usec;
  ru.ru_stime.tv_sec += self.ru_stime.tv_sec;
  ru.ru_stime.tv_usec += self.ru_stime.tv_usec;
  std::uint64_t entries = 0, overrun = 0;
  for (long c = 0; c < ncpus; ++c) {
    std::istringstream stats(read_file(inst + "/per_cpu/cpu" + std::to_string(c) + "/stats"));
    std::string line;
    while (std::getline(stats, line)) {
      std::uint64_t v = 0;
      if (std::sscanf(line.c_str(), "overrun: %lu", &v) == 1) overrun += v;
      // "entries" counts what is still in the buffer; "read events" what the readers took
      if (std::sscanf(line.c_str(), "read events: %lu", &v) == 1) entries += v;
      if (std::sscanf(line.c_str(), "entries: %lu", &v) == 1) entries += v;
    }
  }
  for (const auto& e : events) {
    const auto colon = e.find(':');
    write_file(inst + "/events/" + e.substr(0, colon) + "/" + e.substr(colon + 1) + "/enable", "0");
  }
  cleanup();
  fmt::print(stderr, "measure: ftrace events={} overrun={} bytes={}\n", entries, overrun, bytes.load());
  fmt::print(stderr, "measure: wall_s={:.3f} user_s={:.3f} sys_s={:.3f} exit={}\n", wall, seconds(ru.ru_utime),
             seconds(ru.ru_stime), exit_code(status));
  return exit_code(status);
}

int usage() {
  std::fprintf(stderr,
               "usage: measure run -- CMD...\n"
               "       measure footer TRACE\n"
               "       measure ftrace -o FILE [-b KB] -e SYSTEM:EVENT... -- CMD...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  auto after_dashes = [&](std::size_t from) {
    std::vector<std::string> out;
    for (std::size_t i = from; i < rest.size(); ++i) {
      if (rest[i] == "--") {
        out.assign(rest.begin() + static_cast<std::ptrdiff_t>(i) + 1, rest.end());
        break;
      }
    }
    return out;
  };
  try {
    if (cmd == "run") {
      auto argv2 = after_dashes(0);
      if (argv2.empty()) return usage();
      return cmd_run(std::move(argv2));
    }
    if (cmd == "footer" && rest.size() == 1) return cmd_footer(rest[0]);
    if (cmd == "ftrace") {
      std::string out;
      unsigned kb = 1408;  // trace-cmd's default per-CPU buffer here
      std::vector<std::string> events;
      std::size_t i = 0;
      for (; i < rest.size() && rest[i] != "--"; ++i) {
        if (rest[i] == "-o" && i + 1 < rest.size()) out = rest[++i];
        else if (rest[i] == "-b" && i + 1 < rest.size()) kb = static_cast<unsigned>(std::stoul(rest[++i]));
        else if (rest[i] == "-e" && i + 1 < rest.size()) events.push_back(rest[++i]);
        else return usage();
      }
      auto argv2 = after_dashes(0);
      if (out.empty() || events.empty() || argv2.empty()) return usage();
      std::signal(SIGINT, SIG_IGN);
      return cmd_ftrace(out, kb, events, std::move(argv2));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "measure: {}\n", e.what());
    return 1;
  }
  return usage();
}
