// The events-block column checks: a varint column must hold exactly the events' varints, each
// of at most 10 bytes, wherever it falls against the checker's 64- and 8-byte words; and the
// decoder's 8-byte reads of pfn deltas, at every varint length and chunk size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "event_codec.hpp"

namespace labyrinth::traces {
namespace {

// A well-formed block of `count` free events; the ts column is replaced by `ts_column`.
std::string block_with_ts_column(std::uint32_t count, const std::string& ts_column) {
  std::vector<PageEvent> events(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    events[i].kind = EventKind::Free;
    events[i].pfn = 0x1000 + i;
    events[i].ts_ns = i;
  }
  std::string block;
  encode_events(events, block);
  // Layout: u32 column count, u32 length per column, then the columns; ts is column 1.
  std::uint32_t ncols = 0;
  std::memcpy(&ncols, block.data(), 4);
  std::vector<std::uint32_t> len(ncols);
  std::memcpy(len.data(), block.data() + 4, 4 * ncols);
  const std::size_t table = 4 + 4 * std::size_t{ncols};
  const std::size_t ts_at = table + len[0];
  std::string out = block.substr(0, ts_at) + ts_column + block.substr(ts_at + len[1]);
  const auto ts_len = static_cast<std::uint32_t>(ts_column.size());
  std::memcpy(out.data() + 8, &ts_len, 4);
  return out;
}

bool decodes(const std::string& block, std::uint32_t count) {
  std::vector<PageEvent> events;
  std::string error;
  return decode_events(reinterpret_cast<const unsigned char*>(block.data()), block.size(), count, events, error);
}

// `count` one-byte varints with one of `length` bytes (length - 1 continuation bytes) at `at`.
std::string column_with_long_varint(std::uint32_t count, std::size_t at, std::size_t length) {
  std::string column(count - 1, '\x01');
  std::string varint(length - 1, '\x80');
  varint.push_back('\x00');
  column.insert(at, varint);
  return column;
}

// Decodes a block of `count` events; a decode error fails the test and gives no events.
std::vector<PageEvent> decode_all(const std::string& block, std::size_t count) {
  std::vector<PageEvent> out;
  std::string error;
  EXPECT_TRUE(decode_events(reinterpret_cast<const unsigned char*>(block.data()), block.size(),
                            static_cast<std::uint32_t>(count), out, error))
      << error;
  return out;
}

TEST(EventColumns, VarintsOfUpToTenBytesPassAndLongerOnesFailAtEveryAlignment) {
  constexpr std::uint32_t kCount = 160;  // 159 one-byte varints + the long one: 64-byte words and a tail
  for (std::size_t at = 0; at < kCount; ++at) {
    for (std::size_t length = 1; length <= 20; ++length) {
      EXPECT_EQ(decodes(block_with_ts_column(kCount, column_with_long_varint(kCount, at, length)), kCount), length <= 10)
          << "a " << length << "-byte varint after " << at << " bytes";
    }
  }
}

TEST(EventColumns, ColumnMustHoldExactlyTheEventsVarints) {
  constexpr std::uint32_t kCount = 40;
  const std::string exact(kCount, '\x02');
  EXPECT_TRUE(decodes(block_with_ts_column(kCount, exact), kCount));
  EXPECT_FALSE(decodes(block_with_ts_column(kCount, exact + '\x02'), kCount));       // one too many
  EXPECT_FALSE(decodes(block_with_ts_column(kCount, exact.substr(1)), kCount));      // one too few
  EXPECT_FALSE(decodes(block_with_ts_column(kCount, exact + '\x81'), kCount));       // runs past the column
  std::string merged = exact;
  merged[20] = '\x82';  // two varints become one: one too few
  EXPECT_FALSE(decodes(block_with_ts_column(kCount, merged), kCount));
}

// Pfn and time deltas of every varint length, 1 to 10 bytes, up and down, around failed
// allocations (which carry no pfn), in chunks of 1 to 6 events: from 3 events on, the decoder
// reads pfns 8 bytes at a time, up to the last one of the chunk; times take a two-byte path.
TEST(EventColumns, PfnAndTimeDeltasOfEveryLengthRoundTripInChunksOfAnySize) {
  std::vector<PageEvent> events;
  std::uint64_t pfn = 0;
  for (unsigned bits = 0; bits < 64; ++bits) {
    for (const std::uint64_t delta : {std::uint64_t{1} << bits, -(std::uint64_t{1} << bits) - 1}) {
      pfn += delta;
      PageEvent e;
      e.kind = bits % 2 == 0 ? EventKind::Free : EventKind::Alloc;
      e.pfn = pfn == kFailedPfn ? 0 : pfn;
      e.ts_ns = events.size() % 3 == 0 ? pfn * 3 : events.size() * 1000;  // long deltas, and 2-byte ones
      e.gfp = e.kind == EventKind::Alloc ? 0xcc0 : 0;  // frees carry none
      events.push_back(e);
      if (bits % 7 == 0) {
        e.pfn = kFailedPfn;
        events.push_back(e);
      }
    }
  }
  for (std::size_t chunk = 1; chunk <= 6; ++chunk) {
    for (std::size_t from = 0; from < events.size(); from += chunk) {
      const std::vector<PageEvent> in(events.begin() + static_cast<std::ptrdiff_t>(from),
                                      events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), from + chunk)));
      std::string block;
      encode_events(in, block);
      EXPECT_EQ(decode_all(block, in.size()), in) << "chunks of " << chunk << ", from event " << from;
    }
  }
}

// The encoder writes each column at the offset its widest event allows: events whose every field
// takes the most bytes (and deltas that swing between the extremes) must come back unchanged.
TEST(EventColumns, WidestValuesInEveryColumnRoundTrip) {
  std::vector<PageEvent> events;
  for (std::uint32_t i = 0; i < 64; ++i) {
    PageEvent e;
    e.kind = kEventBlockKinds[i % kEventBlockKinds.size()];
    e.ctx = static_cast<ExecContext>(i % 5);
    const bool high = i % 2 == 0;
    e.ts_ns = high ? ~std::uint64_t{0} - i : i;
    e.pfn = e.kind == EventKind::Alloc && i % 4 == 0 ? kFailedPfn : (high ? ~std::uint64_t{0} - 2 : i);
    e.gfp = e.kind == EventKind::Alloc ? ~std::uint64_t{0} : 0;
    e.pid = high ? 0xffffffffu : 0;
    e.tid = high ? 0 : 0xffffffffu;
    e.comm_id = high ? 0xffffffffu : 0;
    e.stack_id = high ? 0xfffffffeu : kNoStack;
    e.cpu = 0xffff;
    e.order = 15;
    e.migratetype = high ? 14 : -1;
    if (e.kind == EventKind::Extfrag) {
      e.fallback_order = 15;
      e.fallback_migratetype = 14;
      e.change_ownership = true;
    }
    if (e.kind == EventKind::PageblockMove) {
      e.fallback_order = 15;
      e.fallback_migratetype = 14;
    }
    if (e.kind == EventKind::PcpRefill) e.percpu_refill = true;
    if (e.kind == EventKind::Isolate) {
      e.range_pages = 0xffffffffu;
      e.taken_pages = 0xffffffffu;
      e.isolate_source = IsolateSource::Putback;
    }
    if (is_reclaim(e.kind) || is_kswapd(e.kind)) e.pfn = 0;  // a reclaim or kswapd event has no page
    if (is_kswapd(e.kind)) e.gfp = ~std::uint64_t{0};         // the node
    if (e.kind == EventKind::ReclaimBegin) e.gfp = ~std::uint64_t{0};
    if (e.kind == EventKind::ReclaimEnd) e.reclaimed_pages = 0xffffffffu;
    events.push_back(e);
  }
  std::string block = "left over from an earlier chunk";
  encode_events(events, block);
  const std::vector<PageEvent> back = decode_all(block, events.size());
  ASSERT_EQ(back.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(back[i], events[i]) << "event " << i;
}

// A pageblock move travels as an extfrag record whose ownership byte is 2 (format 1.6): a 1.5
// reader, which tests the byte for non-zero, takes it as a claim (the same retyping), and this
// reader gives it back as a move, apart from a claim and a steal beside it.
TEST(EventColumns, APageblockMoveIsAnExtfragRecordWithOwnershipTwo) {
  std::vector<PageEvent> events(3);
  for (auto& e : events) {
    e.kind = EventKind::Extfrag;
    e.pfn = 0x12345;
    e.migratetype = 3;
    e.fallback_migratetype = 1;
  }
  events[0].kind = EventKind::PageblockMove;
  events[1].change_ownership = true;
  std::string block;
  encode_events(events, block);
  std::uint32_t len[11] = {};
  std::memcpy(len, block.data(), sizeof len);  // the column count, then each column's size
  const std::size_t extra_at = 4 + 4 * std::size_t{len[0]} + len[1] + len[2] + len[3] + len[4] + len[5] + len[6] +
                               len[7] + len[8];
  ASSERT_EQ(len[9], 6u);  // the extra column: two bytes per event
  EXPECT_EQ(block[extra_at + 1], 2);
  EXPECT_EQ(block[extra_at + 3], 1);
  EXPECT_EQ(block[extra_at + 5], 0);
  EXPECT_EQ(static_cast<unsigned char>(block[4 + 4 * len[0]]) & 0x7u, static_cast<unsigned>(EventKind::Extfrag));
  const std::vector<PageEvent> back = decode_all(block, events.size());
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].kind, EventKind::PageblockMove);
  EXPECT_FALSE(back[0].change_ownership);
  EXPECT_EQ(back[0].migratetype, 3);
  EXPECT_EQ(back[0].fallback_migratetype, 1);
  EXPECT_EQ(back[1].kind, EventKind::Extfrag);
  EXPECT_TRUE(back[1].change_ownership);
  EXPECT_EQ(back[2].kind, EventKind::Extfrag);
  EXPECT_FALSE(back[2].change_ownership);
}

}  // namespace
}  // namespace labyrinth::traces
