// Writes the seed corpora of the fuzz targets from the committed samples, at run time (the
// corpora are not committed): small traces cut from the sample traces (zstd blocks and the
// same with every block stored uncompressed, which the reader accepts and the fuzzer can
// mutate), their text twins, raw event and snapshot block payloads, and the first lines and
// the loss markers of every capture. Usage: make_seeds SAMPLES_DIR OUT_DIR
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "block_format.hpp"
#include "crc32c.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/import/input_source.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "labyrinth/traces/trace_writer.hpp"
#include "snapshot_codec.hpp"

namespace fs = std::filesystem;
using namespace labyrinth::traces;

namespace {

constexpr std::size_t kEventsPerTrace = 300;
constexpr std::size_t kEventsPerBlockSeed = 64;
constexpr std::size_t kCaptureHeadLines = 300;
constexpr std::size_t kLinesAroundLoss = 8;

fs::path out_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string u32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

// The same trace with every zstd block stored plain (and its checksums redone).
std::string uncompressed(const std::string& file) {
  std::string out = file.substr(0, format::kFileHeaderSize);
  std::size_t off = format::kFileHeaderSize;
  while (off + format::kBlockHeaderSize <= file.size()) {
    format::BlockHeader h{};
    std::memcpy(&h, file.data() + off, sizeof h);
    std::string payload = file.substr(off + format::kBlockHeaderSize, static_cast<std::size_t>(h.stored_size));
    off += format::kBlockHeaderSize + payload.size();
    if ((h.flags & format::kFlagZstd) != 0) {
      std::string raw(static_cast<std::size_t>(h.raw_size), '\0');
      const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), payload.data(), payload.size());
      if (ZSTD_isError(n) != 0U) throw std::runtime_error("seed: zstd block does not decompress");
      payload = raw;
      h.flags &= ~format::kFlagZstd;
      h.stored_size = payload.size();
    }
    h.payload_crc = crc32c(payload.data(), payload.size());
    h.header_crc = crc32c(&h, format::kBlockHeaderSize - 4);
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out += payload;
  }
  return out;
}

// A small synthetic snapshot with two zones and a few free runs.
Snapshot small_snapshot(std::uint64_t ts) {
  Snapshot s;
  s.present = true;
  s.ts_ns = ts;
  ZoneSnapshot z;
  z.node = 0;
  z.zone = "Normal";
  z.buddyinfo = {3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1};
  z.free_pages = 1031;
  z.min_pages = 128;
  z.low_pages = 160;
  z.high_pages = 192;
  z.pageblocks_by_type = {1, 7, 0, 0, 0, 0};
  s.zones = {z};
  s.free_runs = {{0x1000, 1}, {0x1004, 4}, {0x1010, 2}, {0x2000, 1024}};
  return s;
}

// A trace of the first events of `sample`, its text twin, and block payload seeds.
void seeds_from_trace(const fs::path& sample, const fs::path& scratch) {
  const std::string stem = sample.stem().string();
  TraceReader reader(sample.string());
  std::vector<PageEvent> events;
  std::span<const PageEvent> chunk;
  while (events.size() < kEventsPerTrace && reader.next(chunk)) {
    for (const PageEvent& e : chunk) {
      if (events.size() == kEventsPerTrace) break;
      events.push_back(e);
    }
  }
  const fs::path small = scratch / (stem + ".trace");
  fs::remove(small);
  {
    WriterOptions options;
    options.chunk_events = 100;  // several event blocks
    TraceWriter writer(small.string(), reader.header(), options);
    const bool snapshots = stem.find("ftrace-trace") != std::string::npos;  // one seed with snapshots
    if (snapshots) {
      writer.write_start_snapshot(small_snapshot(events.empty() ? 0 : events.front().ts_ns));
      writer.define_stack(7, {"__alloc_pages+0x1a0", "alloc_pages_mpol+0x91"});
    }
    std::uint64_t allocs = 0;
    for (PageEvent e : events) {
      const std::string_view comm = reader.comm(e.comm_id);
      e.comm_id = comm.empty() ? kUnknownComm : writer.intern_comm(comm);
      if (snapshots && e.kind == EventKind::Alloc && (e.ts_ns & 3u) == 0) e.stack_id = 7;
      if (snapshots && e.kind == EventKind::Alloc && ++allocs % 10 == 0) {
        // zone counters and their diffs blocks (formats 1.7, 1.9), one entry without diffs
        ZoneCounters c;
        c.zone_index = 2;
        c.free_pages = 14500;
        c.lists = 0x7770;
        c.free_diffs = allocs % 20 == 0 ? std::optional<std::int32_t>(-37) : std::nullopt;
        writer.append(zone_counters_event(e.ts_ns, e.cpu, c));
      }
      writer.append(e);
    }
    writer.finish(snapshots ? small_snapshot(events.empty() ? 0 : events.back().ts_ns) : Snapshot{}, reader.footer());
  }
  const std::string bytes = slurp(small);
  put("trace_reader", stem + ".trace", bytes);
  put("trace_reader", stem + ".plain.trace", uncompressed(bytes));

  TraceReader again(small.string());
  std::ostringstream text;
  write_text_trace(again, text);
  put("text_trace", stem + ".txt", text.str());
  put("import_auto", stem + ".txt", text.str());

  const std::vector<PageEvent> head(events.begin(),
                                    events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), kEventsPerBlockSeed)));
  std::string payload;
  encode_events(head, payload);
  put("event_decoder", stem + ".events", u32(static_cast<std::uint32_t>(head.size())) + payload);
}

// Seeds of the block decoders that the samples do not hold.
void synthetic_block_seeds() {
  std::string payload;
  encode_snapshot(small_snapshot(123456789), payload);
  put("snapshot_decoder", "snapshot", std::string(1, '\0') + u32(4) + payload);
  encode_comms({{1, "kworker/u4:2"}, {2, "ping"}, {300, "cc1plus"}}, payload);
  put("snapshot_decoder", "comms", std::string(1, '\1') + u32(3) + payload);
  StackTrace a{5, {"__alloc_pages+0x1a0", "alloc_pages_mpol+0x91", "vma_alloc_folio+0x64"}};
  StackTrace b{6, {}};
  encode_stacks({a, b}, payload);
  put("snapshot_decoder", "stacks", std::string(1, '\2') + u32(2) + payload);

  // One event of every kind and context, failed, with stacks, and with large deltas.
  std::vector<PageEvent> events;
  for (int k = 0; k < static_cast<int>(kEventBlockKinds.size()); ++k) {
    PageEvent e;
    e.kind = kEventBlockKinds[static_cast<std::size_t>(k)];
    e.ctx = static_cast<ExecContext>(k % kExecContextCount);
    e.ts_ns = 1000u + static_cast<std::uint64_t>(k) * 977u;
    e.pfn = k == 1 ? 0x1000 : 0xfffffffffull - static_cast<std::uint64_t>(k);
    e.order = static_cast<std::uint8_t>(k * 2);
    e.migratetype = static_cast<std::int8_t>(k - 1);
    e.gfp = 0x140cca;
    e.pid = k == 3 ? 0xffffffffu : 42u;
    e.tid = 43;
    e.comm_id = static_cast<std::uint32_t>(k);
    e.cpu = static_cast<std::uint16_t>(k * 100);
    e.stack_id = k % 2 == 0 ? 9u : kNoStack;
    e.fallback_order = e.kind == EventKind::Extfrag ? 3 : 0;
    e.fallback_migratetype = e.kind == EventKind::Extfrag ? 2 : -1;
    e.change_ownership = e.kind == EventKind::Extfrag;
    e.percpu_refill = e.kind == EventKind::PcpRefill;
    events.push_back(e);
  }
  PageEvent failed;
  failed.pfn = kFailedPfn;
  failed.gfp = 0x820;
  failed.order = 3;
  events.push_back(failed);
  encode_events(events, payload);
  put("event_decoder", "every-kind.events", u32(static_cast<std::uint32_t>(events.size())) + payload);
}

// The first lines of a capture and the lines around each of its loss markers.
void seeds_from_capture(const fs::path& sample, const std::vector<std::string>& targets) {
  auto input = labyrinth::traces::import::InputSource::open(sample.string());
  labyrinth::traces::import::LineReader reader(*input);
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.next(line)) lines.emplace_back(line);
  std::string head;
  for (std::size_t i = 0; i < std::min(lines.size(), kCaptureHeadLines); ++i) head += lines[i] + "\n";
  std::string losses;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("LOST") == std::string::npos) continue;
    const std::size_t from = i > kLinesAroundLoss ? i - kLinesAroundLoss : 0;
    for (std::size_t k = from; k < std::min(lines.size(), i + kLinesAroundLoss); ++k) losses += lines[k] + "\n";
  }
  // trace-cmd's default report has its header only on the first lines; markers and other
  // events (print, tracing_mark_write) are scattered: keep a few of those lines too.
  std::string other;
  for (const std::string& l : lines) {
    if (other.size() < 4096 && (l.find("mark") != std::string::npos || l.find("print") != std::string::npos ||
                                l.find("extfrag") != std::string::npos || l.find("zone_locked") != std::string::npos)) {
      other += l + "\n";
    }
  }
  const std::string stem = sample.filename().string().substr(0, sample.filename().string().find('.'));
  for (const std::string& target : targets) {
    put(target, stem + ".head.txt", head);
    if (!losses.empty()) put(target, stem + ".lost.txt", losses);
    if (!other.empty()) put(target, stem + ".other.txt", other);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds SAMPLES_DIR OUT_DIR\n");
    return 2;
  }
  const fs::path samples = argv[1];
  out_root = argv[2];
  try {
    const fs::path scratch = out_root / ".scratch";
    fs::create_directories(scratch);
    for (const auto& entry : fs::directory_iterator(samples)) {
      const fs::path p = entry.path();
      const std::string name = p.filename().string();
      if (p.extension() == ".trace") seeds_from_trace(p, scratch);
      if (name.ends_with(".txt.zst")) {
        std::vector<std::string> targets{"import_auto"};
        if (name.starts_with("ftrace")) targets.emplace_back("import_ftrace");
        if (name.starts_with("tracecmd")) targets.emplace_back("import_tracecmd");
        if (name.starts_with("perf")) targets.emplace_back("import_perf_script");
        seeds_from_capture(p, targets);
      }
      if (p.extension() == ".format") put("gfp_format", name, slurp(p));
    }
    synthetic_block_seeds();
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
