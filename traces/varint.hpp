// LEB128 varints and zigzag, the integer encoding of event columns.
#pragma once

#include <cstdint>
#include <string>

namespace labyrinth::traces {

inline void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(value) | 0x80u));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

inline std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
inline std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1u);
}

// A bounds-checked cursor over a byte range; any overrun sets `bad` and yields zeros.
struct ByteCursor {
  const unsigned char* p = nullptr;
  const unsigned char* end = nullptr;
  bool bad = false;

  std::uint64_t varint() {
    // Fast path: one- and two-byte values are the common case in delta-coded columns.
    if (end - p >= 2) {
      const unsigned b0 = p[0];
      if (b0 < 0x80u) {
        ++p;
        return b0;
      }
      const unsigned b1 = p[1];
      if (b1 < 0x80u) {
        p += 2;
        return (b0 & 0x7fu) | (std::uint64_t{b1} << 7);
      }
    }
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (p == end) {
        bad = true;
        return 0;
      }
      const unsigned char byte = *p++;
      value |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80u) == 0) return value;
    }
    bad = true;
    return 0;
  }
  std::uint8_t byte() {
    if (p == end) {
      bad = true;
      return 0;
    }
    return *p++;
  }
  [[nodiscard]] bool at_end() const { return p == end; }
};

}  // namespace labyrinth::traces
