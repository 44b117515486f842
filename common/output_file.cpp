#include "labyrinth/common/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace labyrinth::common {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw OutputError(path + ": " + what + ": " + std::strerror(err));
}

// What is at the target now: nothing, a regular file (or FIFO/device), or a refusal.
void check_target(const std::string& path, bool overwrite) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(path, "cannot create", errno);
  }
  if (S_ISLNK(st.st_mode)) throw OutputError(path + ": is a symbolic link; refusing to write through it");
  if (S_ISDIR(st.st_mode)) throw OutputError(path + ": is a directory");
  if (!overwrite) throw OutputError(path + ": file exists (use -f to overwrite it)");
}

}  // namespace

OutputFile::OutputFile(std::string path, OutputPolicy policy) : path_(std::move(path)), policy_(policy) {
  check_target(path_, policy_.overwrite);
  // O_EXCL and O_NOFOLLOW: the temporary name is predictable, so never reuse what is there.
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               policy_.private_data ? 0600 : 0644);
  if (fd_ < 0) fail(path_, "cannot create", errno);
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
  try {
    check_target(path_, policy_.overwrite);  // again: something may have appeared meanwhile
  } catch (...) {
    discard();
    throw;
  }
  // Without overwrite, RENAME_NOREPLACE closes the gap between that check and the rename.
  const int renamed = policy_.overwrite ? ::rename(tmp_.c_str(), path_.c_str())
                                        : ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
  if (renamed != 0) {
    const int err = errno;
    discard();
    if (err == EEXIST) throw OutputError(path_ + ": file exists (use -f to overwrite it)");
    fail(path_, "cannot write", err);
  }
  tmp_.clear();
}

void write_file(const std::string& path, std::string_view content, OutputPolicy policy) {
  OutputFile out(path, policy);
  out.write(content);
  out.commit();
}

}  // namespace labyrinth::common
