// What every test that records with BPF needs: whether this machine can record (root, BTF,
// tracefs), a skip that LABYRINTH_REQUIRE_BPF=1 (set by .ci/run) turns into a failure, and
// one recording at a time on the machine (its two CPUs are shared by every recording test).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace labyrinth::testing {

inline bool bpf_required() {
  const char* v = std::getenv("LABYRINTH_REQUIRE_BPF");
  return v != nullptr && std::string(v) == "1";
}

// Why this machine cannot record, or "" if it can.
inline std::string bpf_unavailable() {
  if (::geteuid() != 0) return "not root";
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "no /sys/kernel/btf/vmlinux";
  if (::access("/sys/kernel/tracing/events/kmem/mm_page_alloc/id", R_OK) != 0 &&
      ::access("/sys/kernel/debug/tracing/events/kmem/mm_page_alloc/id", R_OK) != 0)
    return "no tracefs (mount -t tracefs nodev /sys/kernel/tracing)";
  return {};
}

// Why /proc/kpageflags cannot be read (it needs root), or "" if it can: the tests that check
// a free-page map against the kernel's need it, as recording does.
inline std::string kpageflags_unreadable() {
  const int fd = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "/proc/kpageflags is not readable (needs root)";
  std::uint64_t v = 0;
  const bool ok = ::pread(fd, &v, sizeof v, 0) == static_cast<ssize_t>(sizeof v);
  ::close(fd);
  return ok ? std::string() : "/proc/kpageflags gives no data (needs root)";
}

// bpf_unavailable() as a skip message.
inline std::string cannot_record() {
  const std::string why = bpf_unavailable();
  return why.empty() ? why : "cannot record: " + why;
}

}  // namespace labyrinth::testing

// In a test or SetUp(): when `why` (what is missing) is not empty, skip, or fail under
// LABYRINTH_REQUIRE_BPF=1. A macro because GTEST_SKIP() and FAIL() return from the caller.
#define LABYRINTH_SKIP_OR_FAIL_WITHOUT(why)                                                           \
  do {                                                                                              \
    const std::string laby_why_ = (why);                                                            \
    if (!laby_why_.empty()) {                                                                       \
      if (::labyrinth::testing::bpf_required()) FAIL() << "LABYRINTH_REQUIRE_BPF=1 but " << laby_why_; \
      GTEST_SKIP() << laby_why_;                                                                    \
    }                                                                                               \
  } while (0)

// Skips (or fails) when this machine cannot record.
#define LABYRINTH_REQUIRE_RECORDING() LABYRINTH_SKIP_OR_FAIL_WITHOUT(::labyrinth::testing::cannot_record())

namespace labyrinth::testing {

// The fixture of tests that record: skipped (or failed) without BPF, then holding an
// exclusive lock on /tmp/labyrinth-ebpf-tests.lock for the test's length. A derived SetUp()
// calls BpfTest::SetUp() first and returns when IsSkipped() or HasFatalFailure().
class BpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LABYRINTH_REQUIRE_RECORDING();
    lock_fd_ = ::open("/tmp/labyrinth-ebpf-tests.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(lock_fd_, 0);
    ASSERT_EQ(::flock(lock_fd_, LOCK_EX), 0);
  }
  void TearDown() override {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
  }

 private:
  int lock_fd_ = -1;
};

// The lock of every job that changes the machine's memory settings (a hugetlb balloon writes
// vm.nr_hugepages): the tests that squeeze, bench/tune/run.sh and the workloads' callers take
// it, so that two balloons never fight over the knob. ctest's RUN_SERIAL keeps other tests
// away; this keeps away a benchmark started in another shell. A test that only needs no
// balloon while it records takes it shared: alongside other such tests, never a squeeze.
class MachineLock {
 public:
  enum Mode { Exclusive, Shared };
  explicit MachineLock(Mode mode = Exclusive)
      : fd_(::open("/tmp/labyrinth-machine.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600)) {
    if (fd_ >= 0 && ::flock(fd_, mode == Shared ? LOCK_SH : LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~MachineLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  MachineLock(const MachineLock&) = delete;
  MachineLock& operator=(const MachineLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace labyrinth::testing
