// The command that `labyrinth record -- COMMAND` runs, and the process that `-p PID` follows.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace labyrinth::ebpf {

class RecordObserver;

// The executable `name` resolves to through PATH (as execvp would), or "" if none.
std::string find_in_path(const std::string& name);

// A wait status as a shell reports it: the exit code, or 128 + the signal number.
int exit_code_of(int wait_status);

// Running (not gone, not a zombie waiting for its parent).
bool process_alive(pid_t pid);

// Forked before anything else (no threads yet); blocks on a pipe until released, so the
// first instruction of the command runs with the BPF programs attached. Destroyed before
// release(), the child exits without running the command; destroyed unreaped, it is killed.
class ChildCommand {
 public:
  explicit ChildCommand(const std::vector<std::string>& argv);  // throws RecordError
  ~ChildCommand();
  ChildCommand(const ChildCommand&) = delete;
  ChildCommand& operator=(const ChildCommand&) = delete;

  // Lets the child exec; returns 0 or the errno of a failed exec.
  int release();
  // true once the child has exited (and was reaped).
  bool poll_exit();
  void signal(int sig) const;
  // Blocks; a further stop signal while waiting kills the command.
  void wait(RecordObserver& observer);

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

}  // namespace labyrinth::ebpf
