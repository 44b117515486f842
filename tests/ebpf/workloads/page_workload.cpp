// A workload with a known page-allocator footprint, for the recorder's integration tests
// and benchmark.
//
//   page_workload touch MIB ITERATIONS   mmap MIB MiB (MADV_NOHUGEPAGE), write one byte per
//                                        page, munmap; ITERATIONS times. Every touch is one
//                                        order-0 movable page allocation, every munmap frees it.
//   page_workload net SECONDS            ICMP echo requests with 60000-byte payloads to
//                                        127.0.0.1 (raw socket, root): the kernel builds the
//                                        replies in softirq context with GFP_ATOMIC pages.
//   page_workload sleep SECONDS          allocate nothing, wait.
//
// Options (before the mode): -v prints every iteration's time; -p FILE appends the pfn of
// every touched page (from /proc/self/pagemap, root only) to FILE as 64-bit integers.
//
// Prints one line "pid=<pid> mode=<mode> pages=<n> iterations=<k> ms_per_iteration=<..>
// ms_median=<..> cpu_ms_median=<..> cpu_user_s=<..> cpu_sys_s=<..>" (or "packets=<n>") on
// stdout when done (medians over iterations; cpu_ms is the thread's exact CPU time),
// plus "ms=<i>:<ms>" per iteration with -v.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr,
               "usage: page_workload [-v] [-p PFN_FILE] touch MIB ITERATIONS | net SECONDS | sleep SECONDS\n");
  return 2;
}

// Appends the pfns of [mem, mem + pages * page) to `out`.
bool dump_pfns(const void* mem, std::size_t pages, long page, std::FILE* out) {
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<std::uint64_t> entries(pages);
  const auto first = reinterpret_cast<std::uintptr_t>(mem) / static_cast<std::uintptr_t>(page);
  const ssize_t want = static_cast<ssize_t>(pages * sizeof(std::uint64_t));
  const bool ok = ::pread(fd, entries.data(), static_cast<std::size_t>(want), static_cast<off_t>(first * 8)) == want;
  ::close(fd);
  if (!ok) return false;
  for (auto& e : entries) e &= (std::uint64_t{1} << 55) - 1;
  return std::fwrite(entries.data(), sizeof(std::uint64_t), pages, out) == pages;
}

int touch(std::uint64_t mib, std::uint64_t iterations, bool verbose, std::FILE* pfns) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
  const std::size_t pages = bytes / static_cast<std::size_t>(page);
  std::vector<double> ms;
  std::vector<double> cpu_ms;  // this thread's CPU time (exact, unlike the tick-sampled user/sys split)
  auto thread_cpu_ms = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  for (std::uint64_t it = 0; it < iterations; ++it) {
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_ms();
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      std::perror("mmap");
      return 1;
    }
    if (::madvise(mem, bytes, MADV_NOHUGEPAGE) != 0) {
      std::perror("madvise");
      return 1;
    }
    auto* p = static_cast<volatile char*>(mem);
    for (std::size_t i = 0; i < pages; ++i) p[i * static_cast<std::size_t>(page)] = 1;
    if (pfns != nullptr && !dump_pfns(mem, pages, page, pfns)) {
      std::perror("/proc/self/pagemap");
      return 1;
    }
    ::munmap(mem, bytes);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu_ms.push_back(thread_cpu_ms() - c0);
    if (verbose) std::printf("ms=%llu:%.3f\n", static_cast<unsigned long long>(it), ms.back());
  }
  double total = 0;
  for (double v : ms) total += v;
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double median = median_of(ms);
  const double cpu_median = median_of(cpu_ms);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  std::printf("pid=%d mode=touch pages=%zu iterations=%llu ms_per_iteration=%.3f ms_median=%.3f "
              "cpu_ms_median=%.3f cpu_user_s=%.3f cpu_sys_s=%.3f\n",
              static_cast<int>(::getpid()), pages * iterations, static_cast<unsigned long long>(iterations),
              iterations != 0 ? total / static_cast<double>(iterations) : 0.0, median, cpu_median, sec(ru.ru_utime),
              sec(ru.ru_stime));
  return 0;
}

std::uint16_t checksum(const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2 != 0) sum += static_cast<std::uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<std::uint16_t>(~sum & 0xffff));
}

int net(double seconds) {
  const int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) {
    std::perror("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) (needs root or CAP_NET_RAW)");
    return 1;
  }
  int rcvbuf = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  constexpr std::size_t kPayload = 60000;
  std::vector<std::uint8_t> packet(sizeof(icmphdr) + kPayload, 0xa5);
  std::vector<std::uint8_t> reply(70000);
  auto* h = reinterpret_cast<icmphdr*>(packet.data());
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint16_t seq = 0;
  while (Clock::now() < end) {
    h->type = ICMP_ECHO;
    h->code = 0;
    h->un.echo.id = htons(static_cast<std::uint16_t>(::getpid() & 0xffff));
    h->un.echo.sequence = htons(seq++);
    h->checksum = 0;
    h->checksum = checksum(packet.data(), packet.size());
    if (::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) ++sent;
    // drain what came back (our request and the kernel's reply), like ping -f
    pollfd pfd{fd, POLLIN, 0};
    while (::poll(&pfd, 1, 0) > 0) {
      if (::recv(fd, reply.data(), reply.size(), MSG_DONTWAIT) <= 0) break;
      ++received;
    }
  }
  ::close(fd);
  std::printf("pid=%d mode=net packets=%llu received=%llu\n", static_cast<int>(::getpid()),
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received));
  return sent > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::FILE* pfns = nullptr;
  int i = 1;
  while (i < argc && argv[i][0] == '-') {
    if (std::strcmp(argv[i], "-v") == 0) {
      verbose = true;
      ++i;
    } else if (std::strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
      pfns = std::fopen(argv[i + 1], "ab");
      if (pfns == nullptr) {
        std::perror(argv[i + 1]);
        return 1;
      }
      i += 2;
    } else {
      return usage();
    }
  }
  if (i >= argc) return usage();
  const std::string mode = argv[i++];
  if (mode == "touch" && i + 2 == argc) {
    const int rc = touch(std::strtoull(argv[i], nullptr, 10), std::strtoull(argv[i + 1], nullptr, 10), verbose, pfns);
    if (pfns != nullptr) std::fclose(pfns);
    return rc;
  }
  if (mode == "net" && i + 1 == argc) return net(std::strtod(argv[i], nullptr));
  if (mode == "sleep" && i + 1 == argc) {
    std::this_thread::sleep_for(std::chrono::duration<double>(std::strtod(argv[i], nullptr)));
    std::printf("pid=%d mode=sleep\n", static_cast<int>(::getpid()));
    return 0;
  }
  return usage();
}
