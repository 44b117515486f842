#include "flight_dump.hpp"

#include <algorithm>
#include <ctime>
#include <vector>
#include <stdexcept>

#include "labyrinth/common/output_file.hpp"
#include "labyrinth/ebpf/flight_recorder.hpp"
#include "labyrinth/ebpf/system_snapshot.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::ebpf {
namespace {

// The oldest keyframe with a free-page map, or else the oldest keyframe: mirror seeds from
// the map and validates at every later keyframe; without one it seeds from counts only. A
// keyframe whose scan's events the ring has pushed out cannot start a dump.
std::ptrdiff_t start_index(const ChunkRing& ring) {
  const auto& e = ring.entries();
  std::ptrdiff_t oldest_map = -1, oldest_keyframe = -1;
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (e[i].meta.role != traces::BlockRole::Keyframe || e[i].events_from < ring.first_seq()) continue;
    if (oldest_keyframe < 0) oldest_keyframe = static_cast<std::ptrdiff_t>(i);
    if (e[i].free_map) {
      oldest_map = static_cast<std::ptrdiff_t>(i);
      break;
    }
  }
  return oldest_map >= 0 ? oldest_map : oldest_keyframe;
}

// The blocks a dump writes after its start, as indices into the ring's entries: from the first
// block made during the start's scan on, and each later keyframe where its own scan began, as
// a recording writes it (its scan's events follow it).
std::vector<std::size_t> blocks_after_start(const ChunkRing& ring, std::size_t start) {
  const auto& e = ring.entries();
  const std::uint64_t first_seq = ring.first_seq();  // entries are numbered in order
  std::vector<std::size_t> out;
  for (auto i = static_cast<std::size_t>(e[start].events_from - first_seq); i < e.size(); ++i) {
    if (i == start) continue;
    if (e[i].meta.role == traces::BlockRole::Keyframe && e[i].events_from < e[i].seq) {
      const auto at = static_cast<std::size_t>(e[i].events_from - first_seq);
      out.insert(std::find(out.begin(), out.end(), at), i);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

std::string safe_for_file_name(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (ok) out += c;
    else if (c == '<') out += "-lt-";
    else if (c == '>' || c == '=') out += c == '>' ? "-ge" : "";
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "trigger" : out;
}

}  // namespace

std::string dump_file_name(const std::string& pattern, std::uint64_t unix_ns, const std::string& trigger,
                           std::uint64_t number) {
  const std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000ull);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string p = pattern;
  const bool unique = p.find("%t") != std::string::npos || p.find("%n") != std::string::npos;
  if (!unique) {
    std::string stem = p;
    if (stem.size() >= 6 && stem.compare(stem.size() - 6, 6, ".trace") == 0) stem.resize(stem.size() - 6);
    p = stem + "-%t-%r-%n.trace";
  }
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%' && i + 1 < p.size()) {
      const char c = p[i + 1];
      if (c == 't') out += stamp;
      else if (c == 'r') out += safe_for_file_name(trigger);
      else if (c == 'n') out += std::to_string(number);
      else if (c == '%') out += '%';
      else out += p.substr(i, 2);
      ++i;
    } else {
      out += p[i];
    }
  }
  if (out.size() < 6 || out.compare(out.size() - 6, 6, ".trace") != 0) out += ".trace";
  return out;
}

DumpResult write_dump(const DumpRequest& req, const ChunkRing& ring, const FlightBuffer& buffer) {
  const std::ptrdiff_t first = start_index(ring);
  if (first < 0) throw std::runtime_error("the ring holds no keyframe yet to start a dump from");
  const auto& entries = ring.entries();
  const ChunkRing::Entry& start = entries[static_cast<std::size_t>(first)];

  traces::TraceHeader header = req.header;
  header.options["flight_trigger"] = req.hit.trigger;
  header.options["flight_trigger_ts_ns"] = std::to_string(req.hit.ts_ns);
  header.options["flight_trigger_detail"] = req.hit.detail;
  header.start_ts_ns = start.meta.first_ts_ns;

  common::OutputFile file(req.path, common::OutputPolicy{false, true});
  traces::TraceWriter writer(file.fd(), req.path, std::move(header));
  traces::BlockMeta meta = start.meta;
  meta.role = traces::BlockRole::StartSnapshot;
  writer.write_encoded(meta, ring.payload(start));  // readers expect it right after the header
  // Every name and stack seen so far, with the ids the events carry (given in the same order).
  for (std::size_t id = 1; id < buffer.names().size(); ++id) writer.intern_comm(buffer.names()[id]);
  for (const auto& [id, frames] : buffer.stacks()) writer.define_stack(id, frames);
  DumpResult r;
  for (const std::size_t i : blocks_after_start(ring, static_cast<std::size_t>(first))) {
    const traces::BlockMeta& m = entries[i].meta;
    writer.write_encoded(m, ring.payload(entries[i]));
    if (m.role != traces::BlockRole::Events || m.count == 0) continue;
    if (r.events == 0 || m.first_ts_ns < r.first_ts_ns) r.first_ts_ns = m.first_ts_ns;
    if (r.events == 0 || m.last_ts_ns > r.last_ts_ns) r.last_ts_ns = m.last_ts_ns;
    r.events += m.count;
  }

  traces::TraceFooter footer;
  footer.end_time_unix_ns = realtime_ns();
  footer.losses.ringbuf_drops = req.drops_now - start.drops_before;
  footer.losses.recursion_misses = req.recursion_misses;
  footer.stop_reason = "trigger";
  writer.finish(req.end, footer);
  r.bytes = writer.bytes_written();
  r.started_at_free_map = start.free_map;
  file.commit();
  return r;
}

}  // namespace labyrinth::ebpf
