// Fault injection on a real sample (issue 6): a small trace cut from traces/samples/ is
// truncated at every byte offset and hit by seeded random bit flips. The reader must never
// crash, must return only events that are really in the file, and must say where it stopped;
// the CLI must fail with a message naming the file and the offset.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "labyrinth/traces/trace_error.hpp"
#include "run_command.hpp"
#include "test_util.hpp"

namespace labyrinth::traces {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

// The block layout, walked here independently of the reader (labyrinth-trace(5)).
struct Block {
  std::size_t offset = 0;
  std::size_t end = 0;
  std::uint32_t type = 0;
  std::uint32_t count = 0;
};

std::vector<Block> walk_blocks(const std::string& bytes) {
  std::vector<Block> out;
  std::size_t offset = 16;
  while (offset + 40 <= bytes.size()) {
    Block b;
    b.offset = offset;
    std::memcpy(&b.type, bytes.data() + offset + 4, 4);
    std::memcpy(&b.count, bytes.data() + offset + 12, 4);
    std::uint64_t stored = 0;
    std::memcpy(&stored, bytes.data() + offset + 16, 8);
    b.end = offset + 40 + stored;
    out.push_back(b);
    offset = b.end;
  }
  return out;
}

constexpr std::uint32_t kEventsBlock = 5;

// A few thousand events of the perf-script sample, with their process names and losses, in
// small chunks: a file of some kilobytes with a dozen blocks of every kind.
class SampleFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    path_ = new std::string(dir_->file("small.trace"));
    events_ = new std::vector<PageEvent>();
    TraceReader sample(std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/perf-script-lost.trace");
    WriterOptions options;
    options.chunk_events = 300;
    TraceWriter writer(*path_, sample.header(), options);
    std::span<const PageEvent> chunk;
    while (events_->size() < 2400 && sample.next(chunk)) {
      for (PageEvent e : chunk) {
        if (events_->size() == 2400) break;
        e.comm_id = writer.intern_comm(sample.comm(e.comm_id));
        writer.append(e);
        events_->push_back(e);
      }
    }
    TraceFooter footer;
    footer.losses.lost_events = 5;
    writer.finish(Snapshot{}, footer);
  }
  static void TearDownTestSuite() {
    delete events_;
    delete path_;
    delete dir_;
  }

  // Events the reader should give back from the first `size` bytes: every events block
  // that ends within them (all blocks before it are whole too).
  static std::uint64_t whole_events_within(const std::vector<Block>& blocks, std::size_t size) {
    std::uint64_t n = 0;
    for (const Block& b : blocks)
      if (b.type == kEventsBlock && b.end <= size) n += b.count;
    return n;
  }

  static const Block* block_holding(const std::vector<Block>& blocks, std::size_t pos) {
    for (const Block& b : blocks)
      if (pos >= b.offset && pos < b.end) return &b;
    return nullptr;
  }

  static TempDir* dir_;
  static std::string* path_;
  static std::vector<PageEvent>* events_;
};

TempDir* SampleFaults::dir_ = nullptr;
std::string* SampleFaults::path_ = nullptr;
std::vector<PageEvent>* SampleFaults::events_ = nullptr;

TEST_F(SampleFaults, TruncationAtEveryByteOffsetReadsExactlyTheWholeChunks) {
  const std::string bytes = read_file(*path_);
  const auto blocks = walk_blocks(bytes);
  ASSERT_GE(blocks.size(), 10u);
  ASSERT_EQ(blocks.back().end, bytes.size());
  const std::size_t header_end = blocks.front().end;
  const std::string cut = dir_->file("cut.trace");
  std::uint64_t previous = 0;
  for (std::size_t size = 0; size <= bytes.size(); ++size) {
    write_file(cut, std::string_view(bytes).substr(0, size));
    SCOPED_TRACE("cut at " + std::to_string(size) + " of " + std::to_string(bytes.size()));
    if (size < header_end) {
      // Nothing to read without the header: refused, naming the file, as truncated.
      try {
        TraceReader reader(cut);
        FAIL() << "opened a file cut inside its header";
      } catch (const TraceError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind(cut + ": ", 0), 0u) << what;
        if (size == 0) {
          EXPECT_EQ(e.kind(), TraceError::Kind::BadMagic) << what;
        } else {
          EXPECT_EQ(e.kind(), TraceError::Kind::Truncated) << what;
          EXPECT_NE(what.find("offset "), std::string::npos) << what;
          EXPECT_NE(what.find("truncated"), std::string::npos) << what;
        }
      }
      continue;
    }
    TraceReader reader(cut);
    const auto back = testing::read_all(reader);
    const std::uint64_t expected = whole_events_within(blocks, size);
    ASSERT_EQ(back.size(), expected);
    ASSERT_EQ(reader.events_read(), expected);
    for (std::size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i], (*events_)[i]) << i;
    ASSERT_GE(expected, previous) << "fewer events from a longer prefix";
    previous = expected;
    if (size == bytes.size()) {
      EXPECT_TRUE(reader.complete()) << reader.damage().message;
      EXPECT_EQ(reader.footer().losses.lost_events, 5u);
      continue;
    }
    ASSERT_FALSE(reader.complete());
    ASSERT_TRUE(reader.damage().truncated) << reader.damage().message;
    EXPECT_FALSE(reader.damage().checksum_mismatch);
    EXPECT_LE(reader.damage().offset, size);
    EXPECT_EQ(reader.damage().message.rfind(cut + ": offset " + std::to_string(reader.damage().offset) + ": ", 0), 0u)
        << reader.damage().message;
  }
  EXPECT_EQ(previous, events_->size());
}

TEST_F(SampleFaults, TruncatedFilesMakeEveryCommandFailNamingFileOffsetAndReadableEvents) {
  const std::string bytes = read_file(*path_);
  const auto blocks = walk_blocks(bytes);
  std::vector<std::size_t> sizes = {7, blocks.front().end - 1};
  for (std::size_t i = 1; i < blocks.size(); i += 3) sizes.push_back(blocks[i].offset + 1 + i * 13 % 40);
  sizes.push_back(blocks.back().offset);  // the footer is missing
  const std::string cut = dir_->file("cli-cut.trace");
  for (const std::size_t size : sizes) {
    write_file(cut, std::string_view(bytes).substr(0, size));
    SCOPED_TRACE("cut at " + std::to_string(size));
    const auto r = labyrinth::testing::run_labyrinth({"stat", cut});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(cut + ": offset "), std::string::npos) << r.err;
    EXPECT_TRUE(r.err.find("(truncated)") != std::string::npos || r.err.find("(incomplete)") != std::string::npos)
        << r.err;
    if (size >= blocks.front().end) {
      const std::string readable = std::to_string(whole_events_within(blocks, size)) + " events were readable";
      EXPECT_NE(r.err.find(readable), std::string::npos) << r.err;
    }
  }
  // The same message from every reading command.
  write_file(cut, std::string_view(bytes).substr(0, blocks[blocks.size() / 2].offset + 50));
  const std::string readable = std::to_string(whole_events_within(blocks, blocks[blocks.size() / 2].offset + 50)) +
                               " events were readable";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"script", cut, "-o", dir_->file("s.txt")},
                                               std::vector<std::string>{"replay", cut, "-q"}}) {
    const auto r = labyrinth::testing::run_labyrinth(args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(cut + ": offset "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(readable), std::string::npos) << r.err;
  }
}

TEST_F(SampleFaults, SeededBitFlipsAreCaughtAtTheDamagedBlock) {
  const std::string bytes = read_file(*path_);
  const auto blocks = walk_blocks(bytes);
  const std::string bad = dir_->file("flip.trace");
  std::mt19937_64 rng(20261125);
  int refused = 0, stopped = 0;
  for (int round = 0; round < 600; ++round) {
    const std::size_t pos = static_cast<std::size_t>(rng() % bytes.size());
    const int bit = static_cast<int>(rng() % 8);
    std::string flipped = bytes;
    flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << bit));
    write_file(bad, flipped);
    SCOPED_TRACE("bit " + std::to_string(bit) + " of byte " + std::to_string(pos));
    const Block* hit = block_holding(blocks, pos);
    std::unique_ptr<TraceReader> reader;
    try {
      reader = std::make_unique<TraceReader>(bad);
    } catch (const TraceError& e) {
      // Only the file header and the trace header are needed to open the file.
      EXPECT_TRUE(pos < 16 || (hit != nullptr && hit->offset == blocks.front().offset)) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(bad + ": ", 0), 0u) << e.what();
      ++refused;
      continue;
    }
    const auto back = testing::read_all(*reader);
    for (std::size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i], (*events_)[i]) << "a damaged event was returned";
    if (pos >= 10 && pos < 16) {  // minor version and reserved bytes: no data lives there
      EXPECT_TRUE(reader->complete()) << reader->damage().message;
      EXPECT_EQ(back.size(), events_->size());
      continue;
    }
    ASSERT_NE(hit, nullptr);
    const ReadDamage& d = reader->damage();
    ASSERT_TRUE(d.checksum_mismatch || d.corrupt) << d.message;
    EXPECT_FALSE(d.truncated) << d.message;
    EXPECT_EQ(d.offset, hit->offset) << d.message;
    EXPECT_EQ(back.size(), whole_events_within(blocks, hit->offset));
    EXPECT_EQ(d.message.rfind(bad + ": offset " + std::to_string(hit->offset) + ": ", 0), 0u) << d.message;
    ++stopped;
  }
  EXPECT_GT(stopped, 400);
  EXPECT_GT(refused, 0);

  // What the user sees: exit 3, the block's offset and "checksum mismatch".
  for (std::size_t i = blocks.size() / 2; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (b.type != kEventsBlock) continue;
    std::string flipped = bytes;
    flipped[b.offset + 40 + 3] = static_cast<char>(flipped[b.offset + 40 + 3] ^ 0x04);
    write_file(bad, flipped);
    const auto r = labyrinth::testing::run_labyrinth({"stat", bad, "--json", "-"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(bad + ": offset " + std::to_string(b.offset) + ": block checksum mismatch"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(std::to_string(whole_events_within(blocks, b.offset)) + " events were readable"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.out.find("\"complete\": false"), std::string::npos) << r.out.substr(0, 400);
    break;
  }
}

// Every bit of the minor version and the reserved bytes of the file header (bytes 10 to 15)
// can flip without losing an event: no data lives there. (The random flips above hit them
// only by chance.)
TEST_F(SampleFaults, FlipsInTheMinorVersionAndReservedBytesAreHarmless) {
  const std::string bytes = read_file(*path_);
  const std::string bad = dir_->file("reserved.trace");
  for (std::size_t pos = 10; pos < 16; ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << bit));
      write_file(bad, flipped);
      SCOPED_TRACE("bit " + std::to_string(bit) + " of byte " + std::to_string(pos));
      TraceReader reader(bad);
      EXPECT_EQ(testing::read_all(reader), *events_);
      EXPECT_TRUE(reader.complete()) << reader.damage().message;
    }
  }
}

TEST_F(SampleFaults, AFormatMajorOfZeroIsRefused) {
  std::string bytes = read_file(*path_);
  bytes[8] = 0;
  const std::string bad = dir_->file("major0.trace");
  write_file(bad, bytes);
  try {
    TraceReader reader(bad);
    FAIL() << "format 0 accepted";
  } catch (const TraceError& e) {
    EXPECT_EQ(e.kind(), TraceError::Kind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find(bad + ": offset 8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace labyrinth::traces
