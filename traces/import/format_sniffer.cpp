#include "labyrinth/traces/import/format_sniffer.hpp"

#include <algorithm>

#include "labyrinth/common/text.hpp"

namespace labyrinth::traces::import {
namespace {

using common::trim;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

BinaryFileKind binary_file_kind(std::string_view head) {
  if (head.substr(0, 8) == "PERFILE2" || head.substr(0, 8) == "PERFFILE") return BinaryFileKind::PerfData;
  if (head.size() >= 10 && head[0] == '\x17' && head[1] == '\x08' && head[2] == 'D' && head.substr(3, 7) == "tracing") {
    return BinaryFileKind::TraceCmdDat;
  }
  if (head.substr(0, 8) == "LABYRNTH") return BinaryFileKind::LabyrinthTrace;
  const std::string_view probe = head.substr(0, 4096);
  if (probe.find('\0') != std::string_view::npos) return BinaryFileKind::OtherBinary;
  return BinaryFileKind::Text;
}

std::string_view to_string(BinaryFileKind kind) {
  switch (kind) {
    case BinaryFileKind::Text: return "a text file";
    case BinaryFileKind::PerfData: return "a perf.data file";
    case BinaryFileKind::TraceCmdDat: return "a trace-cmd trace.dat file";
    case BinaryFileKind::LabyrinthTrace: return "a labyrinth trace";
    case BinaryFileKind::OtherBinary: break;
  }
  return "a binary file";
}

std::optional<CaptureFormat> sniff_capture_format(std::string_view head) {
  int ftrace_flags = 0;
  int bracket_plain = 0;
  int latency = 0;
  int perf = 0;
  int text = 0;
  bool tracecmd_header = false;
  bool ftrace_header_seen = false;
  int examined = 0;
  std::size_t pos = 0;
  while (pos < head.size() && examined < 200) {
    std::size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (pos == 0 || head.size() - pos < 256) {
        nl = head.size();
      } else {
        break;
      }
    }
    const std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    const std::string_view s = trim(line);
    if (s.empty()) continue;
    ++examined;
    if (s.substr(0, 15) == "!labyrinth-text" || (s[0] == '!' && examined <= 3)) return CaptureFormat::Text;
    if (s.substr(0, 9) == "# tracer:") ftrace_header_seen = true;
    if (s.substr(0, 5) == "cpus=") tracecmd_header = true;
    if (s[0] == '#') continue;
    TokenizedLine t = tokenize_ftrace_line(line);
    if (t.cls == LineClass::Event) {
      bool has_flags = t.ctx != ExecContext::Unknown;
      (has_flags ? ftrace_flags : bracket_plain)++;
      continue;
    }
    t = tokenize_tracecmd_line(line);
    if (t.cls == LineClass::Event) {
      ++latency;
      continue;
    }
    t = tokenize_perf_script_line(line);
    if (t.cls == LineClass::Event && (!t.system.empty() || t.event.substr(0, 12) == "PERF_RECORD_")) {
      ++perf;
      continue;
    }
    const std::size_t space = s.find(' ');
    if (space != std::string_view::npos && all_digits(s.substr(0, space)) && s.find("pfn=") != std::string_view::npos) {
      ++text;
    }
  }
  if (tracecmd_header) return CaptureFormat::TraceCmd;
  if (ftrace_header_seen) return CaptureFormat::Ftrace;
  const int best = std::max({ftrace_flags, bracket_plain, latency, perf, text});
  if (best == 0) return std::nullopt;
  if (best == perf) return CaptureFormat::PerfScript;
  if (best == ftrace_flags) return CaptureFormat::Ftrace;
  if (best == latency) return CaptureFormat::TraceCmd;
  if (best == bracket_plain) return CaptureFormat::TraceCmd;
  return CaptureFormat::Text;
}

}  // namespace labyrinth::traces::import
