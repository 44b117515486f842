#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "labyrinth/traces/trace_error.hpp"
#include "block_format.hpp"
#include "event_codec.hpp"
#include "test_util.hpp"

namespace labyrinth::traces {
namespace {

using testing::TempDir;

Snapshot make_snapshot(std::uint64_t ts) {
  Snapshot s;
  s.present = true;
  s.ts_ns = ts;
  s.free_runs = {{0x100000, 512}, {0x100400, 3}, {0x200000, 1 << 20}};
  ZoneSnapshot z;
  z.zone = "Normal";
  z.buddyinfo = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  z.free_pages = 12345;
  z.managed_pages = 5394249;               // a zone that grew (deferred init)...
  z.lowmem_reserve_pages = {0, 0, 0, 0};  // ...and the reserve the kernel recomputed for it
  s.zones.push_back(z);
  return s;
}

TEST(TraceFormat, RoundTripsHeaderSnapshotsEventsAndFooter) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  const auto events = testing::random_events(200'000, 7, 5);
  TraceFooter footer;
  footer.losses.ringbuf_drops = 17;
  footer.losses.recursion_misses = 3;
  footer.stop_reason = "signal";
  footer.exit_status = 42;
  {
    WriterOptions options;
    options.chunk_events = 4096;
    TraceWriter writer(path, testing::test_header(), options);
    writer.write_start_snapshot(make_snapshot(1));
    EXPECT_EQ(writer.intern_comm(""), kUnknownComm);
    for (std::uint32_t i = 1; i < 5; ++i) EXPECT_EQ(writer.intern_comm("comm" + std::to_string(i)), i);
    EXPECT_EQ(writer.intern_comm("comm2"), 2u);
    for (std::uint32_t s = 1; s <= 5; ++s) writer.define_stack(s, {"f" + std::to_string(s), "caller"});
    for (const auto& e : events) writer.append(e);
    writer.finish(make_snapshot(99), footer);
  }
  TraceReader reader(path);
  EXPECT_EQ(reader.header(), testing::test_header());
  EXPECT_EQ(reader.start_snapshot(), make_snapshot(1));
  // Found ahead of the events, at open.
  EXPECT_EQ(reader.end_snapshot(), make_snapshot(99));
  EXPECT_GT(reader.end_snapshot_offset(), reader.offset());
  const auto back = testing::read_all(reader);
  ASSERT_EQ(back.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) ASSERT_EQ(back[i], events[i]) << "event " << i;
  EXPECT_TRUE(reader.complete());
  EXPECT_FALSE(reader.damage().any());
  EXPECT_EQ(reader.end_snapshot(), make_snapshot(99));
  EXPECT_EQ(reader.footer().events, events.size());
  EXPECT_EQ(reader.footer().losses.ringbuf_drops, 17u);
  EXPECT_EQ(reader.footer().exit_status, 42);
  EXPECT_EQ(reader.footer().stop_reason, "signal");
  EXPECT_EQ(reader.comm(3), "comm3");
  ASSERT_NE(reader.stack(4), nullptr);
  EXPECT_EQ(reader.stack(4)->frames.front(), "f4");
  EXPECT_EQ(reader.chunks_read(), (events.size() + 4095) / 4096);
}

TEST(TraceFormat, CountsEventsByKindAndTimeRangeInFooter) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  const auto events = testing::random_events(10'000, 3, 0);
  std::array<std::uint64_t, kEventKindCount> by_kind{};
  std::uint64_t lo = ~0ull, hi = 0;
  {
    TraceWriter writer(path, testing::test_header());
    for (const auto& e : events) {
      writer.append(e);
      ++by_kind[static_cast<std::size_t>(e.kind)];
      lo = std::min(lo, e.ts_ns);
      hi = std::max(hi, e.ts_ns);
    }
    writer.finish({}, {});
  }
  TraceReader reader(path);
  testing::read_all(reader);
  EXPECT_EQ(reader.footer().events_by_kind, by_kind);
  EXPECT_EQ(reader.footer().first_ts_ns, lo);
  EXPECT_EQ(reader.footer().last_ts_ns, hi);
  EXPECT_FALSE(reader.end_snapshot().present);
}

TEST(TraceFormat, CreatesFileWithMode0600AndRefusesToClobber) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  { TraceWriter writer(path, testing::test_header()); }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(TraceWriter(path, testing::test_header()), TraceError);
  WriterOptions overwrite;
  overwrite.overwrite = true;
  EXPECT_NO_THROW(TraceWriter(path, testing::test_header(), overwrite));
}

TEST(TraceFormat, RefusesToWriteThroughSymlink) {
  TempDir dir;
  const std::string target = dir.file("target");
  const std::string link = dir.file("link.trace");
  std::filesystem::create_symlink(target, link);
  WriterOptions overwrite;
  overwrite.overwrite = true;
  for (const auto& options : {WriterOptions{}, overwrite}) {
    try {
      TraceWriter writer(link, testing::test_header(), options);
      FAIL() << "wrote through a symlink";
    } catch (const TraceError& e) {
      EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST(TraceFormat, WriterWithoutFinishLeavesReadableIncompleteTrace) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  const auto events = testing::random_events(5000, 11, 0);
  {
    TraceWriter writer(path, testing::test_header());
    for (const auto& e : events) writer.append(e);
  }  // destroyed without finish: like a recorder that stopped abruptly after its last flush
  TraceReader reader(path);
  EXPECT_EQ(testing::read_all(reader).size(), events.size());
  EXPECT_FALSE(reader.complete());
  EXPECT_TRUE(reader.damage().truncated);
  EXPECT_NE(reader.damage().message.find("incomplete"), std::string::npos);
}

TEST(TraceFormat, FlushesChunkOnceItIsOlderThanMaxAge) {
  TempDir dir;
  const std::string path = dir.file("t.trace");
  WriterOptions options;
  options.max_chunk_age = std::chrono::milliseconds(0);
  TraceWriter writer(path, testing::test_header(), options);
  const auto events = testing::random_events(3000, 5, 0);
  for (const auto& e : events) writer.append(e);
  // The age is checked every 1024 appends, so at least two chunks are on disk already.
  TraceReader reader(path);
  EXPECT_GE(testing::read_all(reader).size(), 2048u);
}

}  // namespace
}  // namespace labyrinth::traces

namespace labyrinth::traces {
namespace {

// Format 1.4: the allocating task's state goes in a block of its own before its events block
// (a 1.3 reader skips it and reads the events as they were), and comes back on the events of
// both read paths: decoded here in batches, and decoded ahead on the read-ahead thread.
std::vector<PageEvent> events_with_task_states() {
  std::vector<PageEvent> events = testing::random_events(5'000, 7, 2);
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == EventKind::Alloc && i % 3 == 0) events[i].task_state = static_cast<std::uint8_t>(1 + i % 7);
  }
  return events;
}

TEST(TaskStates, ComeBackOnEveryAllocationThatHadOneOnBothReadPaths) {
  testing::TempDir dir;
  const std::string path = dir.file("states.trace");
  const std::vector<PageEvent> events = events_with_task_states();
  WriterOptions options;
  options.chunk_events = 700;  // chunks of several batches, and a short last one
  {
    TraceWriter writer(path, testing::test_header(), options);
    for (const auto& e : events) writer.append(e);
    writer.finish({}, {});
  }
  using ReadAhead = TraceReader::ReadAhead;
  for (const ReadAhead mode : {ReadAhead::Off, ReadAhead::Blocks, ReadAhead::Events}) {
    TraceReader reader(path);
    reader.set_read_ahead(mode);
    reader.set_batch_events(128);
    const auto back = testing::read_all(reader);
    ASSERT_EQ(back.size(), events.size());
    for (std::size_t i = 0; i < events.size(); ++i) ASSERT_EQ(back[i], events[i]) << "event " << i;
    EXPECT_TRUE(reader.complete()) << reader.damage().message;
  }
  // One task-states block per chunk with a state, none for a trace without.
  const std::string bytes = testing::read_file(path);
  std::size_t state_blocks = 0;
  for (const std::size_t at : testing::block_offsets(bytes)) {
    format::BlockHeader h{};
    std::memcpy(&h, bytes.data() + at, sizeof h);
    state_blocks += h.type == static_cast<std::uint32_t>(format::BlockType::TaskStates) ? 1 : 0;
  }
  EXPECT_EQ(state_blocks, (events.size() + 699) / 700);
}

TEST(TaskStates, MalformedBlocksAreRefused) {
  std::vector<std::pair<std::uint32_t, std::uint8_t>> out;
  std::string error;
  // (delta 3, rt), (delta 0: not increasing)
  const unsigned char repeated[] = {3, kTaskRealtime, 0, kTaskRealtime};
  EXPECT_FALSE(decode_task_states(repeated, sizeof repeated, 2, out, error));
  const unsigned char unknown_bit[] = {3, 0x8};
  EXPECT_FALSE(decode_task_states(unknown_bit, sizeof unknown_bit, 1, out, error));
  const unsigned char good[] = {3, kTaskRealtime, 2, kTaskMemalloc};
  ASSERT_TRUE(decode_task_states(good, sizeof good, 2, out, error)) << error;
  EXPECT_EQ(out, (std::vector<std::pair<std::uint32_t, std::uint8_t>>{{3, kTaskRealtime}, {5, kTaskMemalloc}}));
  EXPECT_FALSE(decode_task_states(good, sizeof good, 3, out, error));  // more entries than bytes
}

// A failure's zone counters: three zones of one failure and one zone of another, as the
// recorder sends them (before their failure, with its timestamp and CPU).
std::vector<PageEvent> events_with_zone_counters() {
  std::vector<PageEvent> events = testing::random_events(3000, 11, 4);
  std::vector<PageEvent> out;
  std::uint32_t k = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    PageEvent& e = events[i];
    if (e.kind == EventKind::Alloc && i % 3 == 0) e.pfn = kFailedPfn;
    if (e.failed()) {
      for (unsigned z = 0; z < (k % 2 == 0 ? 3u : 1u); ++z) {
        ZoneCounters c;
        c.zone_index = z;
        c.free_pages = 1000u * k + z;
        c.highatomic_free = k % 7;
        c.highatomic_reserved = 512u * (k % 3);
        c.boost = k % 5 == 0 ? 1536u : 0u;
        c.lists = 0x7770000000000000ull >> (k % 40) | z;
        if (k % 4 != 3) c.free_diffs = static_cast<std::int32_t>(k % 9) - 4 - (k % 5 == 0 ? 200 : 0);
        out.push_back(zone_counters_event(e.ts_ns, e.cpu, c));
      }
      ++k;
    }
    out.push_back(e);
  }
  return out;
}

TEST(ZoneCounters, ComeBackBesideTheEventsNotAmongThem) {
  testing::TempDir dir;
  const std::string path = dir.file("counters.trace");
  const std::vector<PageEvent> all = events_with_zone_counters();
  std::vector<PageEvent> events, counters;
  for (const auto& e : all) (e.zone_counters() ? counters : events).push_back(e);
  ASSERT_GT(counters.size(), 50u);
  WriterOptions options;
  options.chunk_events = 700;
  {
    TraceWriter writer(path, testing::test_header(), options);
    for (const auto& e : all) writer.append(e);
    EXPECT_EQ(writer.events_written(), events.size());
    writer.finish({}, {});
  }
  using ReadAhead = TraceReader::ReadAhead;
  for (const ReadAhead mode : {ReadAhead::Off, ReadAhead::Blocks, ReadAhead::Events}) {
    TraceReader reader(path);
    reader.set_read_ahead(mode);
    reader.set_batch_events(128);
    std::vector<PageEvent> back, back_counters;
    std::span<const PageEvent> chunk;
    while (reader.next(chunk)) {
      for (PageEvent& c : reader.take_zone_counters()) back_counters.push_back(c);
      back.insert(back.end(), chunk.begin(), chunk.end());
    }
    for (PageEvent& c : reader.take_zone_counters()) back_counters.push_back(c);
    EXPECT_EQ(back, events);
    EXPECT_EQ(back_counters, counters);
    EXPECT_TRUE(reader.complete()) << reader.damage().message;
    EXPECT_EQ(reader.footer().events, events.size());
  }
}

TEST(ZoneCounters, AFailuresCountersAreReadBeforeItsEvents) {
  testing::TempDir dir;
  const std::string path = dir.file("order.trace");
  const std::vector<PageEvent> all = events_with_zone_counters();
  WriterOptions options;
  options.chunk_events = 64;  // many chunk boundaries
  {
    TraceWriter writer(path, testing::test_header(), options);
    for (const auto& e : all) writer.append(e);
    writer.finish({}, {});
  }
  TraceReader reader(path);
  std::set<std::pair<std::uint64_t, std::uint16_t>> known;
  std::span<const PageEvent> chunk;
  std::size_t failures = 0;
  while (reader.next(chunk)) {
    for (const PageEvent& c : reader.take_zone_counters()) known.insert({c.ts_ns, c.cpu});
    for (const PageEvent& e : chunk) {
      if (!e.failed()) continue;
      ++failures;
      EXPECT_TRUE(known.count({e.ts_ns, e.cpu})) << "failure at " << e.ts_ns << " before its counters";
    }
  }
  EXPECT_GT(failures, 50u);
}

// Chunks whose counters were all read without diffs write no diffs block: they come back
// without, as a 1.8 trace's do.
TEST(ZoneCounters, WithoutDiffsTheyComeBackWithout) {
  testing::TempDir dir;
  const std::string path = dir.file("nodiffs.trace");
  std::vector<PageEvent> all = events_with_zone_counters();
  for (PageEvent& e : all) {
    if (!e.zone_counters()) continue;
    ZoneCounters c = zone_counters_of(e);
    c.free_diffs.reset();
    e = zone_counters_event(e.ts_ns, e.cpu, c);
  }
  {
    TraceWriter writer(path, testing::test_header(), {});
    for (const auto& e : all) writer.append(e);
    writer.finish({}, {});
  }
  TraceReader reader(path);
  std::span<const PageEvent> chunk;
  std::size_t n = 0;
  while (reader.next(chunk)) {
    for (const PageEvent& c : reader.take_zone_counters()) {
      EXPECT_FALSE(zone_counters_of(c).free_diffs.has_value());
      ++n;
    }
  }
  EXPECT_GT(n, 50u);
}

// Each diffs block follows its counters block. Cut the counters blocks out (as a flight dump's
// ring may lose one): the diffs blocks left behind are skipped, and the trace reads whole.
TEST(ZoneCounters, DiffsWithoutTheirCountersAreSkipped) {
  testing::TempDir dir;
  const std::string path = dir.file("stray.trace");
  const std::vector<PageEvent> all = events_with_zone_counters();
  std::vector<PageEvent> events;
  for (const auto& e : all) {
    if (!e.zone_counters()) events.push_back(e);
  }
  {
    TraceWriter writer(path, testing::test_header(), {});
    for (const auto& e : all) writer.append(e);
    writer.finish({}, {});
  }
  const std::string bytes = testing::read_file(path);
  std::string cut = bytes.substr(0, 16);
  std::size_t counters = 0, diffs = 0, previous = 0;
  for (const std::size_t at : testing::block_offsets(bytes)) {
    format::BlockHeader h{};
    std::memcpy(&h, bytes.data() + at, sizeof h);
    const std::size_t size = sizeof h + h.stored_size;
    if (h.type == static_cast<std::uint32_t>(format::BlockType::ZoneCounterDiffs)) {
      ++diffs;
      EXPECT_EQ(previous, static_cast<std::uint32_t>(format::BlockType::ZoneCounters));
    }
    previous = h.type;
    if (h.type == static_cast<std::uint32_t>(format::BlockType::ZoneCounters)) {
      ++counters;
      continue;
    }
    cut += bytes.substr(at, size);
  }
  EXPECT_GE(diffs, 1u);
  EXPECT_EQ(diffs, counters);
  const std::string stray = dir.file("cut.trace");
  testing::write_file(stray, cut);
  TraceReader reader(stray);
  std::span<const PageEvent> chunk;
  std::vector<PageEvent> back;
  while (reader.next(chunk)) {
    EXPECT_TRUE(reader.take_zone_counters().empty());
    back.insert(back.end(), chunk.begin(), chunk.end());
  }
  EXPECT_EQ(back, events);
  EXPECT_TRUE(reader.complete()) << reader.damage().message;
}

// A diffs block sets the entries of the counters block before it: 0 none, zigzag + 1 the sum.
TEST(ZoneCounters, DiffsBlocksFillTheirCountersOrAreRefused) {
  std::vector<PageEvent> counters;
  std::string error;
  const unsigned char entries[] = {4, 1, 0, 2, 0xac, 0x02, 0, 0, 0, 0x11, 0, 1, 0, 1, 0x64, 0, 0, 0, 0x11};
  ASSERT_TRUE(decode_zone_counters(entries, sizeof entries, 2, counters, error)) << error;
  const unsigned char diffs[] = {74, 0};  // zigzag(-37) = 73, + 1; then none
  ASSERT_TRUE(decode_zone_counter_diffs(diffs, sizeof diffs, 2, counters, error)) << error;
  EXPECT_EQ(zone_counters_of(counters[0]).free_diffs, -37);
  EXPECT_EQ(zone_counters_of(counters[0]).exact_free_pages(), 263);
  EXPECT_EQ(zone_counters_of(counters[0]).free_pages, 300u);  // the rest untouched
  EXPECT_FALSE(zone_counters_of(counters[1]).free_diffs.has_value());
  EXPECT_FALSE(decode_zone_counter_diffs(diffs, sizeof diffs, 1, std::span(counters).first(1), error));  // trailing
  EXPECT_FALSE(decode_zone_counter_diffs(diffs, sizeof diffs, 3, counters, error));  // not its block's count
  const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
  EXPECT_FALSE(decode_zone_counter_diffs(huge, sizeof huge, 2, counters, error));
}

TEST(ZoneCounters, MalformedBlocksAreRefused) {
  std::vector<PageEvent> out;
  std::string error;
  // ts delta 2 (zigzag 4), cpu 1, node 0, zone 2, free 300, highatomic 0 and 0, boost 0, lists 0x11
  const unsigned char good[] = {4, 1, 0, 2, 0xac, 0x02, 0, 0, 0, 0x11};
  ASSERT_TRUE(decode_zone_counters(good, sizeof good, 1, out, error)) << error;
  ASSERT_EQ(out.size(), 1u);
  const ZoneCounters c = zone_counters_of(out[0]);
  EXPECT_EQ(out[0].ts_ns, 2u);
  EXPECT_EQ(out[0].cpu, 1u);
  EXPECT_EQ(c.zone_index, 2u);
  EXPECT_EQ(c.free_pages, 300u);
  EXPECT_EQ(c.lists, 0x11u);
  EXPECT_TRUE(c.list_nonempty(0, 0));
  EXPECT_TRUE(c.list_nonempty(1, 0));
  EXPECT_FALSE(c.list_nonempty(0, 1));
  EXPECT_FALSE(decode_zone_counters(good, sizeof good, 2, out, error));      // more entries than bytes
  const unsigned char zone_too_high[] = {4, 1, 0, 16, 0xac, 0x02, 0, 0, 0, 0x11};
  EXPECT_FALSE(decode_zone_counters(zone_too_high, sizeof zone_too_high, 1, out, error));
  const unsigned char trailing[] = {4, 1, 0, 2, 0xac, 0x02, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(decode_zone_counters(trailing, sizeof trailing, 1, out, error));
}

}  // namespace
}  // namespace labyrinth::traces
