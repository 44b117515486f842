#include "output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "labyrinth/common/output_file.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::cli {

std::string write_text_output(const std::string& path, const std::string& content) {
  if (path == "-") {
    if (std::fwrite(content.data(), 1, content.size(), stdout) != content.size() || std::fflush(stdout) != 0) {
      return std::string("stdout: write failed: ") + std::strerror(errno);
    }
    return {};
  }
  try {
    common::write_file(path, content, common::OutputPolicy{.overwrite = true, .private_data = false});
  } catch (const common::OutputError& e) {
    return e.what();
  }
  return {};
}

int open_trace_data_output(const std::string& path, bool force) {
  auto fail = [&](const std::string& what) { throw common::OutputError(path + ": " + what); };
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EEXIST) fail("cannot create: " + common::errno_text(errno));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) fail("cannot create: " + common::errno_text(errno));
  if (S_ISLNK(st.st_mode)) fail("is a symbolic link; refusing to write through it");
  if (S_ISDIR(st.st_mode)) fail("is a directory");
  const bool regular = S_ISREG(st.st_mode);
  if (regular && !force) fail("file exists (use -f to overwrite it)");
  fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (regular ? O_TRUNC : 0));
  if (fd < 0) fail("cannot open: " + common::errno_text(errno));
  if (regular) ::fchmod(fd, 0600);
  return fd;
}

std::string write_trace_data_output(const std::string& path, bool force, const std::string& content) {
  if (path == "-") return write_text_output(path, content);
  int fd = -1;
  try {
    fd = open_trace_data_output(path, force);
  } catch (const common::OutputError& e) {
    return e.what();
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string message = path + ": write failed: " + std::strerror(errno);
      ::close(fd);
      return message;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return path + ": write failed: " + std::strerror(errno);
  return {};
}

std::string write_json_output(const std::string& path, const nlohmann::ordered_json& document) {
  return write_text_output(path, document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

}  // namespace labyrinth::cli
