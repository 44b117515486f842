// Writing an output file (a report, a CSV, trace data) safely, one way everywhere: the data
// goes to a temporary file created exclusively next to the target, never through a symbolic
// link, and commit() renames it into place, so a failed or abandoned write leaves nothing
// behind. commit() refuses a symbolic link or a directory at the target, and an existing
// file unless the policy allows overwriting. Private data (anything from a trace) is 0600.
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
};

class OutputFile {
 public:
  // Creates the temporary file. Throws OutputError.
  OutputFile(std::string path, OutputPolicy policy);
  ~OutputFile();  // without commit(): removes the temporary file
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  [[nodiscard]] int fd() const { return fd_; }  // the temporary file's, until commit()
  [[nodiscard]] const std::string& path() const { return path_; }

  void write(std::string_view data);  // all of it, or throws OutputError
  void commit();                      // close and rename into place, or throws OutputError

 private:
  void discard() noexcept;

  std::string path_;
  std::string tmp_;
  OutputPolicy policy_;
  int fd_ = -1;
};

// An OutputFile written with `content` and committed. Throws OutputError.
void write_file(const std::string& path, std::string_view content, OutputPolicy policy);

}  // namespace labyrinth::common
