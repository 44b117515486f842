#include "event_codec.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "block_format.hpp"
#include "varint.hpp"

namespace labyrinth::traces {
namespace {

enum Column : std::size_t { kTags, kTs, kCpu, kPfn, kPid, kTid, kComm, kGfp, kExtra, kStack, kColumnCount };

// Bit 6: the event has no pfn (a failed allocation, every reclaim and kswapd event).
constexpr std::uint8_t kNoPfnBit = 0x40;
// The tag keeps three bits of kind: the pageless kinds (reclaim and kswapd) are kind 7 there,
// with a byte in the extra column that says which (0 begin, 1 end; 2 kswapd wake, 3 kswapd
// sleep: format 1.8).
constexpr unsigned kReclaimTag = 7;
constexpr unsigned char kExtraKswapdWake = 2;
constexpr unsigned char kExtraKswapdSleep = 3;
// A pageblock move is an extfrag record whose ownership byte is 2 (format 1.6).
constexpr unsigned char kOwnershipMoved = 2;
constexpr unsigned tag_kind(EventKind kind) {
  if (kind == EventKind::PageblockMove) return static_cast<unsigned>(EventKind::Extfrag);
  return is_pageless(kind) ? kReclaimTag : static_cast<unsigned>(kind);
}
constexpr std::uint8_t kStackBit = 0x80;
// Every encoded event takes at least 2 tag bytes and one varint byte in each of the ts, cpu,
// pid, tid and comm columns, after a 44-byte column table.
constexpr std::uint64_t kMinEventBytes = 7;
constexpr std::uint64_t kEventsTableBytes = 44;

std::uint8_t pack_nibbles(unsigned low, int signed_high) {
  return static_cast<std::uint8_t>((low & 0xfu) | ((static_cast<unsigned>(signed_high + 1) & 0xfu) << 4));
}

// The most bytes one event adds to each column: a varint of 64 bits takes 10, of 32 bits or of
// the zigzag of a difference of two u32s 5, of a u16 3; an isolation puts two 32-bit varints
// in the gfp column.
constexpr std::array<std::size_t, kColumnCount> kMaxEventBytes = {2, 10, 3, 10, 5, 5, 5, 10, 2, 5};

inline unsigned char* put_varint_at(unsigned char* p, std::uint64_t value) {
  while (value >= 0x80) {
    *p++ = static_cast<unsigned char>(value | 0x80u);
    value >>= 7;
  }
  *p++ = static_cast<unsigned char>(value);
  return p;
}

// A buffer of this thread's for the columns, kept from one chunk to the next and never
// zero-filled (resizing a string to the worst case clears about 45 bytes an event each time).
unsigned char* column_scratch(std::size_t bytes) {
  thread_local std::unique_ptr<unsigned char[]> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < bytes) {
    buffer = std::make_unique_for_overwrite<unsigned char[]>(bytes);
    capacity = bytes;
  }
  return buffer.get();
}

}  // namespace

// Each column is written at the offset its worst case allows in a scratch buffer, then the
// columns are appended to `out` back to back: one pass over the events without a growing
// buffer per column (10 std::string push_backs an event cost the flight recorder about 20 ns).
void encode_events(const std::vector<PageEvent>& events, std::string& out) {
  const std::size_t n = events.size();
  std::array<std::size_t, kColumnCount> start{};
  std::size_t worst = 0;
  for (std::size_t c = 0; c < kColumnCount; ++c) {
    start[c] = worst;
    worst += n * kMaxEventBytes[c];
  }
  unsigned char* base = column_scratch(worst);
  std::array<unsigned char*, kColumnCount> col{};
  for (std::size_t c = 0; c < kColumnCount; ++c) col[c] = base + start[c];
  std::uint64_t prev_ts = 0, prev_pfn = 0;
  std::uint32_t prev_pid = 0, prev_comm = 0;
  for (const PageEvent& e : events) {
    const bool no_pfn = e.failed() || is_pageless(e.kind);
    const bool has_stack = e.stack_id != kNoStack;
    *col[kTags]++ = static_cast<unsigned char>(tag_kind(e.kind) | (static_cast<unsigned>(e.ctx) << 3) |
                                               (no_pfn ? kNoPfnBit : 0u) | (has_stack ? kStackBit : 0u));
    *col[kTags]++ = pack_nibbles(e.order, e.migratetype);
    col[kTs] = put_varint_at(col[kTs], zigzag(static_cast<std::int64_t>(e.ts_ns - prev_ts)));
    prev_ts = e.ts_ns;
    col[kCpu] = put_varint_at(col[kCpu], e.cpu);
    if (!no_pfn) {
      col[kPfn] = put_varint_at(col[kPfn], zigzag(static_cast<std::int64_t>(e.pfn - prev_pfn)));
      prev_pfn = e.pfn;
    }
    col[kPid] = put_varint_at(col[kPid], zigzag(static_cast<std::int64_t>(e.pid) - static_cast<std::int64_t>(prev_pid)));
    prev_pid = e.pid;
    col[kTid] = put_varint_at(col[kTid], zigzag(static_cast<std::int64_t>(e.tid) - static_cast<std::int64_t>(e.pid)));
    col[kComm] =
        put_varint_at(col[kComm], zigzag(static_cast<std::int64_t>(e.comm_id) - static_cast<std::int64_t>(prev_comm)));
    prev_comm = e.comm_id;
    // gfp bits, or kswapd's node
    if (e.kind == EventKind::Alloc || e.kind == EventKind::ReclaimBegin || is_kswapd(e.kind)) {
      col[kGfp] = put_varint_at(col[kGfp], e.gfp);
    }
    if (e.kind == EventKind::ReclaimEnd) col[kGfp] = put_varint_at(col[kGfp], e.reclaimed_pages);
    if (is_pageless(e.kind)) {
      *col[kExtra]++ = e.kind == EventKind::ReclaimEnd    ? 1
                       : e.kind == EventKind::KswapdWake  ? kExtraKswapdWake
                       : e.kind == EventKind::KswapdSleep ? kExtraKswapdSleep
                                                          : 0;
    } else if (e.kind == EventKind::Extfrag || e.kind == EventKind::PageblockMove) {
      *col[kExtra]++ = pack_nibbles(e.fallback_order, e.fallback_migratetype);
      *col[kExtra]++ = e.kind == EventKind::PageblockMove ? kOwnershipMoved : e.change_ownership ? 1 : 0;
    } else if (e.kind == EventKind::PcpRefill) {
      *col[kExtra]++ = e.percpu_refill ? 1 : 0;
    } else if (e.kind == EventKind::Isolate) {
      col[kGfp] = put_varint_at(col[kGfp], e.range_pages);
      col[kGfp] = put_varint_at(col[kGfp], e.taken_pages);
      *col[kExtra]++ = static_cast<unsigned char>(e.isolate_source);
    }
    if (has_stack) col[kStack] = put_varint_at(col[kStack], e.stack_id);
  }
  // The table (column count, then each column's size), then the columns back to back.
  std::array<std::uint32_t, 1 + kColumnCount> table{};
  static_assert(sizeof table == kEventsTableBytes);
  table[0] = static_cast<std::uint32_t>(kColumnCount);
  std::size_t total = kEventsTableBytes;
  for (std::size_t c = 0; c < kColumnCount; ++c) {
    table[1 + c] = static_cast<std::uint32_t>(col[c] - (base + start[c]));
    total += table[1 + c];
  }
  out.clear();
  out.reserve(total);
  out.append(reinterpret_cast<const char*>(table.data()), kEventsTableBytes);  // native order, as before
  for (std::size_t c = 0; c < kColumnCount; ++c) out.append(reinterpret_cast<const char*>(base + start[c]), table[1 + c]);
}

namespace {

// Bits set in a 64-bit word, without a library call (std::popcount is one without -mpopcnt).
inline std::uint64_t bits_set(std::uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (x * 0x0101010101010101ull) >> 56;
}

// Checks that a varint column holds exactly `expected` varints and nothing else, with the
// rules of ByteCursor::varint(): every varint ends inside the column and has at most 10
// bytes. This pass runs over every byte of the chunk: 64 bytes at a time where SSE2 is
// there (their top bits gathered into one word), then 8, then one.
bool varints_exact(const unsigned char* p, const unsigned char* end, std::uint64_t expected) {
  if (p == end) return expected == 0;
  if ((end[-1] & 0x80u) != 0) return false;  // the last varint runs past the column
  std::uint64_t ends = 0;
  unsigned run = 0;  // continuation bytes since the last terminator
#if defined(__SSE2__)
  for (; end - p >= 64; p += 64) {
    // One bit per byte, set on a continuation byte (top bit set).
    auto top_bits = [p](int at) {
      return static_cast<std::uint64_t>(static_cast<std::uint32_t>(
                 _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at)))))
             << at;
    };
    const std::uint64_t cont = top_bits(0) | top_bits(16) | top_bits(32) | top_bits(48);
    const std::uint64_t term = ~cont;
    if (term == 0) return false;  // 64 continuation bytes
    ends += bits_set(term);
    if (run + static_cast<unsigned>(std::countr_zero(term)) >= 10) return false;
    // Ten continuation bytes in a row inside the word: runs of 2, 4, 8, then 8 + 2.
    const std::uint64_t two = cont & (cont >> 1);
    const std::uint64_t four = two & (two >> 2);
    const std::uint64_t eight = four & (four >> 4);
    if ((eight & (two >> 8)) != 0) return false;
    run = static_cast<unsigned>(std::countl_zero(term));
  }
#endif
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  for (; end - p >= 8; p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    const std::uint64_t term = ~w & kHigh;
    if (term == 0) {
      run += 8;
      if (run >= 10) return false;
      continue;
    }
    ends += ((term >> 7) * 0x0101010101010101ull) >> 56;  // one bit per byte: sum the bytes
    if (run + static_cast<unsigned>(std::countr_zero(term) >> 3) >= 10) return false;
    run = static_cast<unsigned>(std::countl_zero(term) >> 3);
  }
  for (; p != end; ++p) {
    if ((*p & 0x80u) == 0) {
      ++ends;
      run = 0;
    } else if (++run >= 10) {
      return false;
    }
  }
  return ends == expected;
}

// Without bounds checks: varints_exact() has proven the column.
inline std::uint64_t take_varint(const unsigned char*& p) {
  std::uint64_t b = *p++;
  if (b < 0x80u) return b;
  std::uint64_t value = b & 0x7fu;
  for (unsigned shift = 7;; shift += 7) {
    b = *p++;
    value |= (b & 0x7fu) << shift;
    if (b < 0x80u) return value;
  }
}

// A varint that is one byte nearly always (pid and comm deltas: one process at work): that
// byte is laid out as the straight path, where take_varint() branches away to it.
inline std::uint64_t take_small_varint(const unsigned char*& p) {
  if (*p < 0x80u) [[likely]] return *p++;
  return take_varint(p);
}

// A varint of two bytes nearly always (time deltas of a few microseconds, 94% of them in perf
// and labyrinth recordings alike): two byte reads and one test take that case. The byte after
// p is always readable: the cpu column, one varint per event, follows the ts column.
inline std::uint64_t take_two_byte_varint(const unsigned char*& p) {
  const std::uint64_t b0 = p[0];
  const std::uint64_t b1 = p[1];
  if ((b0 & 0x80u) != 0 && (b1 & 0x80u) == 0) [[likely]] {
    p += 2;
    return (b0 & 0x7fu) | (b1 << 7);
  }
  return take_varint(p);
}

// Pfn deltas vary in length from event to event (3 or 4 bytes, one in three and two in
// three), so a loop over their bytes mispredicts its exit on most events. This reads 8 bytes
// at once, finds the terminator and gathers the 7-bit groups with masks and shifts, without a
// branch on the length; the rare 9- and 10-byte varints take the loop. The 8 bytes at p must
// be readable: they may run into the next column, whose bytes are masked off.
inline std::uint64_t take_varint_wide(const unsigned char*& p) {
  if constexpr (std::endian::native != std::endian::little) return take_varint(p);
  std::uint64_t w = 0;
  std::memcpy(&w, p, 8);
  const std::uint64_t stops = ~w & 0x8080808080808080ull;  // the top bit of each terminator
  if (stops == 0) [[unlikely]] return take_varint(p);
  p += (static_cast<unsigned>(std::countr_zero(stops)) >> 3) + 1;
  w &= (stops ^ (stops - 1)) & 0x7f7f7f7f7f7f7f7full;  // this varint's bytes, without their top bits
  w = (w & 0x007f007f007f007full) | ((w >> 1) & 0x3f803f803f803f80ull);  // pairs of 7 bits: 14
  w = (w & 0x00003fff00003fffull) | ((w >> 2) & 0x0fffc0000fffc000ull);  // 28
  return (w & 0x000000000fffffffull) | ((w >> 4) & 0x00fffffff0000000ull);  // 56
}

// With at least this many events, an 8-byte read at any varint of the pfn column stays inside
// the chunk: the pid, tid and comm columns follow it, one varint (at least a byte) per event
// each (checked by open()), so at least 1 + 3 * 3 bytes are there from the varint's first.
constexpr std::uint32_t kWideReadEvents = 3;

}  // namespace

bool EventDecoder::open(const unsigned char* data, std::size_t size, std::uint32_t count, std::string& error,
                        UnreadColumns unread) {
  left_ = 0;
  prev_ts_ = prev_pfn_ = 0;
  prev_pid_ = prev_comm_ = 0;
  unread_ = unread;
  // Checked first, before anything is sized from the count.
  if (count > format::kMaxChunkEvents || size < kEventsTableBytes + std::uint64_t{count} * kMinEventBytes) {
    error = "events block claims " + std::to_string(count) + " events, more than it holds";
    return false;
  }
  std::uint32_t ncols = 0;
  std::memcpy(&ncols, data, 4);
  if (ncols != kColumnCount || size < 4 + 4 * std::size_t{ncols}) {
    error = "events block has an unexpected column layout";
    return false;
  }
  std::array<const unsigned char*, kColumnCount + 1> bound{};
  std::size_t offset = 4 + 4 * std::size_t{ncols};
  for (std::size_t i = 0; i < kColumnCount; ++i) {
    std::uint32_t len = 0;
    std::memcpy(&len, data + 4 + 4 * i, 4);
    if (len > size - offset) {
      error = "events block column overruns the block";
      return false;
    }
    bound[i] = data + offset;
    offset += len;
  }
  bound[kColumnCount] = data + offset;
  if (offset != size) {
    error = "events block has trailing bytes";
    return false;
  }
  // Which columns each event uses follows from its tag byte alone: count them per tag value.
  // The tag of event i is byte 2i of the tags column, read as far as the column goes.
  const unsigned char* tags = bound[kTags];
  const std::size_t tags_len = static_cast<std::size_t>(bound[kTags + 1] - tags);
  const std::size_t tagged = std::min<std::size_t>(count, (tags_len + 1) / 2);
  // Four histograms: runs of one tag would otherwise chain every increment on the last.
  std::array<std::array<std::uint32_t, 256>, 4> hist{};
  std::size_t t = 0;
  for (; t + 4 <= tagged; t += 4) {
    ++hist[0][tags[2 * t]];
    ++hist[1][tags[2 * t + 2]];
    ++hist[2][tags[2 * t + 4]];
    ++hist[3][tags[2 * t + 6]];
  }
  for (; t < tagged; ++t) ++hist[0][tags[2 * t]];
  std::uint64_t with_pfn = 0, gfps = 0, extra = 0, stacks = 0;
  bool bad_tag = false;
  for (unsigned tag = 0; tag < 256; ++tag) {
    const std::uint64_t n = std::uint64_t{hist[0][tag]} + hist[1][tag] + hist[2][tag] + hist[3][tag];
    if (n == 0) continue;
    const unsigned kind = tag & 0x7u;
    const unsigned ctx = (tag >> 3) & 0x7u;
    bad_tag |= ctx >= kExecContextCount || (kind == kReclaimTag && (tag & kNoPfnBit) == 0);
    if ((tag & kNoPfnBit) == 0) with_pfn += n;
    if ((tag & kStackBit) != 0) stacks += n;
    if (kind == static_cast<unsigned>(EventKind::Alloc)) gfps += n;
    if (kind == static_cast<unsigned>(EventKind::Isolate)) {
      gfps += 2 * n;  // range and pages taken
      extra += n;
    }
    if (kind == static_cast<unsigned>(EventKind::Extfrag)) extra += 2 * n;
    if (kind == static_cast<unsigned>(EventKind::PcpRefill)) extra += n;
    if (kind == kReclaimTag) {
      gfps += n;  // the request's gfp, or the pages reclaimed
      extra += n;
    }
  }
  if (bad_tag) {
    error = "events block holds an unknown event kind or context";
    return false;
  }
  auto exact = [&](std::size_t c, std::uint64_t n) { return varints_exact(bound[c], bound[c + 1], n); };
  const bool ok = tags_len == 2 * std::uint64_t{count} && exact(kTs, count) && exact(kCpu, count) &&
                  exact(kPfn, with_pfn) && exact(kPid, count) && exact(kTid, count) && exact(kComm, count) &&
                  exact(kGfp, gfps) && static_cast<std::uint64_t>(bound[kExtra + 1] - bound[kExtra]) == extra &&
                  exact(kStack, stacks);
  if (!ok) {
    error = "events block columns do not match the event count";
    return false;
  }
  for (std::size_t i = 0; i < kColumnCount; ++i) col_[i] = bound[i];
  left_ = count;
  wide_ = count >= kWideReadEvents;
  return true;
}

std::size_t EventDecoder::decode(PageEvent* out, std::size_t max) {
  if (!wide_) return decode_narrow(out, max);
  switch (unread_) {
    case UnreadColumns::None: break;
    case UnreadColumns::Tid: return decode_fields<true, false, true>(out, max);
    case UnreadColumns::CpuAndTid: return decode_fields<false, false, true>(out, max);
  }
  return decode_fields<true, true, true>(out, max);
}

std::size_t EventDecoder::decode_narrow(PageEvent* out, std::size_t max) {
  switch (unread_) {
    case UnreadColumns::None: break;
    case UnreadColumns::Tid: return decode_fields<true, false, false>(out, max);
    case UnreadColumns::CpuAndTid: return decode_fields<false, false, false>(out, max);
  }
  return decode_fields<true, true, false>(out, max);
}

template <bool kDecodeCpu, bool kDecodeTid, bool kWide>
std::size_t EventDecoder::decode_fields(PageEvent* out, std::size_t max) {
  const std::size_t n = std::min<std::size_t>(max, left_);
  const unsigned char* tags = col_[kTags];
  const unsigned char* ts = col_[kTs];
  const unsigned char* cpu = col_[kCpu];
  const unsigned char* pfn = col_[kPfn];
  const unsigned char* pid = col_[kPid];
  const unsigned char* tid = col_[kTid];
  const unsigned char* comm = col_[kComm];
  const unsigned char* gfp = col_[kGfp];
  const unsigned char* extra = col_[kExtra];
  const unsigned char* stack = col_[kStack];
  std::uint64_t prev_ts = prev_ts_, prev_pfn = prev_pfn_;
  std::uint32_t prev_pid = prev_pid_, prev_comm = prev_comm_;
  std::uint64_t backwards = 0;  // bit 0 set by any negative (odd, zigzagged) time delta
  // Each event starts as a copy of a blank one (four 16-byte stores): the fields its kind does
  // not have, and those of the columns left unread, keep their defaults.
  static constexpr PageEvent kBlank{};
  for (std::size_t i = 0; i < n; ++i) {
    PageEvent& e = out[i];
    std::memcpy(static_cast<void*>(&e), &kBlank, sizeof e);
    const unsigned tag = tags[0];
    const unsigned nib = tags[1];
    tags += 2;
    e.kind = static_cast<EventKind>(tag & 0x7u);  // a reclaim tag is resolved below
    e.ctx = static_cast<ExecContext>((tag >> 3) & 0x7u);
    e.order = static_cast<std::uint8_t>(nib & 0xfu);
    e.migratetype = static_cast<std::int8_t>(static_cast<int>(nib >> 4) - 1);
    const std::uint64_t ts_delta = take_two_byte_varint(ts);
    backwards |= ts_delta;
    prev_ts += static_cast<std::uint64_t>(unzigzag(ts_delta));
    e.ts_ns = prev_ts;
    if constexpr (kDecodeCpu) {
      e.cpu = static_cast<std::uint16_t>(take_varint(cpu));
    }
    if ((tag & kNoPfnBit) != 0) {
      e.pfn = e.kind == EventKind::Alloc ? kFailedPfn : 0;
    } else {
      prev_pfn += static_cast<std::uint64_t>(unzigzag(kWide ? take_varint_wide(pfn) : take_varint(pfn)));
      e.pfn = prev_pfn;
    }
    // Deltas are added modulo 2^64 and cut to 32 bits: a hostile delta near INT64_MAX must not
    // overflow a signed sum (fuzz regression event_decoder/pid-delta-overflow).
    prev_pid = static_cast<std::uint32_t>(prev_pid + static_cast<std::uint64_t>(unzigzag(take_small_varint(pid))));
    e.pid = prev_pid;
    if constexpr (kDecodeTid) {
      e.tid = static_cast<std::uint32_t>(prev_pid + static_cast<std::uint64_t>(unzigzag(take_varint(tid))));
    }
    prev_comm = static_cast<std::uint32_t>(prev_comm + static_cast<std::uint64_t>(unzigzag(take_small_varint(comm))));
    e.comm_id = prev_comm;
    switch (e.kind) {
      case EventKind::Alloc:
        e.gfp = take_varint(gfp);
        break;
      case EventKind::Extfrag:
        e.fallback_order = static_cast<std::uint8_t>(extra[0] & 0xfu);
        e.fallback_migratetype = static_cast<std::int8_t>(static_cast<int>(extra[0] >> 4) - 1);
        if (extra[1] == kOwnershipMoved) {
          e.kind = EventKind::PageblockMove;
        } else {
          e.change_ownership = extra[1] != 0;
        }
        extra += 2;
        break;
      case EventKind::PcpRefill:
        e.percpu_refill = *extra++ != 0;
        break;
      case EventKind::Isolate:
        e.range_pages = static_cast<std::uint32_t>(take_varint(gfp));
        e.taken_pages = static_cast<std::uint32_t>(take_varint(gfp));
        // 1.1 wrote 0 and 1; a value this reader does not know is taken as a guess (fast).
        if (const auto v = static_cast<unsigned char>(*extra++); v <= 3) {
          e.isolate_source = static_cast<IsolateSource>(v);
        } else {
          e.isolate_source = IsolateSource::FastScan;
        }
        break;
      case EventKind::ReclaimBegin:  // the reclaim tag: the extra column says which
        switch (static_cast<unsigned char>(*extra++)) {
          case 0: break;
          case kExtraKswapdWake: e.kind = EventKind::KswapdWake; break;
          case kExtraKswapdSleep: e.kind = EventKind::KswapdSleep; break;
          default: e.kind = EventKind::ReclaimEnd; break;  // 1, or a value no writer uses (1.5 to 1.7 read any non-zero as 1)
        }
        if (e.kind == EventKind::ReclaimEnd) {
          e.reclaimed_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(take_varint(gfp), 0xffffffffu));
        } else {
          e.gfp = take_varint(gfp);  // the request's gfp bits, or kswapd's node
        }
        break;
      default:
        break;
    }
    if ((tag & kStackBit) != 0) e.stack_id = static_cast<std::uint32_t>(take_varint(stack));
  }
  col_ = {tags, ts, cpu, pfn, pid, tid, comm, gfp, extra, stack};
  prev_ts_ = prev_ts;
  prev_pfn_ = prev_pfn;
  prev_pid_ = prev_pid;
  prev_comm_ = prev_comm;
  left_ -= static_cast<std::uint32_t>(n);
  in_order_ = (backwards & 1u) == 0;
  return n;
}

std::uint32_t encode_task_states(const std::vector<PageEvent>& events, std::string& out) {
  out.clear();
  std::uint32_t n = 0;
  std::uint64_t prev = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::uint8_t state = events[i].task_state & kTaskStateMask;
    if (state == 0 || events[i].kind != EventKind::Alloc) continue;
    put_varint(out, i - prev);
    out.push_back(static_cast<char>(state));
    prev = i;
    ++n;
  }
  return n;
}

bool decode_task_states(const unsigned char* data, std::size_t size, std::uint32_t count,
                        std::vector<std::pair<std::uint32_t, std::uint8_t>>& out, std::string& error) {
  out.clear();
  if (count > format::kMaxChunkEvents || size < 2 * std::uint64_t{count}) {
    error = "task-states block claims more entries than it holds";
    return false;
  }
  ByteCursor in{data, data + size, false};
  std::uint64_t index = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    const std::uint64_t delta = in.varint();
    const std::uint8_t state = in.byte();
    index += delta;
    if (in.bad || (k != 0 && delta == 0) || delta >= format::kMaxChunkEvents || state == 0 ||
        (state & ~kTaskStateMask) != 0) {
      error = "task-states block is malformed";
      return false;
    }
    if (index >= format::kMaxChunkEvents) {
      error = "task-states block names an event past the largest chunk";
      return false;
    }
    out.emplace_back(static_cast<std::uint32_t>(index), state);
  }
  if (!in.at_end()) {
    error = "task-states block has trailing bytes";
    return false;
  }
  return true;
}

std::uint32_t split_zone_counters(const std::vector<PageEvent>& chunk, std::vector<PageEvent>& events,
                                  std::string& out, std::string& diffs) {
  out.clear();
  diffs.clear();
  events.clear();
  std::uint32_t n = 0;
  bool any_diffs = false;
  std::uint64_t prev_ts = 0;
  for (const PageEvent& e : chunk) {
    if (!e.zone_counters()) {
      events.push_back(e);
      continue;
    }
    const ZoneCounters c = zone_counters_of(e);
    put_varint(out, zigzag(static_cast<std::int64_t>(e.ts_ns - prev_ts)));
    prev_ts = e.ts_ns;
    put_varint(out, e.cpu);
    put_varint(out, static_cast<std::uint64_t>(std::max(c.node, 0)));
    put_varint(out, c.zone_index);
    put_varint(out, c.free_pages);
    put_varint(out, c.highatomic_free);
    put_varint(out, c.highatomic_reserved);
    put_varint(out, c.boost);
    put_varint(out, c.lists);
    put_varint(diffs, c.free_diffs ? zigzag(*c.free_diffs) + 1 : 0);
    any_diffs = any_diffs || c.free_diffs.has_value();
    ++n;
  }
  if (!any_diffs) diffs.clear();
  return n;
}

bool decode_zone_counter_diffs(const unsigned char* data, std::size_t size, std::uint32_t count,
                               std::span<PageEvent> counters, std::string& error) {
  if (count != counters.size() || size < count) {
    error = "zone-counter diffs block does not match the zone-counters block before it";
    return false;
  }
  ByteCursor in{data, data + size, false};
  for (PageEvent& e : counters) {
    const std::uint64_t v = in.varint();
    if (in.bad || v > (std::uint64_t{1} << 33)) {
      error = "zone-counter diffs block is malformed";
      return false;
    }
    if (v == 0) continue;
    ZoneCounters c = zone_counters_of(e);
    c.free_diffs = static_cast<std::int32_t>(unzigzag(v - 1));
    e = zone_counters_event(e.ts_ns, e.cpu, c);
  }
  if (!in.at_end()) {
    error = "zone-counter diffs block has trailing bytes";
    return false;
  }
  return true;
}

bool decode_zone_counters(const unsigned char* data, std::size_t size, std::uint32_t count,
                          std::vector<PageEvent>& out, std::string& error) {
  // Nine varints of at least a byte each.
  if (count > format::kMaxChunkEvents || size < 9 * std::uint64_t{count}) {
    error = "zone-counters block claims more entries than it holds";
    return false;
  }
  ByteCursor in{data, data + size, false};
  std::uint64_t ts = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    ts += static_cast<std::uint64_t>(unzigzag(in.varint()));
    const std::uint64_t cpu = in.varint();
    const std::uint64_t node = in.varint();
    const std::uint64_t zone = in.varint();
    ZoneCounters c;
    c.free_pages = in.varint();
    const std::uint64_t ha_free = in.varint();
    const std::uint64_t ha_reserved = in.varint();
    const std::uint64_t boost = in.varint();
    c.lists = in.varint();
    if (in.bad || cpu > 0xffff || node > 127 || zone > 15 || ha_free > 0xffffffffu || ha_reserved > 0xffffffffu ||
        boost > 0xffffffffu) {
      error = "zone-counters block is malformed";
      return false;
    }
    c.node = static_cast<int>(node);
    c.zone_index = static_cast<unsigned>(zone);
    c.highatomic_free = static_cast<std::uint32_t>(ha_free);
    c.highatomic_reserved = static_cast<std::uint32_t>(ha_reserved);
    c.boost = static_cast<std::uint32_t>(boost);
    out.push_back(zone_counters_event(ts, static_cast<std::uint16_t>(cpu), c));
  }
  if (!in.at_end()) {
    error = "zone-counters block has trailing bytes";
    return false;
  }
  return true;
}

bool decode_events(const unsigned char* data, std::size_t size, std::uint32_t count, std::vector<PageEvent>& out,
                   std::string& error) {
  EventDecoder decoder;
  if (!decoder.open(data, size, count, error)) {
    out.clear();
    return false;
  }
  out.resize(count);  // every field of every event is assigned by decode()
  decoder.decode(out.data(), count);
  return true;
}

}  // namespace labyrinth::traces
