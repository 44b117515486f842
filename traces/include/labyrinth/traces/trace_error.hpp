// Errors of the trace layer: always name the file and, where known, the byte offset or line.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace labyrinth::traces {

class TraceError : public std::runtime_error {
 public:
  enum class Kind { Io, BadMagic, NewerVersion, Corrupt, Truncated, BadInput };
  TraceError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

}  // namespace labyrinth::traces
