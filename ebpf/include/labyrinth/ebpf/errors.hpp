// Errors of the recorder, classified so the command line can pick an exit code, and
// carrying the hints that say what to do next.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace labyrinth::ebpf {

class RecordError : public std::runtime_error {
 public:
  enum class Kind {
    NoPermission,  // missing root / capabilities
    Unsupported,   // the kernel or system lacks something record needs
    Output,        // the output file cannot be created or written
    Usage,         // inconsistent options
    Failure,       // anything else (BPF load/attach, I/O)
  };
  RecordError(Kind kind, const std::string& message, std::vector<std::string> hints = {},
              std::vector<std::string> details = {})
      : std::runtime_error(message), kind_(kind), hints_(std::move(hints)), details_(std::move(details)) {}

  [[nodiscard]] Kind kind() const { return kind_; }
  // "what to do next" lines
  [[nodiscard]] const std::vector<std::string>& hints() const { return hints_; }
  // supporting lines, e.g. libbpf's own warnings
  [[nodiscard]] const std::vector<std::string>& details() const { return details_; }

 private:
  Kind kind_;
  std::vector<std::string> hints_;
  std::vector<std::string> details_;
};

}  // namespace labyrinth::ebpf
