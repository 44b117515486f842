// CRC-32C (Castagnoli), the checksum of every block in a trace file.
#pragma once

#include <cstddef>
#include <cstdint>

namespace labyrinth::traces {

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace labyrinth::traces
