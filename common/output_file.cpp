#include "labyrinth/common/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <utility>

namespace labyrinth::common {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw OutputError(path + ": " + what + ": " + std::strerror(err));
}

enum class Target : std::uint8_t { Absent, Regular, Special };

// What is at the target now: nothing, a regular file, a FIFO or device; or a refusal.
Target inspect_target(const std::string& path, bool overwrite) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Target::Absent;
    fail(path, "cannot create", errno);
  }
  if (S_ISLNK(st.st_mode)) throw OutputError(path + ": is a symbolic link; refusing to write through it");
  if (S_ISDIR(st.st_mode)) throw OutputError(path + ": is a directory");
  if (!S_ISREG(st.st_mode)) return Target::Special;  // nothing is overwritten: no -f needed
  if (!overwrite) throw OutputError(path + ": file exists (use -f to overwrite it)");
  return Target::Regular;
}

// The target itself: created exclusively, or (checked again after the failed O_EXCL) an
// existing regular file truncated with overwrite, or a FIFO or device as it is.
int open_in_place(const std::string& path, const OutputPolicy& policy) {
  const mode_t mode = policy.private_data ? 0600 : 0644;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd >= 0) return fd;
  if (errno != EEXIST) fail(path, "cannot create", errno);
  const bool regular = inspect_target(path, policy.overwrite) == Target::Regular;
  fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (regular ? O_TRUNC : 0));
  if (fd < 0) fail(path, "cannot open", errno);
  if (regular && policy.private_data) ::fchmod(fd, 0600);  // what it held before may have been shared
  return fd;
}

}  // namespace

void check_output_target(const std::string& path, bool overwrite) { inspect_target(path, overwrite); }

OutputFile::OutputFile(std::string path, OutputPolicy policy) : path_(std::move(path)), policy_(policy) {
  if (policy_.in_place || inspect_target(path_, policy_.overwrite) == Target::Special) {
    fd_ = open_in_place(path_, policy_);
    return;
  }
  // O_EXCL and O_NOFOLLOW: the temporary name is predictable, so never reuse what is there.
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, policy_.private_data ? 0600 : 0644);
  if (fd_ < 0) fail(path_, "cannot create", errno);
  tmp_ = tmp;
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

void OutputFile::write(std::string_view data) {
  if (fd_ < 0) throw OutputError(path_ + ": write after commit");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      discard();
      fail(path_, "write failed", err);
    }
    done += static_cast<std::size_t>(n);
  }
}

void OutputFile::commit() {
  if (fd_ < 0) throw OutputError(path_ + ": commit twice");
  const int closed = ::close(fd_);  // a delayed write error (NFS, quota) shows here
  fd_ = -1;
  if (closed != 0) {
    const int err = errno;
    discard();
    fail(path_, "write failed", err);
  }
  if (tmp_.empty()) return;  // in place
  try {
    commit_temporary(tmp_, path_, policy_.overwrite);
  } catch (...) {
    discard();
    throw;
  }
  tmp_.clear();
}

void commit_temporary(const std::string& tmp, const std::string& path, bool overwrite) {
  inspect_target(path, overwrite);  // again: something may have appeared meanwhile
  if (overwrite) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "cannot write", errno);
    return;
  }
  // Without overwrite, RENAME_NOREPLACE closes the gap between that check and the rename;
  // where the filesystem lacks it, a hard link does the same.
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    if (::link(tmp.c_str(), path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      return;
    }
    err = errno;
    if (err != EEXIST) {
      // Neither: the check above is the best there is.
      if (::rename(tmp.c_str(), path.c_str()) == 0) return;
      err = errno;
    }
  }
  if (err == EEXIST) throw OutputError(path + ": file exists (use -f to overwrite it)");
  fail(path, "cannot write", err);
}

void write_file(const std::string& path, std::string_view content, OutputPolicy policy) {
  OutputFile out(path, policy);
  out.write(content);
  out.commit();
}

}  // namespace labyrinth::common
