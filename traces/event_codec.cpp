#include "event_codec.hpp"

#include <array>
#include <cstring>

#include "varint.hpp"

namespace labyrinth::traces {
namespace {

enum Column : std::size_t { kTags, kTs, kCpu, kPfn, kPid, kTid, kComm, kGfp, kExtra, kStack, kColumnCount };

constexpr std::uint8_t kFailedBit = 0x40;
constexpr std::uint8_t kStackBit = 0x80;

std::uint8_t pack_nibbles(unsigned low, int signed_high) {
  return static_cast<std::uint8_t>((low & 0xfu) | ((static_cast<unsigned>(signed_high + 1) & 0xfu) << 4));
}

void put_u32(std::string& out, std::uint32_t v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  out.append(bytes, 4);
}

}  // namespace

void encode_events(const std::vector<PageEvent>& events, std::string& out) {
  std::array<std::string, kColumnCount> col;
  col[kTags].reserve(events.size() * 2);
  col[kTs].reserve(events.size() * 2);
  std::uint64_t prev_ts = 0, prev_pfn = 0;
  std::uint32_t prev_pid = 0, prev_comm = 0;
  for (const PageEvent& e : events) {
    const bool failed = e.failed();
    const bool has_stack = e.stack_id != kNoStack;
    col[kTags].push_back(static_cast<char>(static_cast<unsigned>(e.kind) | (static_cast<unsigned>(e.ctx) << 3) |
                                           (failed ? kFailedBit : 0u) | (has_stack ? kStackBit : 0u)));
    col[kTags].push_back(static_cast<char>(pack_nibbles(e.order, e.migratetype)));
    put_varint(col[kTs], zigzag(static_cast<std::int64_t>(e.ts_ns - prev_ts)));
    prev_ts = e.ts_ns;
    put_varint(col[kCpu], e.cpu);
    if (!failed) {
      put_varint(col[kPfn], zigzag(static_cast<std::int64_t>(e.pfn - prev_pfn)));
      prev_pfn = e.pfn;
    }
    put_varint(col[kPid], zigzag(static_cast<std::int64_t>(e.pid) - static_cast<std::int64_t>(prev_pid)));
    prev_pid = e.pid;
    put_varint(col[kTid], zigzag(static_cast<std::int64_t>(e.tid) - static_cast<std::int64_t>(e.pid)));
    put_varint(col[kComm], zigzag(static_cast<std::int64_t>(e.comm_id) - static_cast<std::int64_t>(prev_comm)));
    prev_comm = e.comm_id;
    if (e.kind == EventKind::Alloc) put_varint(col[kGfp], e.gfp);
    if (e.kind == EventKind::Extfrag) {
      col[kExtra].push_back(static_cast<char>(pack_nibbles(e.fallback_order, e.fallback_migratetype)));
      col[kExtra].push_back(static_cast<char>(e.change_ownership ? 1 : 0));
    } else if (e.kind == EventKind::PcpRefill) {
      col[kExtra].push_back(static_cast<char>(e.percpu_refill ? 1 : 0));
    }
    if (has_stack) put_varint(col[kStack], e.stack_id);
  }
  out.clear();
  put_u32(out, static_cast<std::uint32_t>(kColumnCount));
  for (const auto& c : col) put_u32(out, static_cast<std::uint32_t>(c.size()));
  for (const auto& c : col) out += c;
}

bool decode_events(const unsigned char* data, std::size_t size, std::uint32_t count, std::vector<PageEvent>& out,
                   std::string& error) {
  if (size < 4) {
    error = "events block too short";
    out.clear();
    return false;
  }
  std::uint32_t ncols = 0;
  std::memcpy(&ncols, data, 4);
  if (ncols != kColumnCount || size < 4 + 4 * std::size_t{ncols}) {
    error = "events block has an unexpected column layout";
    return false;
  }
  std::array<ByteCursor, kColumnCount> col;
  std::size_t offset = 4 + 4 * std::size_t{ncols};
  for (std::size_t i = 0; i < kColumnCount; ++i) {
    std::uint32_t len = 0;
    std::memcpy(&len, data + 4 + 4 * i, 4);
    if (len > size - offset) {
      error = "events block column overruns the block";
      return false;
    }
    col[i] = ByteCursor{data + offset, data + offset + len, false};
    offset += len;
  }
  if (offset != size) {
    error = "events block has trailing bytes";
    return false;
  }
  out.resize(count);  // every field of every event is assigned below
  // One pass over all columns: a chunk of decoded events is larger than the cache, so
  // each event is finished while it is hot.
  std::uint64_t prev_ts = 0, prev_pfn = 0;
  std::uint32_t prev_pid = 0, prev_comm = 0;
  bool bad_tag = false;
  for (PageEvent& e : out) {
    const std::uint8_t tag = col[kTags].byte();
    const std::uint8_t nib = col[kTags].byte();
    const unsigned kind = tag & 0x7u;
    const unsigned ctx = (tag >> 3) & 0x7u;
    bad_tag |= kind >= kEventKindCount || ctx >= kExecContextCount;
    e.kind = static_cast<EventKind>(kind);
    e.ctx = static_cast<ExecContext>(ctx);
    e.order = static_cast<std::uint8_t>(nib & 0xfu);
    e.migratetype = static_cast<std::int8_t>((nib >> 4) - 1);
    prev_ts += static_cast<std::uint64_t>(unzigzag(col[kTs].varint()));
    e.ts_ns = prev_ts;
    e.cpu = static_cast<std::uint16_t>(col[kCpu].varint());
    if ((tag & kFailedBit) != 0) {
      e.pfn = kFailedPfn;
    } else {
      prev_pfn += static_cast<std::uint64_t>(unzigzag(col[kPfn].varint()));
      e.pfn = prev_pfn;
    }
    prev_pid = static_cast<std::uint32_t>(static_cast<std::int64_t>(prev_pid) + unzigzag(col[kPid].varint()));
    e.pid = prev_pid;
    e.tid = static_cast<std::uint32_t>(static_cast<std::int64_t>(e.pid) + unzigzag(col[kTid].varint()));
    prev_comm = static_cast<std::uint32_t>(static_cast<std::int64_t>(prev_comm) + unzigzag(col[kComm].varint()));
    e.comm_id = prev_comm;
    e.gfp = 0;
    e.fallback_order = 0;
    e.fallback_migratetype = -1;
    e.change_ownership = false;
    e.percpu_refill = false;
    switch (e.kind) {
      case EventKind::Alloc:
        e.gfp = col[kGfp].varint();
        break;
      case EventKind::Extfrag: {
        const std::uint8_t fb = col[kExtra].byte();
        e.fallback_order = static_cast<std::uint8_t>(fb & 0xfu);
        e.fallback_migratetype = static_cast<std::int8_t>((fb >> 4) - 1);
        e.change_ownership = col[kExtra].byte() != 0;
        break;
      }
      case EventKind::PcpRefill:
        e.percpu_refill = col[kExtra].byte() != 0;
        break;
      default:
        break;
    }
    e.stack_id = (tag & kStackBit) != 0 ? static_cast<std::uint32_t>(col[kStack].varint()) : kNoStack;
  }
  if (bad_tag) {
    error = "events block holds an unknown event kind or context";
    out.clear();
    return false;
  }
  for (const auto& c : col) {
    if (c.bad || !c.at_end()) {
      error = "events block columns do not match the event count";
      out.clear();
      return false;
    }
  }
  return true;
}

}  // namespace labyrinth::traces
