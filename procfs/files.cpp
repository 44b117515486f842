#include "labyrinth/procfs/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "labyrinth/common/text.hpp"

namespace labyrinth::procfs {
namespace {

std::uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void fail(const std::string& path, int err) { throw ReadError(path + ": " + common::errno_text(err)); }

}  // namespace

TimedText read_file_timed(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, errno);
  TimedText out;
  out.text.resize(std::size_t{64} << 10);
  std::size_t size = 0;
  const std::uint64_t t0 = clock_ns(CLOCK_BOOTTIME);
  for (;;) {
    if (size == out.text.size()) out.text.resize(out.text.size() * 2);
    const ssize_t n = ::read(fd, out.text.data() + size, out.text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(path, err);
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  const std::uint64_t t1 = clock_ns(CLOCK_BOOTTIME);
  ::close(fd);
  out.text.resize(size);
  out.ts_ns = t0 + (t1 - t0) / 2;
  return out;
}

std::string read_file(const std::string& path) { return read_file_timed(path).text; }

std::optional<std::string> try_read_file(const std::string& path) {
  try {
    return read_file(path);
  } catch (const ReadError&) {
    return std::nullopt;
  }
}

std::map<std::string, std::string> read_vm_sysctls(const std::string& dir) {
  std::map<std::string, std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    // Reading these does something: stat_refresh folds per-cpu counters on every CPU;
    // drop_caches and compact_memory are write-only.
    if (name == "stat_refresh" || name == "drop_caches" || name == "compact_memory") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto value = try_read_file(path);
    if (!value) continue;
    for (char& c : *value)
      if (c == '\t' || c == '\n') c = ' ';
    while (!value->empty() && value->back() == ' ') value->pop_back();
    out[name] = *value;
  }
  ::closedir(d);
  return out;
}

std::map<std::string, std::string> read_kernel_params(const std::string& sys_module) {
  std::map<std::string, std::string> out;
  if (const auto order = try_read_file(sys_module + "/page_reporting/parameters/page_reporting_order")) {
    out["page_reporting.page_reporting_order"] = std::string(common::trim(*order));
  }
  return out;
}

std::uint64_t boottime_ns() { return clock_ns(CLOCK_BOOTTIME); }
std::uint64_t realtime_ns() { return clock_ns(CLOCK_REALTIME); }

}  // namespace labyrinth::procfs
