#include "child_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "labyrinth/ebpf/errors.hpp"
#include "labyrinth/ebpf/record_session.hpp"
#include "stop_signals.hpp"

namespace labyrinth::ebpf {

using Kind = RecordError::Kind;

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

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

ChildCommand::ChildCommand(const std::vector<std::string>& argv) {
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

ChildCommand::~ChildCommand() {
  if (go_fd_ >= 0) ::close(go_fd_);  // EOF: the child exits without running the command
  if (err_fd_ >= 0) ::close(err_fd_);
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

int ChildCommand::release() {
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

bool ChildCommand::poll_exit() {
  if (reaped_) return true;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
  }
  return reaped_;
}

void ChildCommand::signal(int sig) const {
  if (!reaped_) ::kill(pid_, sig);
}

void ChildCommand::wait(RecordObserver& observer) {
  const int seen = stop_signal_count();
  while (!reaped_) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, 0);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
    } else if (r < 0 && errno == EINTR) {
      if (stop_signal_count() != seen) {
        observer.warning(fmt::format("killing the command (pid {})", pid_));
        ::kill(pid_, SIGKILL);
      }
    } else if (r < 0) {
      reaped_ = true;  // ECHILD: somebody else reaped it
    }
  }
}

}  // namespace labyrinth::ebpf
