#include <gtest/gtest.h>

#include <filesystem>

#include "labyrinth/traces/trace_error.hpp"
#include "test_util.hpp"

namespace labyrinth::traces {
namespace {

using testing::block_offsets;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

class DamagedTrace : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("good.trace");
    events_ = testing::random_events(20'000, 21, 3);
    WriterOptions options;
    options.chunk_events = 1000;
    TraceWriter writer(path_, testing::test_header(), options);
    for (const auto& e : events_) writer.append(e);
    writer.finish({}, {});
    bytes_ = read_file(path_);
  }

  TempDir dir_;
  std::string path_;
  std::string bytes_;
  std::vector<PageEvent> events_;
};

TEST_F(DamagedTrace, TruncationAtEveryBlockBoundaryKeepsEveryWholeChunk) {
  const auto offsets = block_offsets(bytes_);
  ASSERT_GE(offsets.size(), 22u);  // header + 20 chunks + footer
  const std::string cut = dir_.file("cut.trace");
  for (std::size_t b = 1; b < offsets.size(); ++b) {
    for (const std::size_t extra : {std::size_t{0}, std::size_t{7}, std::size_t{45}}) {
      const std::size_t size = offsets[b] + extra;
      write_file(cut, bytes_.substr(0, size));
      TraceReader reader(cut);
      const auto back = testing::read_all(reader);
      const std::size_t whole_chunks = b - 1;  // blocks before b, minus the header block
      EXPECT_EQ(back.size(), whole_chunks * 1000) << "cut at " << size;
      for (std::size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i], events_[i]);
      EXPECT_FALSE(reader.complete());
      EXPECT_TRUE(reader.damage().truncated) << reader.damage().message;
      EXPECT_NE(reader.damage().message.find(cut), std::string::npos);
    }
  }
}

// replay sizes its model from the events a trace declares, before reading them: the blocks'
// counts when the walk on open reaches the footer, unknown when the file is cut short.
TEST_F(DamagedTrace, EventsAreDeclaredOnOpenOnlyUpToAFooter) {
  EXPECT_EQ(TraceReader(path_).events_declared(), std::optional<std::uint64_t>(20'000));
  const auto offsets = block_offsets(bytes_);
  const std::string cut = dir_.file("cut.trace");
  for (const std::size_t b : {std::size_t{5}, offsets.size() - 1}) {
    write_file(cut, bytes_.substr(0, offsets[b] + 7));
    EXPECT_EQ(TraceReader(cut).events_declared(), std::nullopt) << "cut in block " << b;
  }
}

TEST_F(DamagedTrace, CorruptedPayloadIsCaughtByChecksum) {
  const auto offsets = block_offsets(bytes_);
  std::string bad = bytes_;
  const std::size_t target = offsets[5] + 40 + 10;  // inside the 5th events chunk
  bad[target] = static_cast<char>(bad[target] ^ 0x10);
  const std::string path = dir_.file("bad.trace");
  write_file(path, bad);
  TraceReader reader(path);
  EXPECT_EQ(testing::read_all(reader).size(), 4000u);
  EXPECT_TRUE(reader.damage().checksum_mismatch);
  EXPECT_EQ(reader.damage().offset, offsets[5]);
  EXPECT_NE(reader.damage().message.find("offset " + std::to_string(offsets[5])), std::string::npos);
  EXPECT_FALSE(reader.complete());
}

TEST_F(DamagedTrace, CorruptedBlockHeaderIsCaught) {
  const auto offsets = block_offsets(bytes_);
  std::string bad = bytes_;
  bad[offsets[3] + 12] = static_cast<char>(bad[offsets[3] + 12] ^ 0x01);  // the event count
  const std::string path = dir_.file("bad.trace");
  write_file(path, bad);
  TraceReader reader(path);
  EXPECT_EQ(testing::read_all(reader).size(), 2000u);
  EXPECT_TRUE(reader.damage().checksum_mismatch);
}

TEST_F(DamagedTrace, WrongMagicIsRefusedWithOffset) {
  std::string bad = bytes_;
  bad[0] = 'X';
  const std::string path = dir_.file("bad.trace");
  write_file(path, bad);
  try {
    TraceReader reader(path);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.kind(), TraceError::Kind::BadMagic);
    EXPECT_NE(std::string(e.what()).find(path + ": offset 0"), std::string::npos) << e.what();
  }
}

TEST_F(DamagedTrace, NewerMajorVersionIsRefused) {
  std::string newer = bytes_;
  newer[8] = static_cast<char>(kFormatMajor + 1);
  const std::string path = dir_.file("newer.trace");
  write_file(path, newer);
  try {
    TraceReader reader(path);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_EQ(e.kind(), TraceError::Kind::NewerVersion);
    EXPECT_NE(std::string(e.what()).find("upgrade"), std::string::npos) << e.what();
  }
}

TEST_F(DamagedTrace, NewerMinorVersionIsRead) {
  std::string newer = bytes_;
  newer[10] = 9;
  const std::string path = dir_.file("minor.trace");
  write_file(path, newer);
  TraceReader reader(path);
  EXPECT_EQ(testing::read_all(reader).size(), events_.size());
  EXPECT_TRUE(reader.complete());
}

TEST(TraceInput, EmptyFileAndTextFileAreRefused) {
  TempDir dir;
  const std::string empty = dir.file("empty");
  write_file(empty, "");
  EXPECT_THROW(TraceReader{empty}, TraceError);
  const std::string text = dir.file("text");
  write_file(text, "  bash-1 [000] 1.0: mm_page_alloc: page=0x1 pfn=0x1 order=0\n");
  try {
    TraceReader reader(text);
    FAIL();
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("labyrinth import"), std::string::npos);
  }
  EXPECT_THROW(TraceReader{dir.file("missing")}, TraceError);
  EXPECT_THROW(TraceReader{"/"}, TraceError);
}

TEST(TraceInput, AbsurdHeaderValuesAreRejected) {
  TempDir dir;
  for (int field = 0; field < 3; ++field) {
    TraceHeader h = testing::test_header();
    if (field == 0) h.max_order = 60;
    if (field == 1) h.page_size = 12345;
    if (field == 2) h.pageblock_order = 12;
    const std::string path = dir.file("h" + std::to_string(field));
    { TraceWriter writer(path, h); }
    EXPECT_THROW(TraceReader{path}, TraceError) << field;
  }
}

}  // namespace
}  // namespace labyrinth::traces
