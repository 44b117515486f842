// Writing an output file (a report, a CSV, trace data) safely, one way everywhere: the data
// goes to a temporary file created exclusively next to the target, never through a symbolic
// link, and commit() renames it into place, so a failed or abandoned write leaves nothing
// behind. commit() refuses a symbolic link or a directory at the target, and an existing
// file unless the policy allows overwriting. Private data (anything from a trace) is 0600.
// A file that must be readable while it grows (a recording) is written in place instead,
// created exclusively; so is an existing FIFO or device, which a rename would replace.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace labyrinth::common {

// "<path>: <what went wrong>[: <strerror>]"; what to do next where there is something to do.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OutputPolicy {
  bool overwrite = false;     // replace an existing regular file
  bool private_data = false;  // 0600; otherwise 0644 (both less the umask)
  bool in_place = false;      // no temporary: what was written stays if the process dies
};

class OutputFile {
 public:
  // Creates the temporary file (or the target, in place). Throws OutputError.
  OutputFile(std::string path, OutputPolicy policy);
  ~OutputFile();  // without commit(): removes the temporary file; in place, closes the target
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  [[nodiscard]] int fd() const { return fd_; }  // the temporary file's, until commit()
  [[nodiscard]] const std::string& path() const { return path_; }

  void write(std::string_view data);  // all of it, or throws OutputError
  void commit();                      // close and rename into place, or throws OutputError

 private:
  void discard() noexcept;

  std::string path_;
  std::string tmp_;  // empty when writing in place
  OutputPolicy policy_;
  int fd_ = -1;
};

// What OutputFile checks before it creates anything: throws OutputError when `path` may not
// be written (a symbolic link, a directory, an existing file without `overwrite`).
void check_output_target(const std::string& path, bool overwrite);

// Puts `tmp`, a finished file this process created exclusively next to `path`, at `path` by
// OutputFile::commit()'s rules (never over a link or a directory; over an existing file only
// with `overwrite`, atomically). Throws OutputError; `tmp` is then still there.
void commit_temporary(const std::string& tmp, const std::string& path, bool overwrite);

// An OutputFile written with `content` and committed. Throws OutputError.
void write_file(const std::string& path, std::string_view content, OutputPolicy policy);

}  // namespace labyrinth::common
