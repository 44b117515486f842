// Small helpers shared by the fuzz targets: somewhere to put bytes that the code under test
// wants as a file, and a loud stop when an oracle (not a sanitizer) finds a bug.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace labyrinth::fuzz {

// An oracle failed: print why and abort, so libFuzzer keeps the input as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz oracle failed: %s\n", what);
  std::abort();
}

// One in-memory file per process, rewritten for every input: the reader opens files by path,
// and /proc/self/fd/N of a memfd is a regular file that never touches a disk.
inline std::string bytes_as_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = [] {
    const int f = ::memfd_create("labyrinth-fuzz", MFD_CLOEXEC);
    if (f < 0) fail("memfd_create");
    return f;
  }();
  if (::ftruncate(fd, 0) != 0) fail("ftruncate");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) fail("pwrite");
    done += static_cast<std::size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

// A private scratch directory for outputs (writers refuse /proc paths: O_NOFOLLOW), on tmpfs
// when there is one. Targets unlink what they write; the empty directory goes at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string templ = (::access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : std::string("/tmp")) +
                        "/labyrinth-fuzz-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) fail("mkdtemp");
    static std::string for_atexit;
    for_atexit = templ;
    std::atexit([] { ::rmdir(for_atexit.c_str()); });
    return templ;
  }();
  return dir;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace labyrinth::fuzz
