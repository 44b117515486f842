#include "stop_signals.hpp"

#include <signal.h>

namespace labyrinth::ebpf {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_stop_count = 0;
volatile sig_atomic_t g_stop_from_tty = 0;
volatile sig_atomic_t g_dump_requests = 0;
bool g_usr1_installed = false;

constexpr int kStop[3] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_old_stop[3] {};
struct sigaction g_old_chld {};
struct sigaction g_old_usr1 {};

extern "C" void on_stop_signal(int sig, siginfo_t* info, void*) {
  g_stop_signal = sig;
  g_stop_count = g_stop_count + 1;
  // Keyboard signals come from the kernel (SI_KERNEL) and reach the whole foreground
  // process group, the recorded command included; kill(2) gives SI_USER.
  g_stop_from_tty = (info != nullptr && info->si_code == SI_KERNEL) ? 1 : 0;
}
extern "C" void on_dump_signal(int) { g_dump_requests = g_dump_requests + 1; }
// Only there so that SIGCHLD interrupts the poll; the child is reaped with waitpid.
extern "C" void on_child_signal(int) {}

}  // namespace

StopSignals::StopSignals(bool dump_on_usr1) {
  g_dump_requests = 0;
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
  g_usr1_installed = dump_on_usr1;
  if (dump_on_usr1) {
    struct sigaction su {};
    su.sa_handler = on_dump_signal;
    sigemptyset(&su.sa_mask);
    ::sigaction(SIGUSR1, &su, &g_old_usr1);
  }
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) ::sigaction(kStop[i], &g_old_stop[i], nullptr);
  ::sigaction(SIGCHLD, &g_old_chld, nullptr);
  if (g_usr1_installed) ::sigaction(SIGUSR1, &g_old_usr1, nullptr);
}

int stop_signal_count() { return g_stop_count; }
int last_stop_signal() { return g_stop_signal; }
bool stop_signal_from_tty() { return g_stop_from_tty != 0; }
int dump_request_count() { return g_dump_requests; }

}  // namespace labyrinth::ebpf
