// The result of a step whose failure is an expected outcome that the caller handles: it falls
// back to something else and says why (a tracepoint format file that cannot be parsed, a
// /proc/kallsyms without addresses). It holds the value, or the reason there is none.
// Errors that end the command are exceptions instead (DEVELOPERS.md, "Errors: one convention").
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace labyrinth::common {

template <class T>
class Outcome {
 public:
  Outcome(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): `return table;`
  static Outcome failed(std::string why) { return Outcome(std::move(why), 0); }

  [[nodiscard]] bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // Why there is no value: a whole sentence naming the file; "" when ok().
  [[nodiscard]] const std::string& why() const { return why_; }

 private:
  Outcome(std::string why, int /*failed*/) : why_(std::move(why)) {}
  std::optional<T> value_;
  std::string why_;
};

}  // namespace labyrinth::common
