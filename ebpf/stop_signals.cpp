#include "stop_signals.hpp"

#include <signal.h>

namespace labyrinth::ebpf {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_stop_count = 0;
volatile sig_atomic_t g_stop_from_tty = 0;

constexpr int kStop[3] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_old_stop[3] {};
struct sigaction g_old_chld {};

extern "C" void on_stop_signal(int sig, siginfo_t* info, void*) {
  g_stop_signal = sig;
  g_stop_count = g_stop_count + 1;
  // Keyboard signals come from the kernel (SI_KERNEL) and reach the whole foreground
  // process group, the recorded command included; kill(2) gives SI_USER.
  g_stop_from_tty = (info != nullptr && info->si_code == SI_KERNEL) ? 1 : 0;
}
// Only there so that SIGCHLD interrupts the poll; the child is reaped with waitpid.
extern "C" void on_child_signal(int) {}

}  // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  g_stop_count = 0;
  g_stop_from_tty = 0;
  struct sigaction sa {};
  sa.sa_sigaction = on_stop_signal;
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: epoll_wait returns EINTR
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) ::sigaction(kStop[i], &sa, &g_old_stop[i]);
  struct sigaction sc {};
  sc.sa_handler = on_child_signal;
  sc.sa_flags = SA_NOCLDSTOP;
  sigemptyset(&sc.sa_mask);
  ::sigaction(SIGCHLD, &sc, &g_old_chld);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) ::sigaction(kStop[i], &g_old_stop[i], nullptr);
  ::sigaction(SIGCHLD, &g_old_chld, nullptr);
}

int stop_signal_count() { return g_stop_count; }
int last_stop_signal() { return g_stop_signal; }
bool stop_signal_from_tty() { return g_stop_from_tty != 0; }

}  // namespace labyrinth::ebpf
