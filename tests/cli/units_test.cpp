// Sizes and durations given to labyrinth replay (--balloon, --interval): cli/units.hpp.
#include <gtest/gtest.h>

#include "units.hpp"

namespace labyrinth::cli {
namespace {

TEST(Units, SizesUseBinarySuffixes) {
  EXPECT_EQ(parse_size("512M").value, 512ull << 20);
  EXPECT_EQ(parse_size("2G").value, 2ull << 30);
  EXPECT_EQ(parse_size("2GiB").value, 2ull << 30);
  EXPECT_EQ(parse_size("1.5g").value, 3ull << 29);
  EXPECT_EQ(parse_size("4096").value, 4096u);
  EXPECT_EQ(parse_size(" 64 K ").value, 64u << 10);
  EXPECT_EQ(parse_size("1T").value, 1ull << 40);
  EXPECT_EQ(parse_size("0").value, 0u);
}

TEST(Units, BadSizesSayWhatIsAccepted) {
  for (const char* bad : {"", "M", "-1G", "12X", "1..5G", "0x10", "1e3", "G2", "99999999999999999999", "20000000000T"}) {
    const auto r = parse_size(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(parse_size("12X").error.find("suffix"), std::string::npos);
  EXPECT_NE(parse_size("-1G").error.find("e.g."), std::string::npos);
}

TEST(Units, DurationsUseUnits) {
  EXPECT_EQ(parse_duration("100ms").value, 100'000'000u);
  EXPECT_EQ(parse_duration("2s").value, 2'000'000'000u);
  EXPECT_EQ(parse_duration("2").value, 2'000'000'000u);
  EXPECT_EQ(parse_duration("1.5s").value, 1'500'000'000u);
  EXPECT_EQ(parse_duration("500us").value, 500'000u);
  EXPECT_EQ(parse_duration("250ns").value, 250u);
  EXPECT_EQ(parse_duration("1m").value, 60'000'000'000u);
  EXPECT_EQ(parse_duration("1h").value, 3'600'000'000'000u);
}

TEST(Units, BadDurationsAreRefused) {
  for (const char* bad : {"", "ms", "10x", "-5s", "5 parsecs", "1.2.3s", "99999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).ok()) << bad;
  }
  EXPECT_NE(parse_duration("5 parsecs").error.find("unit"), std::string::npos);
}

}  // namespace
}  // namespace labyrinth::cli
