// CRC-32C (Castagnoli), the checksum of every block in a trace file.
#pragma once

#include <cstddef>
#include <cstdint>

namespace labyrinth::traces {

// With the CPU's crc32 instruction where it has one (x86-64 SSE 4.2), else by tables.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
// Always by tables: what crc32c() must equal on every machine (tests compare the two).
std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace labyrinth::traces
