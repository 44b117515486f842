// Reading captures: plain and zstd, peek then read, line endings, overlong lines, errors.
#include <gtest/gtest.h>
#include <zstd.h>

#include "import_test_util.hpp"
#include "labyrinth/traces/import/input_source.hpp"
#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth {
namespace {

using traces::import::InputSource;
using traces::import::LineReader;

std::string zstd_of(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3));
  return out;
}

std::vector<std::string> all_lines(InputSource& source, std::size_t max_line = 1 << 20) {
  LineReader reader(source, max_line);
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.next(line)) lines.emplace_back(reader.overlong() ? "<long>" + std::string(line.substr(0, 3)) : line);
  return lines;
}

TEST(InputSource, PlainAndZstdGiveTheSameLines) {
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "line " + std::to_string(i) + "\n";
  auto plain = InputSource::from_memory(text, "plain");
  auto packed = InputSource::from_memory(zstd_of(text) + zstd_of("tail\n"), "packed");  // two frames
  EXPECT_FALSE(plain->compressed());
  EXPECT_TRUE(packed->compressed());
  const auto a = all_lines(*plain);
  const auto b = all_lines(*packed);
  ASSERT_EQ(a.size(), 100000U);
  ASSERT_EQ(b.size(), 100001U);
  EXPECT_EQ(b.back(), "tail");
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
}

TEST(InputSource, PeekDoesNotConsume) {
  auto source = InputSource::from_memory(zstd_of("first\nsecond\n"), "p");
  EXPECT_EQ(source->peek(3), "fir");
  EXPECT_EQ(source->peek(100), "first\nsecond\n");
  EXPECT_EQ(all_lines(*source), (std::vector<std::string>{"first", "second"}));
}

TEST(LineReader, EndingsNumbersAndOverlongLines) {
  auto source = InputSource::from_memory("a\r\n\nb\n" + std::string(300, 'x') + "\nlast", "m");
  LineReader reader(*source, 100);
  std::string_view line;
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "a");
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "b");
  ASSERT_TRUE(reader.next(line));
  EXPECT_TRUE(reader.overlong());
  EXPECT_EQ(line.size(), 100U);
  EXPECT_EQ(reader.line_number(), 4U);
  ASSERT_TRUE(reader.next(line));
  EXPECT_FALSE(reader.overlong());
  EXPECT_EQ(line, "last");
  EXPECT_EQ(reader.line_number(), 5U);
  EXPECT_FALSE(reader.next(line));
}

TEST(LineReader, LinesAcrossBufferRefills) {
  std::string text;
  for (int i = 0; i < 30000; ++i) text += std::string(static_cast<std::size_t>(i % 97), 'y') + "|" + std::to_string(i) + "\n";
  auto source = InputSource::from_memory(text, "m");
  const auto lines = all_lines(*source);
  ASSERT_EQ(lines.size(), 30000U);
  for (int i = 0; i < 30000; ++i) {
    ASSERT_EQ(lines[static_cast<std::size_t>(i)], std::string(static_cast<std::size_t>(i % 97), 'y') + "|" + std::to_string(i));
  }
}

TEST(InputSource, ErrorsNameTheFile) {
  try {
    InputSource::open("/nonexistent/capture.txt");
    FAIL();
  } catch (const traces::TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/capture.txt"), std::string::npos);
  }
  try {
    InputSource::open("/tmp");
    FAIL();
  } catch (const traces::TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos);
  }
  const std::string packed = zstd_of(std::string(100000, 'z') + "\n");
  auto truncated = InputSource::from_memory(packed.substr(0, packed.size() / 2), "cut.zst");
  try {
    all_lines(*truncated);
    FAIL() << "a truncated zstd stream must not read as a shorter capture";
  } catch (const traces::TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.zst"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace labyrinth
