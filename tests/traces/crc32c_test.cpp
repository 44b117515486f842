// The block checksum: the crc32 instruction and the tables must give the same CRC-32C, or a
// trace written on one machine would read as damaged on another.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "crc32c.hpp"

namespace labyrinth::traces {
namespace {

TEST(Crc32c, MatchesTheCastagnoliCheckValue) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xe3069283u);
  EXPECT_EQ(crc32c_portable(check.data(), check.size()), 0xe3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, HardwareAndTablesAgreeOnEveryLengthAlignmentAndChaining) {
  std::mt19937_64 rng(11);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t size = 0; size + offset <= 300; ++size) {
      const char* p = bytes.data() + offset;
      ASSERT_EQ(crc32c(p, size), crc32c_portable(p, size)) << "offset " << offset << " size " << size;
    }
  }
  // A CRC continued over two pieces equals the CRC of the whole.
  const std::uint32_t first = crc32c(bytes.data(), 1000);
  EXPECT_EQ(crc32c(bytes.data() + 1000, bytes.size() - 1000, first), crc32c_portable(bytes.data(), bytes.size()));
}

}  // namespace
}  // namespace labyrinth::traces
