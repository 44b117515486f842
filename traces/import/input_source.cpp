#include "labyrinth/traces/import/input_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth::traces::import {
namespace {

constexpr unsigned char kZstdMagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
constexpr std::size_t kRawChunk = std::size_t{1} << 16;

}  // namespace

struct InputSource::Impl {
  std::string name;
  int fd = -1;
  bool owns_fd = false;
  bool memory = false;
  const std::atomic<bool>* cancel = nullptr;
  std::string memory_data;
  std::size_t memory_pos = 0;
  std::uint64_t raw_read = 0;
  bool raw_eof = false;

  bool zstd = false;
  ZSTD_DStream* dstream = nullptr;
  std::string zin;        // compressed bytes not yet consumed
  std::size_t zin_pos = 0;
  bool frame_done = true;  // the last ZSTD_decompressStream call finished a frame

  std::string peeked;      // decompressed bytes handed out by peek() and not yet read()
  std::size_t peeked_pos = 0;

  ~Impl() {
    if (dstream != nullptr) ZSTD_freeDStream(dstream);
    if (owns_fd && fd >= 0) ::close(fd);
  }

  std::size_t read_raw(char* buffer, std::size_t n) {
    if (raw_eof) return 0;
    if (memory) {
      const std::size_t take = std::min(n, memory_data.size() - memory_pos);
      std::memcpy(buffer, memory_data.data() + memory_pos, take);
      memory_pos += take;
      raw_read += take;
      if (take == 0) raw_eof = true;
      return take;
    }
    for (;;) {
      const ssize_t got = ::read(fd, buffer, n);
      if (got < 0) {
        if (errno == EINTR) {
          if (cancel != nullptr && cancel->load()) {
            throw TraceError(TraceError::Kind::Io, name + ": interrupted at offset " + std::to_string(raw_read));
          }
          continue;
        }
        const int err = errno;
        throw TraceError(TraceError::Kind::Io,
                         name + ": read failed at offset " + std::to_string(raw_read) + ": " + std::strerror(err));
      }
      if (got == 0) raw_eof = true;
      raw_read += static_cast<std::uint64_t>(got);
      return static_cast<std::size_t>(got);
    }
  }

  // Fills `zin` so that at least `want` unconsumed bytes are there (fewer only at the end).
  void fill_raw(std::size_t want) {
    if (zin_pos > 0 && zin_pos == zin.size()) {
      zin.clear();
      zin_pos = 0;
    }
    while (zin.size() - zin_pos < want && !raw_eof) {
      const std::size_t old = zin.size();
      zin.resize(old + kRawChunk);
      const std::size_t got = read_raw(zin.data() + old, kRawChunk);
      zin.resize(old + got);
    }
  }

  std::size_t read_decompressed(char* buffer, std::size_t n) {
    if (!zstd) {
      if (zin_pos < zin.size()) {  // bytes read while sniffing the magic
        const std::size_t take = std::min(n, zin.size() - zin_pos);
        std::memcpy(buffer, zin.data() + zin_pos, take);
        zin_pos += take;
        return take;
      }
      std::size_t done = 0;
      while (done < n) {
        const std::size_t got = read_raw(buffer + done, n - done);
        if (got == 0) break;
        done += got;
      }
      return done;
    }
    ZSTD_outBuffer out{buffer, n, 0};
    while (out.pos < out.size) {
      if (zin_pos == zin.size()) {
        fill_raw(1);
        if (zin_pos == zin.size()) {
          if (!frame_done) {
            throw TraceError(TraceError::Kind::Truncated,
                             name + ": the zstd stream ends inside a frame (offset " + std::to_string(raw_read) +
                                 "); the file is truncated");
          }
          break;
        }
      }
      ZSTD_inBuffer in{zin.data(), zin.size(), zin_pos};
      const std::size_t rc = ZSTD_decompressStream(dstream, &out, &in);
      if (ZSTD_isError(rc) != 0U) {
        throw TraceError(TraceError::Kind::Corrupt, name + ": damaged zstd data near offset " +
                                                        std::to_string(raw_read - (zin.size() - in.pos)) + ": " +
                                                        ZSTD_getErrorName(rc));
      }
      zin_pos = in.pos;
      frame_done = rc == 0;
    }
    return out.pos;
  }

  void detect_compression() {
    fill_raw(4);
    if (zin.size() - zin_pos >= 4 && std::memcmp(zin.data() + zin_pos, kZstdMagic, 4) == 0) {
      zstd = true;
      dstream = ZSTD_createDStream();
      ZSTD_initDStream(dstream);
      frame_done = false;
    }
  }
};

InputSource::InputSource() : impl_(std::make_unique<Impl>()) {}
InputSource::~InputSource() = default;

std::unique_ptr<InputSource> InputSource::open(const std::string& path) {
  std::unique_ptr<InputSource> source(new InputSource());
  Impl& s = *source->impl_;
  if (path == "-") {
    s.name = "<stdin>";
    s.fd = STDIN_FILENO;
  } else {
    s.name = path;
    s.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.fd < 0) {
      const int err = errno;
      throw TraceError(TraceError::Kind::Io, path + ": cannot open: " + std::strerror(err));
    }
    s.owns_fd = true;
    struct stat st {};
    if (::fstat(s.fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      throw TraceError(TraceError::Kind::Io, path + ": is a directory, not a capture file");
    }
  }
  s.detect_compression();
  return source;
}

std::unique_ptr<InputSource> InputSource::from_memory(std::string data, std::string name) {
  std::unique_ptr<InputSource> source(new InputSource());
  Impl& s = *source->impl_;
  s.name = std::move(name);
  s.memory = true;
  s.memory_data = std::move(data);
  s.detect_compression();
  return source;
}

std::size_t InputSource::read(char* buffer, std::size_t n) {
  Impl& s = *impl_;
  std::size_t done = 0;
  if (s.peeked_pos < s.peeked.size()) {
    done = std::min(n, s.peeked.size() - s.peeked_pos);
    std::memcpy(buffer, s.peeked.data() + s.peeked_pos, done);
    s.peeked_pos += done;
    if (s.peeked_pos == s.peeked.size()) {
      s.peeked.clear();
      s.peeked_pos = 0;
    }
  }
  if (done < n) done += s.read_decompressed(buffer + done, n - done);
  return done;
}

std::string_view InputSource::peek(std::size_t n) {
  Impl& s = *impl_;
  if (s.peeked_pos > 0) {
    s.peeked.erase(0, s.peeked_pos);
    s.peeked_pos = 0;
  }
  while (s.peeked.size() < n) {
    const std::size_t old = s.peeked.size();
    s.peeked.resize(n);
    const std::size_t got = s.read_decompressed(s.peeked.data() + old, n - old);
    s.peeked.resize(old + got);
    if (got == 0) break;
  }
  return std::string_view(s.peeked).substr(0, std::min(n, s.peeked.size()));
}

void InputSource::set_cancel(const std::atomic<bool>* flag) { impl_->cancel = flag; }

const std::string& InputSource::name() const { return impl_->name; }
bool InputSource::compressed() const { return impl_->zstd; }
std::uint64_t InputSource::raw_bytes_read() const { return impl_->raw_read; }

LineReader::LineReader(InputSource& source, std::size_t max_line_bytes)
    : source_(source), max_line_(std::max<std::size_t>(max_line_bytes, 64)) {
  // One line must fit; 64 KiB at least keeps reads large. Sized from the limit, not fixed at
  // 1 MiB, so that readers with a small limit (tests, fuzzing) do not zero a MiB each.
  buffer_.resize(std::max<std::size_t>(std::size_t{64} << 10, max_line_ + 1));
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) return false;
  const std::size_t got = source_.read(buffer_.data() + end_, buffer_.size() - end_);
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

bool LineReader::next(std::string_view& line) {
  overlong_ = false;
  std::size_t scanned = begin_;
  for (;;) {
    const char* start = buffer_.data() + scanned;
    const void* nl = std::memchr(start, '\n', end_ - scanned);
    if (nl != nullptr) {
      const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer_.data());
      std::size_t len = pos - begin_;
      bytes_ += len + 1;
      if (len > 0 && buffer_[begin_ + len - 1] == '\r') --len;
      line = std::string_view(buffer_.data() + begin_, std::min(len, max_line_));
      if (len > max_line_) overlong_ = true;
      begin_ = pos + 1;
      ++line_number_;
      return true;
    }
    if (end_ - begin_ > max_line_) {
      // An overlong line: hand out its start, then skip to its end.
      const std::size_t keep_begin = begin_;
      line = std::string_view(buffer_.data() + keep_begin, max_line_);
      overlong_ = true;
      ++line_number_;
      // Preserve the returned bytes at the front of the buffer while skipping the rest.
      std::memmove(buffer_.data(), buffer_.data() + keep_begin, max_line_);
      line = std::string_view(buffer_.data(), max_line_);
      bytes_ += end_ - keep_begin;
      const std::size_t scratch = max_line_;
      for (;;) {
        const std::size_t got = source_.read(buffer_.data() + scratch, buffer_.size() - scratch);
        if (got == 0) {
          eof_ = true;
          begin_ = end_ = scratch;
          return true;
        }
        const void* end_nl = std::memchr(buffer_.data() + scratch, '\n', got);
        if (end_nl != nullptr) {
          const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(end_nl) - buffer_.data());
          bytes_ += pos + 1 - scratch;
          begin_ = pos + 1;
          end_ = scratch + got;
          return true;
        }
        bytes_ += got;
      }
    }
    scanned = end_;
    const std::size_t before = begin_;
    if (!fill()) {
      if (end_ > begin_) {  // the last line has no newline
        std::size_t len = end_ - begin_;
        bytes_ += len;
        if (len > 0 && buffer_[begin_ + len - 1] == '\r') --len;
        line = std::string_view(buffer_.data() + begin_, len);
        begin_ = end_;
        ++line_number_;
        return true;
      }
      return false;
    }
    scanned -= before - begin_;  // fill() moved the unread bytes to the front
  }
}

}  // namespace labyrinth::traces::import
