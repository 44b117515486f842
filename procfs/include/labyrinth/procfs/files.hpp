// Reading the kernel's text files: whole, with the instant they describe, or not at all;
// the vm sysctls; the clocks the kernel's files and the BPF recorder use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace labyrinth::procfs {

// "<path>: <strerror>"
class ReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole file. Throws ReadError.
std::string read_file(const std::string& path);
// The whole file, or nothing when it cannot be read (a file that may be absent or root-only).
std::optional<std::string> try_read_file(const std::string& path);

// A file's text and the CLOCK_BOOTTIME instant it describes (for /proc files, which the
// kernel writes as they are read): the middle of the read calls, with the open outside them.
struct TimedText {
  std::string text;
  std::uint64_t ts_ns = 0;
};
TimedText read_file_timed(const std::string& path);  // throws ReadError

// Every readable file of /proc/sys/vm, skipping the ones with side effects; values with
// tabs and newlines turned into spaces. An unreadable directory gives an empty map.
std::map<std::string, std::string> read_vm_sysctls(const std::string& dir = "/proc/sys/vm");

// Module parameters of mechanisms that move free pages without an event, as
// "module.parameter" -> value, from `sys_module` (/sys/module): page_reporting's
// page_reporting_order. Absent modules and unreadable files are left out.
std::map<std::string, std::string> read_kernel_params(const std::string& sys_module = "/sys/module");

// CLOCK_BOOTTIME (the BPF clock) and CLOCK_REALTIME in nanoseconds.
std::uint64_t boottime_ns();
std::uint64_t realtime_ns();

}  // namespace labyrinth::procfs
