// Reading with the read-ahead thread must give exactly what reading on one thread gives:
// the same events in the same batches, names, snapshots, footer and damage report, on a
// good trace and on every kind of damaged one.
#include <gtest/gtest.h>

#include <algorithm>

#include "test_util.hpp"

namespace labyrinth::traces {
namespace {

using testing::block_offsets;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

Snapshot snapshot_at(std::uint64_t ts) {
  Snapshot s;
  s.present = true;
  s.ts_ns = ts;
  s.free_runs = {{0x100000, 512}, {0x100400, 3}};
  ZoneSnapshot z;
  z.zone = "Normal";
  z.buddyinfo = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  s.zones.push_back(z);
  return s;
}

// Everything a consumer can observe of one read.
struct Observed {
  std::vector<std::size_t> batches;
  std::vector<PageEvent> events;
  std::vector<std::string> comms;
  std::vector<std::string> first_frames;
  Snapshot start, end;
  TraceFooter footer;
  bool complete = false;
  bool truncated = false, checksum = false, corrupt = false;
  std::uint64_t damage_offset = 0;
  std::string damage_message;
  std::uint64_t events_read = 0, chunks_read = 0;
  bool operator==(const Observed&) const = default;
};

using Mode = TraceReader::ReadAhead;

Observed observe(const std::string& path, Mode read_ahead, std::size_t batch) {
  Observed o;
  TraceReader reader(path);
  reader.set_read_ahead(read_ahead);
  reader.set_batch_events(batch);
  std::span<const PageEvent> chunk;
  while (reader.next(chunk)) {
    o.batches.push_back(chunk.size());
    o.events.insert(o.events.end(), chunk.begin(), chunk.end());
  }
  for (std::uint32_t id = 0; id < 6; ++id) o.comms.emplace_back(reader.comm(id));
  for (std::uint32_t id = 1; id <= 5; ++id) {
    const StackTrace* st = reader.stack(id);
    o.first_frames.push_back(st == nullptr ? "-" : st->frames.front());
  }
  o.start = reader.start_snapshot();
  o.end = reader.end_snapshot();
  o.footer = reader.footer();
  o.complete = reader.complete();
  const ReadDamage& d = reader.damage();
  o.truncated = d.truncated;
  o.checksum = d.checksum_mismatch;
  o.corrupt = d.corrupt;
  o.damage_offset = d.offset;
  o.damage_message = d.message;
  o.events_read = reader.events_read();
  o.chunks_read = reader.chunks_read();
  return o;
}

class ReadAhead : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = dir_.file("good.trace");
    const auto events = testing::random_events(20'000, 5, 5);
    WriterOptions options;
    options.chunk_events = 1000;
    TraceWriter writer(path, testing::test_header(), options);
    writer.write_start_snapshot(snapshot_at(1));
    for (std::uint32_t i = 1; i < 5; ++i) writer.intern_comm("comm" + std::to_string(i));
    for (std::uint32_t s = 1; s <= 5; ++s) writer.define_stack(s, {"f" + std::to_string(s)});
    for (const auto& e : events) writer.append(e);
    TraceFooter footer;
    footer.stop_reason = "signal";
    writer.finish(snapshot_at(99), footer);
    bytes_ = read_file(path);
  }

  // Reads `bytes` both ways, at several batch sizes, and expects the same; returns one read.
  Observed same_both_ways(const std::string& bytes, const std::string& what) {
    const std::string path = dir_.file("t.trace");
    write_file(path, bytes);
    Observed last;
    for (const std::size_t batch : {std::size_t{0}, std::size_t{256}, std::size_t{777}}) {
      const Observed inline_read = observe(path, Mode::Off, batch);
      for (const Mode mode : {Mode::Blocks, Mode::Events}) {
        const Observed ahead = observe(path, mode, batch);
        EXPECT_TRUE(inline_read == ahead)
            << what << ", batch " << batch << ", read-ahead " << static_cast<int>(mode) << ": inline read "
            << inline_read.events.size() << " events (" << inline_read.damage_message << "), read-ahead "
            << ahead.events.size() << " (" << ahead.damage_message << ")";
        last = ahead;
      }
    }
    return last;
  }

  TempDir dir_;
  std::string bytes_;
};

TEST_F(ReadAhead, GoodTraceReadsTheSame) {
  const Observed o = same_both_ways(bytes_, "good");
  EXPECT_EQ(o.events.size(), 20'000u);
  EXPECT_TRUE(o.complete);
  EXPECT_EQ(o.comms[3], "comm3");
  EXPECT_EQ(o.end, snapshot_at(99));
}

TEST_F(ReadAhead, EveryTruncationAndEveryFlippedBlockReadsTheSame) {
  const auto offsets = block_offsets(bytes_);
  ASSERT_GE(offsets.size(), 25u);  // header, start, comms, stacks, 20 chunks, end, footer
  for (std::size_t b = 1; b < offsets.size(); ++b) {
    for (const std::size_t extra : {std::size_t{0}, std::size_t{9}, std::size_t{50}}) {
      const Observed o = same_both_ways(bytes_.substr(0, offsets[b] + extra), "cut at " + std::to_string(offsets[b] + extra));
      EXPECT_FALSE(o.complete);
    }
    std::string payload_flip = bytes_;
    payload_flip[offsets[b] + 40 + 3] = static_cast<char>(payload_flip[offsets[b] + 40 + 3] ^ 0x04);
    EXPECT_FALSE(same_both_ways(payload_flip, "payload flip in block " + std::to_string(b)).complete);
    std::string header_flip = bytes_;
    header_flip[offsets[b] + 12] = static_cast<char>(header_flip[offsets[b] + 12] ^ 0x01);
    EXPECT_FALSE(same_both_ways(header_flip, "header flip in block " + std::to_string(b)).complete);
  }
}

// stat skips the cpu and tid columns, replay the tid column: every other field is decoded as
// before, in every mode.
TEST_F(ReadAhead, SkippingCpuAndTidLeavesEveryOtherFieldAlone) {
  const std::string path = dir_.file("skip.trace");
  write_file(path, bytes_);
  const std::vector<PageEvent> all = observe(path, Mode::Off, 0).events;
  ASSERT_EQ(all.size(), 20'000u);
  for (const bool cpu_too : {true, false}) {
    std::vector<PageEvent> want = all;
    bool had_cpu = false, had_tid = false;
    for (PageEvent& e : want) {
      had_cpu = had_cpu || e.cpu != 0;
      had_tid = had_tid || e.tid != 0;
      if (cpu_too) e.cpu = 0;
      e.tid = 0;
    }
    ASSERT_TRUE(had_cpu);
    ASSERT_TRUE(had_tid);
    for (const Mode mode : {Mode::Off, Mode::Blocks, Mode::Events}) {
      for (const std::size_t batch : {std::size_t{0}, std::size_t{256}}) {
        TraceReader reader(path);
        reader.set_read_ahead(mode);
        reader.set_batch_events(batch);
        if (cpu_too) {
          reader.skip_cpu_and_tid();
        } else {
          reader.skip_tid();
        }
        EXPECT_EQ(testing::read_all(reader), want)
            << "mode " << static_cast<int>(mode) << ", batch " << batch << ", cpu too " << cpu_too;
        EXPECT_TRUE(reader.complete());
      }
    }
  }
}

// A consumer that stops early destroys the reader while the thread is ahead of it.
TEST_F(ReadAhead, StoppingEarlyStopsTheThread) {
  const std::string path = dir_.file("early.trace");
  write_file(path, bytes_);
  for (int round = 0; round < 50; ++round) {
    TraceReader reader(path);
    reader.set_read_ahead(round % 2 == 0 ? Mode::Blocks : Mode::Events);
    std::span<const PageEvent> chunk;
    for (int i = 0; i < round % 5 && reader.next(chunk); ++i) {
      EXPECT_FALSE(chunk.empty());
    }
  }
}

// in_time_order() may say "unknown" (false) for an ordered batch, never "ordered" for one
// that is not; and on an ordered trace it says so for every batch, however it is read.
TEST_F(ReadAhead, InTimeOrderHoldsForEveryBatchItClaims) {
  const std::string disordered = dir_.file("disordered.trace");
  write_file(disordered, bytes_);
  const std::string ordered = dir_.file("ordered.trace");
  {
    auto events = testing::random_events(5'000, 7, 2);
    std::stable_sort(events.begin(), events.end(), [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; });
    WriterOptions options;
    options.chunk_events = 1000;
    TraceWriter writer(ordered, testing::test_header(), options);
    for (const auto& e : events) writer.append(e);
    writer.finish(Snapshot{}, TraceFooter{});
  }
  auto by_time = [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; };
  for (const Mode mode : {Mode::Off, Mode::Blocks, Mode::Events}) {
    for (const std::size_t batch : {std::size_t{0}, std::size_t{256}}) {
      std::size_t claimed = 0, batches = 0;
      TraceReader reader(disordered);
      reader.set_read_ahead(mode);
      reader.set_batch_events(batch);
      std::span<const PageEvent> chunk;
      while (reader.next(chunk)) {
        ++batches;
        if (!reader.in_time_order()) continue;
        ++claimed;
        EXPECT_TRUE(std::is_sorted(chunk.begin(), chunk.end(), by_time)) << "mode " << static_cast<int>(mode);
      }
      EXPECT_LT(claimed, batches) << "every batch claimed ordered, though one event in 50 is out of order";

      TraceReader good(ordered);
      good.set_read_ahead(mode);
      good.set_batch_events(batch);
      while (good.next(chunk)) EXPECT_TRUE(good.in_time_order()) << "mode " << static_cast<int>(mode);
      EXPECT_EQ(good.events_read(), 5'000u);
    }
  }
}

}  // namespace
}  // namespace labyrinth::traces
