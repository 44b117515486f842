// The signals that stop a recording (SIGINT, SIGTERM, SIGHUP), SIGCHLD from the recorded
// command and, for the flight recorder, SIGUSR1 (write a dump now). Handlers only set flags;
// the consume loop reads them (poll returns EINTR).
#pragma once

namespace labyrinth::ebpf {

// Installs the handlers for its lifetime and clears the flags; one at a time.
class StopSignals {
 public:
  explicit StopSignals(bool dump_on_usr1 = false);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// Stop signals received so far (a second one hurries the stop along).
int stop_signal_count();
// The last stop signal's number, 0 before any.
int last_stop_signal();
// The last stop signal came from the terminal (it reached the command's process group too).
bool stop_signal_from_tty();
// SIGUSR1 received so far (only counted while StopSignals(true) is alive).
int dump_request_count();

}  // namespace labyrinth::ebpf
