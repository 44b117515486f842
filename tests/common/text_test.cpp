#include "labyrinth/common/text.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace labyrinth::common {
namespace {

TEST(Text, TrimTakesBlanksOrTheCharactersAskedFor) {
  EXPECT_EQ(trim("  a b\t\r\n"), "a b");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim_left("  a  "), "a  ");
  EXPECT_EQ(trim_right("  a  "), "  a");
  EXPECT_EQ(trim_right("12, ,", " ,"), "12");
  EXPECT_EQ(trim("(7)", "()"), "7");
}

TEST(Text, SplitWordsDropsEmptyPieces) {
  EXPECT_EQ(split_words("  Node 0, zone   Normal \t"), (std::vector<std::string_view>{"Node", "0,", "zone", "Normal"}));
  EXPECT_EQ(split_words("Node 0, zone", " ,"), (std::vector<std::string_view>{"Node", "0", "zone"}));
  EXPECT_TRUE(split_words("   ").empty());
}

TEST(Text, ForEachLineCountsALastLineWithoutNewline) {
  std::vector<std::string_view> lines;
  for_each_line("a\n\nb", [&](std::string_view l) { lines.push_back(l); });
  EXPECT_EQ(lines, (std::vector<std::string_view>{"a", "", "b"}));
  lines.clear();
  for_each_line("a\n", [&](std::string_view l) { lines.push_back(l); });
  EXPECT_EQ(lines, (std::vector<std::string_view>{"a"}));
}

TEST(Text, ParseNumberTakesTheWholeStringOnly) {
  std::uint64_t v = 0;
  EXPECT_TRUE(parse_number("18446744073709551615", v));
  EXPECT_EQ(v, 18446744073709551615u);
  EXPECT_FALSE(parse_number("18446744073709551616", v));  // overflow
  EXPECT_FALSE(parse_number("12kB", v));
  EXPECT_FALSE(parse_number("", v));
  EXPECT_FALSE(parse_number("-1", v));
  int i = 0;
  EXPECT_TRUE(parse_number("-3", i));
  EXPECT_EQ(i, -3);
}

TEST(Text, JoinWritesNumbersInDecimal) {
  EXPECT_EQ(join(std::vector<std::string>{"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join(std::vector<std::uint64_t>{0, 12, 7}, ","), "0,12,7");
  EXPECT_EQ(join(std::vector<std::string>{}, ","), "");
}

TEST(Text, ErrnoTextTakesLibbpfsNegativeValues) {
  EXPECT_EQ(errno_text(-ENOENT), errno_text(ENOENT));
  EXPECT_NE(errno_text(ENOENT), errno_text(EACCES));
}

}  // namespace
}  // namespace labyrinth::common
