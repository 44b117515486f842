// Runs a command (the labyrinth binary, usually) and captures its exit code and output.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace labyrinth::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

inline std::string slurp_fd(int fd) {
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
  return data;
}

// argv[0] is the program path. stdout and stderr go to temporary files (no pipe deadlock).
// cwd: the directory to run in ("" = this one).
inline CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null",
                                 const std::string& cwd = "") {
  char out_name[] = "/tmp/laby-out-XXXXXX";
  char err_name[] = "/tmp/laby-err-XXXXXX";
  const int out_fd = ::mkstemp(out_name);
  const int err_fd = ::mkstemp(err_name);
  CommandResult result;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in_fd = ::open(stdin_path.c_str(), O_RDONLY);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  result.out = slurp_fd(out_fd);
  result.err = slurp_fd(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  ::unlink(out_name);
  ::unlink(err_name);
  return result;
}

inline CommandResult run_labyrinth(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
  args.insert(args.begin(), LABYRINTH_CLI);
  return run_command(args, stdin_path);
}

}  // namespace labyrinth::testing
