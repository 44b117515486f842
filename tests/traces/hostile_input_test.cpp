// Hostile values in a trace file (issue 6): blocks crafted by hand with valid checksums, so
// that only the reader's own checks stand between them and the program. Each must end in a
// clear error naming the file and offset, quickly, and without a large allocation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <nlohmann/json.hpp>
#include <zstd.h>

#include "labyrinth/traces/metadata_json.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "test_util.hpp"

// The largest single operator-new request while a test watches (other tests don't look).
namespace {
std::atomic<std::size_t> g_largest_new{0};
void note_size(std::size_t n) {
  std::size_t seen = g_largest_new.load(std::memory_order_relaxed);
  while (n > seen && !g_largest_new.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

// GCC sees free() of memory it believes came from the library's operator new: it is ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  note_size(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace labyrinth::traces {
namespace {

using testing::TempDir;

std::uint32_t crc32c(const void* data, std::size_t size) {
  std::uint32_t crc = ~0u;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

enum : std::uint32_t { kHeader = 1, kStart = 2, kComms = 3, kStacks = 4, kEvents = 5, kEnd = 6, kFooter = 7 };

// A block as labyrinth-trace(5) lays it out, with both checksums right; the sizes may lie.
std::string block(std::uint32_t type, std::uint32_t count, const std::string& payload, bool zstd = false,
                  std::uint64_t stored_size = ~0ull, std::uint64_t raw_size = ~0ull) {
  std::string h;
  put(h, 0x4b4c424cu, 4);
  put(h, type, 4);
  put(h, zstd ? 1 : 0, 4);
  put(h, count, 4);
  put(h, stored_size != ~0ull ? stored_size : payload.size(), 8);
  put(h, raw_size != ~0ull ? raw_size : payload.size(), 8);
  put(h, crc32c(payload.data(), payload.size()), 4);
  put(h, crc32c(h.data(), h.size()), 4);
  return h + payload;
}

std::string file_header() {
  std::string h = "LABYRNTH";
  put(h, 1, 2);
  put(h, 0, 2);
  put(h, 0, 4);
  return h;
}

std::string header_block(const TraceHeader& header = testing::test_header()) {
  return block(kHeader, 0, nlohmann::json(header).dump());
}

class Hostile : public ::testing::Test {
 protected:
  // Writes the bytes, opens and reads them; returns the error or damage message.
  std::string read_bytes(const std::string& bytes, std::uint64_t* events = nullptr) {
    spit(bytes);
    g_largest_new = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::string message;
    try {
      TraceReader reader(path_);
      const auto back = testing::read_all(reader);
      if (events != nullptr) *events = back.size();
      message = reader.damage().any() ? reader.damage().message : "";
    } catch (const TraceError& e) {
      message = e.what();
    }
    largest_ = g_largest_new.load();
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return message;
  }
  void spit(const std::string& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  void expect_cheap() const {
    EXPECT_LT(largest_, 4u << 20) << "a hostile file made the reader allocate " << largest_ << " bytes";
    // A hang guard, not a speed target: a quadratic or multi-GiB path takes minutes.
    EXPECT_LT(seconds_, 30.0);
  }

  TempDir dir_;
  std::string path_ = dir_.file("hostile.trace");
  std::size_t largest_ = 0;
  double seconds_ = 0;
};

TEST_F(Hostile, AbsurdBlockSizesAreRefusedBeforeAnyAllocation) {
  const std::string head = file_header() + header_block();
  const std::string offset = std::to_string(head.size());
  for (const std::uint64_t size : {1ull << 62, (1ull << 28) + 1, ~0ull - 1}) {
    std::string m = read_bytes(head + block(kEvents, 10, "", false, size, size));
    EXPECT_EQ(m, path_ + ": offset " + offset + ": block size is out of range");
    expect_cheap();
    // the same in place of the header
    m = read_bytes(file_header() + block(kHeader, 0, "{}", false, size, 2));
    EXPECT_EQ(m, path_ + ": offset 16: block size is out of range");
    expect_cheap();
  }
}

TEST_F(Hostile, AZstdBlockClaimingAHugeRawSizeIsNotBelieved) {
  const std::string head = file_header() + header_block();
  std::string small(1000, 'x');
  std::string frame(ZSTD_compressBound(small.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), small.data(), small.size(), 3));
  // raw_size 200 MiB for a frame of a few bytes: under the format's limit, impossible for zstd
  const std::string m = read_bytes(head + block(kEvents, 1, frame, true, ~0ull, 200ull << 20));
  EXPECT_NE(m.find(path_ + ": offset " + std::to_string(head.size()) + ": block does not decompress"),
            std::string::npos)
      << m;
  expect_cheap();
}

TEST_F(Hostile, AnEventsBlockClaimingAMillionEventsInAFewBytesIsRefused) {
  const std::string head = file_header() + header_block();
  std::string payload;
  put(payload, 10, 4);
  for (int i = 0; i < 10; ++i) put(payload, 0, 4);
  const std::string m = read_bytes(head + block(kEvents, 1u << 20, payload));
  EXPECT_EQ(m, path_ + ": offset " + std::to_string(head.size()) + ": events block claims 1048576 events, more than it holds");
  expect_cheap();
  // and a count above the format's limit
  const std::string m2 = read_bytes(head + block(kEvents, ~0u, payload));
  EXPECT_NE(m2.find("more than it holds"), std::string::npos) << m2;
  expect_cheap();
}

TEST_F(Hostile, StringTablesWithoutTheirEndAreRefused) {
  const std::string head = file_header() + header_block();
  // a process name whose length runs past the block (no end in sight), in a table claiming
  // 4 billion names
  std::string comms;
  put_varint(comms, 1);
  put_varint(comms, 5000);
  comms += "bash";
  std::uint64_t events = 99;
  std::string m = read_bytes(head + block(kComms, ~0u, comms), &events);
  EXPECT_EQ(m, path_ + ": offset " + std::to_string(head.size()) + ": process-name block is malformed");
  EXPECT_EQ(events, 0u);
  expect_cheap();
  // a name longer than any process name, though the block holds it
  std::string longer;
  put_varint(longer, 1);
  put_varint(longer, 1u << 17);
  longer += std::string(1u << 17, 'a');
  m = read_bytes(head + block(kComms, 1, longer));
  EXPECT_NE(m.find("process-name block is malformed"), std::string::npos) << m;
  // a stack with a billion frames
  std::string stacks;
  put_varint(stacks, 1);
  put_varint(stacks, 1u << 30);
  put_varint(stacks, 3);
  stacks += "f+1";
  m = read_bytes(head + block(kStacks, 1, stacks));
  EXPECT_NE(m.find("stack block is malformed"), std::string::npos) << m;
  expect_cheap();
  // the JSON header itself: a string that never ends
  m = read_bytes(file_header() + block(kHeader, 0, R"({"source": "rec)"));
  EXPECT_NE(m.find(path_ + ": offset 16: the trace header is not valid"), std::string::npos) << m;
  expect_cheap();
}

TEST_F(Hostile, AbsurdSnapshotSizesAreRefused) {
  const std::string head = file_header() + header_block();
  auto snapshot = [](std::uint64_t runs, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& list) {
    std::string s;
    put_varint(s, 0);  // reserved name
    put_varint(s, 2);
    s += "{}";
    put_varint(s, runs);
    for (const auto& [delta, pages] : list) {
      put_varint(s, delta << 1);  // zigzag of a positive delta
      put_varint(s, pages);
    }
    return s;
  };
  // 2^40 runs announced, two present
  std::string m = read_bytes(head + block(kStart, 0, snapshot(1ull << 40, {{0x1000, 4}, {8, 8}})));
  EXPECT_EQ(m, path_ + ": offset " + std::to_string(head.size()) + ": snapshot free-run count is out of range");
  expect_cheap();
  // a run whose end wraps past the last pfn, followed by one "after" it
  m = read_bytes(head + block(kStart, 0, snapshot(2, {{0x1000, ~0ull - 0x10}, {0, 4}})));
  EXPECT_NE(m.find("has an impossible page count"), std::string::npos) << m;
  // an end snapshot the same
  m = read_bytes(head + block(kEnd, 0, snapshot(1ull << 30, {})));
  EXPECT_NE(m.find("snapshot free-run count is out of range"), std::string::npos) << m;
  expect_cheap();
}

// Issue 14: a snapshot that declares an absurd machine is refused by the decoder, with the
// zone and the count named, before a seed or a report sizes anything from it.
TEST_F(Hostile, ASnapshotDeclaringAnAbsurdMachineIsRefused) {
  const std::string head = file_header() + header_block();
  auto snapshot = [](const std::string& zones_json, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) {
    const std::string meta = R"({"zones": )" + zones_json + "}";
    std::string s;
    put_varint(s, 0);  // reserved name
    put_varint(s, meta.size());
    s += meta;
    put_varint(s, runs.size());
    for (const auto& [delta, pages] : runs) {
      put_varint(s, delta << 1);  // zigzag of a positive delta
      put_varint(s, pages);
    }
    return s;
  };
  auto orders = [](int n) {
    std::string list = "0";
    for (int i = 1; i < n; ++i) list += ", 0";
    return list;
  };
  const std::string runs_message = "snapshot free run at pfn " + std::to_string((1ull << 56) + 0x1004) +
                                   " of 8 pages ends beyond the page frames of a 64-bit machine";
  struct Case {
    const char* what;
    std::string block;
    const char* message;
  };
  const Case cases[] = {
      {"free pages", snapshot(R"([{"node": 1, "zone": "Normal", "free_pages": 1152921504606846976}])", {}),
       "snapshot zone Normal of node 1 declares more than 2^54 free pages, more page frames than a 64-bit machine has"},
      {"pageblocks", snapshot(R"([{"zone": "DMA32", "pageblocks_by_type": [9007199254740992, 9007199254740992, 1]}])", {}),
       "snapshot zone DMA32 of node 0 declares more than 2^54 pageblocks"},
      {"orders", snapshot(R"([{"zone": "Normal", "buddyinfo": [)" + orders(100) + "]}]", {}),
       "snapshot zone Normal of node 0 lists free blocks of 100 orders"},
      {"runs", snapshot("[]", {{0x1000, 4}, {1ull << 56, 8}}), runs_message.c_str()},
  };
  for (const Case& c : cases) {
    for (const std::uint8_t kind : {kStart, kEnd}) {
      const std::string m = read_bytes(head + block(kind, 0, c.block));
      EXPECT_NE(m.find(c.message), std::string::npos) << c.what << ": " << m;
      if (kind == kStart) {
        EXPECT_EQ(m.rfind(path_ + ": offset " + std::to_string(head.size()) + ": snapshot ", 0), 0u) << m;
      }
      expect_cheap();
    }
  }
}

TEST_F(Hostile, AbsurdHeaderCountsAreRefused) {
  struct Case {
    const char* what;
    void (*change)(TraceHeader&);
    const char* message;
  };
  const Case cases[] = {
      {"nr_cpus", [](TraceHeader& h) { h.nr_cpus = 1u << 30; }, "header nr_cpus 1073741824 is absurd"},
      {"zones", [](TraceHeader& h) { h.zones.resize(5000, h.zones.front()); }, "header lists more than 1024 zones"},
      {"migratetypes", [](TraceHeader& h) { h.migratetype_names.resize(40, "X"); }, "header lists more than 15 migratetypes"},
      {"page_size", [](TraceHeader& h) { h.page_size = 0; }, "header page_size 0 is not a plausible page size"},
      {"max_order", [](TraceHeader& h) { h.max_order = 4000000000u; }, "header max_order 4000000000 is above"},
  };
  for (const Case& c : cases) {
    TraceHeader h = testing::test_header();
    c.change(h);
    const std::string m = read_bytes(file_header() + header_block(h));
    EXPECT_NE(m.find(path_ + ": offset 16: " + c.message), std::string::npos) << c.what << ": " << m;
    expect_cheap();
  }
}

// Metadata holds integers only: a huge float (found by the snapshot_decoder fuzzer, whose
// conversion to uint64_t was undefined behaviour) is refused as the JSON is parsed.
TEST(MetadataJson, NumbersWithAFractionOrExponentAreRefused) {
  EXPECT_EQ(parse_metadata(R"({"zones": [{"free_pages": 18446744073709551615}]})")["zones"][0]["free_pages"],
            18446744073709551615ull);
  for (const char* text : {R"({"free_pages": 1.8493e19})", R"({"zones": [{"buddyinfo": [1, 2.5]}]})", "1e3"}) {
    SCOPED_TRACE(text);
    EXPECT_THROW((void)parse_metadata(text), nlohmann::json::exception);
  }
}

TEST_F(Hostile, EventsOfUnknownKindsAreRefused) {
  // A valid one-event block, then its kind byte changed to 7 (no such kind).
  std::string raw;
  put(raw, 10, 4);
  const std::string zero(1, '\0');
  const std::string cols[10] = {std::string("\x07\x00", 2), "\x02", zero, "\x02", zero, zero, zero, "", "", ""};
  for (const auto& c : cols) put(raw, c.size(), 4);
  for (const auto& c : cols) raw += c;
  const std::string head = file_header() + header_block();
  const std::string m = read_bytes(head + block(kEvents, 1, raw));
  EXPECT_NE(m.find("events block holds an unknown event kind or context"), std::string::npos) << m;
}

}  // namespace
}  // namespace labyrinth::traces
