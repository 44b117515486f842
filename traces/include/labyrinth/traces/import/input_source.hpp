// Reading a capture: a file or stdin, plain or zstd-compressed, as bytes or as numbered lines.
// The first bytes can be peeked (to sniff the format) and are then read again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace labyrinth::traces::import {

class InputSource {
 public:
  // "-" is stdin. Throws TraceError(Io) naming the path when it cannot be opened or is a
  // directory. A zstd frame at the start (magic 28 b5 2f fd) is decompressed transparently.
  static std::unique_ptr<InputSource> open(const std::string& path);
  // Over bytes already in memory (tests, benchmarks); `name` is used in messages.
  static std::unique_ptr<InputSource> from_memory(std::string data, std::string name);

  ~InputSource();
  InputSource(const InputSource&) = delete;
  InputSource& operator=(const InputSource&) = delete;

  // Up to `n` bytes (fewer only at the end), 0 at the end. Throws TraceError on a read error
  // or a damaged zstd stream, naming the input and the offset.
  std::size_t read(char* buffer, std::size_t n);
  // The first up-to-`n` bytes of the (decompressed) stream without consuming them.
  std::string_view peek(std::size_t n);

  // A read interrupted by a signal (EINTR) while *flag is set throws TraceError "interrupted"
  // instead of retrying, so SIGINT stops an import blocked on a pipe.
  void set_cancel(const std::atomic<bool>* flag);

  [[nodiscard]] const std::string& name() const;
  [[nodiscard]] bool compressed() const;
  [[nodiscard]] std::uint64_t raw_bytes_read() const;  // from the file, before decompression

 private:
  InputSource();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Numbered lines of an InputSource, without the line ending ("\n" or "\r\n"). A line longer
// than max_line_bytes is returned truncated with `overlong` set (the rest is skipped).
class LineReader {
 public:
  explicit LineReader(InputSource& source, std::size_t max_line_bytes = std::size_t{1} << 20);
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line; false at the end. The view stays valid until the next call.
  bool next(std::string_view& line);
  [[nodiscard]] std::uint64_t line_number() const { return line_number_; }  // of the last line, from 1
  [[nodiscard]] bool overlong() const { return overlong_; }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }  // decompressed bytes consumed

 private:
  bool fill();

  InputSource& source_;
  std::size_t max_line_;
  std::string buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  bool overlong_ = false;
  std::uint64_t line_number_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace labyrinth::traces::import
