// Helpers of the import tests: reading (zstd-compressed) sample captures, temporary
// directories, and an independent scan of capture text that the importer is checked against.
// The scan is deliberately naive (substring search, no shared code with the importer).
#pragma once

#include "temp_dir.hpp"

#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::import_testing {

inline std::string sample_path(const std::string& name) {
  return std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/" + name;
}
inline std::string fixture_path(const std::string& name) {
  return std::string(LABYRINTH_SOURCE_DIR) + "/tests/fixtures/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The whole file, decompressed if it ends in .zst.
inline std::string read_capture(const std::string& path) {
  std::string raw = read_file(path);
  if (path.size() < 4 || path.substr(path.size() - 4) != ".zst") return raw;
  std::string out;
  ZSTD_DStream* ds = ZSTD_createDStream();
  ZSTD_initDStream(ds);
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(ds, &o, &in);
    if (ZSTD_isError(rc) != 0U) {
      ZSTD_freeDStream(ds);
      throw std::runtime_error(path + ": " + ZSTD_getErrorName(rc));
    }
    out.append(buf.data(), o.pos);
  }
  ZSTD_freeDStream(ds);
  return out;
}

using labyrinth::testing::TempDir;

inline std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// What a capture line holds, found by plain substring search.
struct ScannedEvent {
  std::string kind;  // "mm_page_alloc", ...
  std::uint64_t pfn = 0;
  unsigned order = 0;
  bool failed = false;
  std::string gfp;   // gfp_flags text of mm_page_alloc
  char ctx = '?';    // third flags character where the capture has a flags column
  std::string ts;    // the timestamp text
  int cpu = -1;
};

struct Scan {
  std::vector<ScannedEvent> events;
  std::uint64_t other_event_lines = 0;  // lines with an event that is not a kmem page event
  std::uint64_t lost_events = 0;        // sum of the counts in loss markers
  std::uint64_t lost_markers = 0;
  std::uint64_t header_or_blank = 0;
  int max_cpu = -1;
};

inline std::uint64_t hex_after(std::string_view line, std::string_view key) {
  const std::size_t at = line.find(key);
  if (at == std::string_view::npos) throw std::runtime_error("no " + std::string(key) + " in " + std::string(line));
  return std::stoull(std::string(line.substr(at + key.size(), 18)), nullptr, 0);
}

inline std::string word_after(std::string_view line, std::string_view key) {
  const std::size_t at = line.find(key);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + key.size();
  const std::size_t end = line.find(' ', start);
  return std::string(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

// flags_style: 0 = none, 1 = ftrace "[cpu] flags ts:", 2 = trace-cmd -l "comm-pid cpuflags ts:".
inline Scan scan_capture(std::string_view text, int flags_style) {
  static const char* kNames[] = {"mm_page_alloc_zone_locked", "mm_page_alloc_extfrag", "mm_page_free_batched",
                                 "mm_page_pcpu_drain", "mm_page_alloc", "mm_page_free"};
  Scan scan;
  for (std::string_view line : lines_of(text)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos || line[line.find_first_not_of(' ')] == '#' ||
        line.rfind("cpus=", 0) == 0) {
      ++scan.header_or_blank;
      continue;
    }
    std::size_t lost = line.find("[LOST ");
    if (lost == std::string_view::npos) lost = line.find("PERF_RECORD_LOST lost ");
    if (lost != std::string_view::npos && line.find(": mm_page") == std::string_view::npos) {
      ++scan.lost_markers;
      const std::size_t digits = line.find_first_of("0123456789", lost);
      scan.lost_events += std::stoull(std::string(line.substr(digits, 20)));
      continue;
    }
    std::string kind;
    for (const char* name : kNames) {
      if (line.find(std::string(" ") + name + ":") != std::string_view::npos ||
          line.find(std::string(":") + name + ":") != std::string_view::npos) {
        kind = name;
        break;
      }
    }
    if (kind.empty()) {
      ++scan.other_event_lines;
      continue;
    }
    ScannedEvent e;
    e.kind = kind;
    e.failed = line.find("page=(nil)") != std::string_view::npos ||
               line.find("page=0000000000000000 ") != std::string_view::npos;
    e.pfn = hex_after(line, "pfn=");
    e.order = static_cast<unsigned>(
        std::stoul(word_after(line, kind == "mm_page_alloc_extfrag" ? "alloc_order=" : " order=")));
    if (kind == "mm_page_alloc") e.gfp = word_after(line, "gfp_flags=");
    // The timestamp: the first token ending in ':' that holds a '.' and only digits.
    std::istringstream words{std::string(line)};
    std::string word;
    std::string previous;
    std::string before_ts;
    while (words >> word) {
      if (word.size() > 2 && word.back() == ':' && word.find('.') != std::string::npos &&
          word.find_first_not_of("0123456789.:") == std::string::npos) {
        e.ts = word.substr(0, word.size() - 1);
        before_ts = previous;
        break;
      }
      previous = word;
    }
    if (const std::size_t open = line.find(" ["); open != std::string_view::npos && flags_style != 2) {
      e.cpu = std::stoi(std::string(line.substr(open + 2, 6)));
    } else if (flags_style == 2) {
      e.cpu = std::stoi(before_ts);  // stops at the first flag character
    }
    scan.max_cpu = std::max(scan.max_cpu, e.cpu);
    if (flags_style == 1) {
      const std::size_t close = line.find("] ");
      const std::size_t flags = line.find_first_not_of(' ', close + 1);
      e.ctx = line[flags + 2];
    } else if (flags_style == 2) {
      const std::size_t first_flag = before_ts.find_first_not_of("0123456789");
      e.ctx = before_ts[first_flag + 2];
    }
    scan.events.push_back(std::move(e));
  }
  return scan;
}

// "3370.358702" -> ns, by string manipulation only.
inline std::uint64_t ts_text_to_ns(const std::string& ts) {
  const std::size_t dot = ts.find('.');
  std::string frac = ts.substr(dot + 1);
  frac.resize(9, '0');
  return std::stoull(ts.substr(0, dot)) * 1000000000ULL + std::stoull(frac);
}

inline std::vector<traces::PageEvent> read_events(traces::TraceReader& reader) {
  std::vector<traces::PageEvent> events;
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) events.insert(events.end(), chunk.begin(), chunk.end());
  return events;
}

}  // namespace labyrinth::import_testing
