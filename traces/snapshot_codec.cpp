#include "snapshot_codec.hpp"

#include <algorithm>
#include <cstring>

#include "labyrinth/traces/metadata_json.hpp"
#include "varint.hpp"

namespace labyrinth::traces {
namespace {

constexpr std::uint64_t kMaxRuns = 1ull << 23;
constexpr std::uint64_t kMaxStringLength = 1u << 16;
constexpr std::uint64_t kMaxFrames = 1024;
// A 64-bit physical address space of the smallest page the reader accepts (1 KiB) has 2^54
// page frames: a snapshot that counts or places more is not of a machine. Refused here,
// before a seed or a report sizes a loop or a table from the numbers.
constexpr std::uint64_t kMaxPageFrames = std::uint64_t{1} << 54;
constexpr std::size_t kMaxOrders = 64;          // buddyinfo columns
constexpr std::size_t kMaxMigratetypes = 16;    // pagetypeinfo rows, pageblock counts
constexpr std::size_t kMaxZoneTypes = 8;        // entries of "protection:" (MAX_NR_ZONES)

std::string zone_name(const ZoneSnapshot& z) { return "zone " + z.zone + " of node " + std::to_string(z.node); }

// What a snapshot's zones declare: tables of plausible shape, counts within the frames a
// machine can have. An empty string when they do.
std::string absurd_zone(const ZoneSnapshot& z) {
  if (z.buddyinfo.size() > kMaxOrders) {
    return zone_name(z) + " lists free blocks of " + std::to_string(z.buddyinfo.size()) + " orders";
  }
  if (z.pagetype_free.size() > kMaxMigratetypes || z.pageblocks_by_type.size() > kMaxMigratetypes) {
    return zone_name(z) + " lists more than " + std::to_string(kMaxMigratetypes) + " migratetypes";
  }
  if (z.lowmem_reserve_pages.size() > kMaxZoneTypes) {
    return zone_name(z) + " lists a lowmem reserve for " + std::to_string(z.lowmem_reserve_pages.size()) + " zone types";
  }
  for (const auto& row : z.pagetype_free) {
    if (row.size() > kMaxOrders) {
      return zone_name(z) + " lists free blocks of " + std::to_string(row.size()) + " orders";
    }
  }
  std::uint64_t pageblocks = 0;  // saturates just above the limit
  for (const std::uint64_t n : z.pageblocks_by_type) {
    pageblocks = std::min(pageblocks + std::min(n, kMaxPageFrames + 1), kMaxPageFrames + 1);
  }
  const std::pair<const char*, std::uint64_t> counts[] = {{"free pages", z.free_pages},
                                                          {"managed pages", z.managed_pages},
                                                          {"pages on per-CPU lists", z.pcp_pages},
                                                          {"pageblocks", pageblocks}};
  for (const auto& [what, n] : counts) {
    if (n > kMaxPageFrames) {
      return zone_name(z) + " declares more than 2^54 " + what + ", more page frames than a 64-bit machine has";
    }
  }
  return {};
}

bool read_string(ByteCursor& in, std::string& out) {
  const std::uint64_t len = in.varint();
  if (in.bad || len > kMaxStringLength || len > static_cast<std::uint64_t>(in.end - in.p)) return false;
  out.assign(reinterpret_cast<const char*>(in.p), static_cast<std::size_t>(len));
  in.p += len;
  return true;
}

void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out += s;
}

}  // namespace

void encode_snapshot(const Snapshot& snapshot, std::string& out) {
  nlohmann::json meta{{"ts_ns", snapshot.ts_ns},
                      {"kpageflags_scan_ns", snapshot.kpageflags_scan_ns},
                      {"zones", snapshot.zones}};
  if (!snapshot.vmstat.empty()) {
    meta["vmstat_ts_ns"] = snapshot.vmstat_ts_ns;
    meta["vmstat"] = snapshot.vmstat;
  }
  const std::string text = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.clear();
  put_string(out, "");  // reserved: a future name for the snapshot
  put_varint(out, text.size());
  out += text;
  put_varint(out, snapshot.free_runs.size());
  std::uint64_t prev_end = 0;
  for (const FreeRun& run : snapshot.free_runs) {
    put_varint(out, zigzag(static_cast<std::int64_t>(run.start_pfn - prev_end)));
    put_varint(out, run.pages);
    prev_end = run.start_pfn + run.pages;
  }
}

bool decode_snapshot(const unsigned char* data, std::size_t size, Snapshot& out, std::string& error) {
  ByteCursor in{data, data + size, false};
  std::string reserved;
  const std::uint64_t json_len = read_string(in, reserved) ? in.varint() : 0;
  if (in.bad || json_len > static_cast<std::uint64_t>(in.end - in.p)) {
    error = "snapshot block is malformed";
    return false;
  }
  try {
    const auto meta = parse_metadata(std::string_view(reinterpret_cast<const char*>(in.p), static_cast<std::size_t>(json_len)));
    out.ts_ns = meta.value("ts_ns", std::uint64_t{0});
    out.kpageflags_scan_ns = meta.value("kpageflags_scan_ns", std::uint64_t{0});
    out.zones = meta.value("zones", std::vector<ZoneSnapshot>{});
    out.vmstat_ts_ns = meta.value("vmstat_ts_ns", std::uint64_t{0});
    out.vmstat = meta.value("vmstat", std::map<std::string, std::uint64_t>{});
  } catch (const nlohmann::json::exception& e) {
    error = std::string("snapshot metadata is not valid JSON: ") + e.what();
    return false;
  }
  for (const ZoneSnapshot& z : out.zones) {
    if (const std::string why = absurd_zone(z); !why.empty()) {
      error = "snapshot " + why;
      return false;
    }
  }
  in.p += json_len;
  const std::uint64_t runs = in.varint();
  if (in.bad || runs > kMaxRuns || runs > static_cast<std::uint64_t>(in.end - in.p)) {
    error = "snapshot free-run count is out of range";
    return false;
  }
  out.free_runs.clear();
  out.free_runs.reserve(static_cast<std::size_t>(runs));
  std::uint64_t prev_end = 0;
  for (std::uint64_t i = 0; i < runs; ++i) {
    FreeRun run;
    run.start_pfn = prev_end + static_cast<std::uint64_t>(unzigzag(in.varint()));
    run.pages = in.varint();
    if (in.bad || run.pages == 0 || run.start_pfn < prev_end) {
      error = "snapshot free runs are not sorted and disjoint";
      return false;
    }
    if (run.pages > ~std::uint64_t{0} - run.start_pfn) {  // the end would wrap around
      error = "snapshot free run at pfn " + std::to_string(run.start_pfn) + " has an impossible page count";
      return false;
    }
    if (run.start_pfn + run.pages > kMaxPageFrames) {
      error = "snapshot free run at pfn " + std::to_string(run.start_pfn) + " of " + std::to_string(run.pages) +
              " pages ends beyond the page frames of a 64-bit machine (2^54)";
      return false;
    }
    prev_end = run.start_pfn + run.pages;
    out.free_runs.push_back(run);
  }
  if (!in.at_end()) {
    error = "snapshot block has trailing bytes";
    return false;
  }
  out.present = true;
  return true;
}

void encode_comms(const std::vector<std::pair<std::uint32_t, std::string>>& comms, std::string& out) {
  out.clear();
  for (const auto& [id, name] : comms) {
    put_varint(out, id);
    put_string(out, name);
  }
}

bool decode_comms(const unsigned char* data, std::size_t size, std::uint32_t count,
                  std::unordered_map<std::uint32_t, std::string>& table, std::string& error) {
  ByteCursor in{data, data + size, false};
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto id = in.varint();
    std::string name;
    if (in.bad || id > UINT32_MAX || !read_string(in, name)) {
      error = "process-name block is malformed";
      return false;
    }
    table[static_cast<std::uint32_t>(id)] = std::move(name);
  }
  if (!in.at_end()) {
    error = "process-name block has trailing bytes";
    return false;
  }
  return true;
}

void encode_stacks(const std::vector<StackTrace>& stacks, std::string& out) {
  out.clear();
  for (const auto& stack : stacks) {
    put_varint(out, stack.id);
    put_varint(out, stack.frames.size());
    for (const auto& frame : stack.frames) put_string(out, frame);
  }
}

bool decode_stacks(const unsigned char* data, std::size_t size, std::uint32_t count,
                   std::unordered_map<std::uint32_t, StackTrace>& table, std::string& error) {
  ByteCursor in{data, data + size, false};
  for (std::uint32_t i = 0; i < count; ++i) {
    StackTrace stack;
    const auto id = in.varint();
    const auto frames = in.varint();
    if (in.bad || id > UINT32_MAX || frames > kMaxFrames) {
      error = "stack block is malformed";
      return false;
    }
    stack.id = static_cast<std::uint32_t>(id);
    for (std::uint64_t f = 0; f < frames; ++f) {
      std::string frame;
      if (!read_string(in, frame)) {
        error = "stack block is malformed";
        return false;
      }
      stack.frames.push_back(std::move(frame));
    }
    table[stack.id] = std::move(stack);
  }
  if (!in.at_end()) {
    error = "stack block has trailing bytes";
    return false;
  }
  return true;
}

}  // namespace labyrinth::traces
