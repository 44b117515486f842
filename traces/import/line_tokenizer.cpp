#include "labyrinth/traces/import/line_tokenizer.hpp"
#include "labyrinth/common/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace labyrinth::traces::import {
namespace {

constexpr bool is_space(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ident(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

using common::trim;
using common::trim_left;
using common::trim_right;

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

template <typename T>
bool parse_uint(std::string_view s, T& out) {
  if (!all_digits(s)) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

// A CPU count declared in a capture header ("cpus=2", "#P:2"). Above 65536 (the most a trace
// header may hold, as the cpu field of an event is 16 bits) the line is bad, not a header:
// an import that took it would write a trace that no reader opens.
void declare_cpus(std::string_view digits, TokenizedLine& out) {
  std::int32_t cpus = 0;
  if (!parse_uint(digits, cpus)) return;
  if (cpus > 65536) {
    out.cls = LineClass::Bad;
    out.error = "declared CPU count above 65536";
    return;
  }
  out.declared_cpus = cpus;
}

// The next whitespace-separated token at or after `pos`; empty at the end.
std::string_view next_token(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && is_space(line[pos])) ++pos;
  const std::size_t start = pos;
  while (pos < line.size() && !is_space(line[pos])) ++pos;
  return line.substr(start, pos - start);
}

// "1234.567890:" -> ns. The token must end with ':'.
bool timestamp_token(std::string_view token, std::uint64_t& ts) {
  if (token.size() < 2 || token.back() != ':') return false;
  const auto value = parse_trace_timestamp(token.substr(0, token.size() - 1));
  if (!value) return false;
  ts = *value;
  return true;
}

// An ftrace flags column: 4 to 6 characters. The first is irqs-off/BH-disabled ('d', 'D', 'b',
// 'X' or '.'), never a digit, which is how trace-cmd -l's "1..s2." splits into cpu and flags.
bool flags_token(std::string_view token) {
  if (token.size() < 4 || token.size() > 6) return false;
  if (is_digit(token[0])) return false;
  for (char c : token) {
    if (!(is_ident(c) || c == '.')) return false;
  }
  return true;
}

// The event name token: "mm_page_alloc:" or "kmem:mm_page_alloc:". False if it is not one.
bool event_token(std::string_view token, std::string_view& system, std::string_view& event) {
  if (token.size() < 2 || token.back() != ':') return false;
  token.remove_suffix(1);
  const std::size_t colon = token.find(':');
  if (colon != std::string_view::npos) {
    system = token.substr(0, colon);
    event = token.substr(colon + 1);
  } else {
    system = {};
    event = token;
  }
  if (event.empty()) return false;
  for (char c : system) {
    if (!is_ident(c)) return false;
  }
  for (char c : event) {
    if (!is_ident(c)) return false;
  }
  return true;
}

// After the timestamp: the event name and its fields. A line whose next token is not a name
// followed by ':' is still a line of some other event (function tracer, perf samples); it is
// returned as an Event line named after that token, which the importer counts as "other".
void parse_event_part(std::string_view line, std::size_t pos, TokenizedLine& out) {
  std::size_t after = pos;
  std::string_view token = next_token(line, after);
  if (!event_token(token, out.system, out.event)) {
    out.system = {};
    out.event = token.empty() ? std::string_view("(empty)") : token;
    out.fields = trim(line.substr(after));
    return;
  }
  out.fields = trim(line.substr(after));
}

// "COMM-PID" ending at `end` (exclusive, trailing spaces already removed): splits off the pid.
bool split_comm_dash_pid(std::string_view left, std::string_view& comm, std::uint32_t& pid) {
  const std::size_t dash = left.rfind('-');
  if (dash == std::string_view::npos || dash + 1 >= left.size()) return false;
  if (!parse_uint(left.substr(dash + 1), pid)) return false;
  comm = trim_left(left.substr(0, dash));
  if (comm == "<...>") comm = {};
  return true;
}

// Loss markers of ftrace and trace-cmd: "CPU:1 [LOST 172 EVENTS]", "CPU:1 [LOST EVENTS]",
// "CPU:1 [172 EVENTS DROPPED]", "CPU:1 [EVENTS DROPPED]".
bool cpu_loss_marker(std::string_view line, TokenizedLine& out) {
  std::string_view s = trim(line);
  if (s.substr(0, 4) != "CPU:") return false;
  s.remove_prefix(4);
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == 0 || !parse_uint(s.substr(0, i), out.cpu)) return false;
  s = trim_left(s.substr(i));
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  s = trim(s.substr(1, s.size() - 2));
  std::string_view count;
  if (s.substr(0, 5) == "LOST " && s.size() >= 11 && s.substr(s.size() - 6) == "EVENTS") {
    count = trim(s.substr(5, s.size() - 11));
  } else if (s == "LOST EVENTS") {
  } else if (s.size() >= 14 && s.substr(s.size() - 14) == "EVENTS DROPPED") {
    count = trim(s.substr(0, s.size() - 14));
  } else {
    return false;
  }
  out.cls = LineClass::Lost;
  if (!count.empty()) {
    if (!parse_uint(count, out.lost)) return false;
    out.lost_count_known = true;
  }
  return true;
}

// ftrace '#' header lines: "#P:2" in the entries line, and lost-by-overwrite counts.
void ftrace_header(std::string_view line, TokenizedLine& out) {
  out.cls = LineClass::Header;
  const std::size_t entries = line.find("entries-in-buffer/entries-written:");
  if (entries != std::string_view::npos) {
    std::size_t pos = entries + std::strlen("entries-in-buffer/entries-written:");
    const std::string_view pair = next_token(line, pos);
    const std::size_t slash = pair.find('/');
    std::uint64_t in_buffer = 0;
    std::uint64_t written = 0;
    if (slash != std::string_view::npos && parse_uint(pair.substr(0, slash), in_buffer) &&
        parse_uint(pair.substr(slash + 1), written) && written > in_buffer) {
      out.overwritten = written - in_buffer;
    }
  }
  const std::size_t p = line.find("#P:");
  if (p != std::string_view::npos) {
    std::size_t end = p + 3;
    while (end < line.size() && is_digit(line[end])) ++end;
    declare_cpus(line.substr(p + 3, end - p - 3), out);
  }
}

bool blank(std::string_view line) { return trim(line).empty(); }

// The shape shared by ftrace and trace-cmd's default report:
//   COMM-PID [(TGID)] [CPU] [FLAGS] SECONDS.FRACTION: EVENT: FIELDS
// Tried at every "[digits]" from the left until one has a valid left and right side.
bool tokenize_bracket_shape(std::string_view line, TokenizedLine& out, const char*& why) {
  std::size_t search = 0;
  while (true) {
    const std::size_t open = line.find('[', search);
    if (open == std::string_view::npos) return false;
    search = open + 1;
    std::size_t close = open + 1;
    while (close < line.size() && is_digit(line[close])) ++close;
    if (close == open + 1 || close >= line.size() || line[close] != ']') continue;
    std::int32_t cpu = 0;
    if (!parse_uint(line.substr(open + 1, close - open - 1), cpu)) continue;

    // Left side: COMM-PID, optionally followed by the record-tgid column "(  123)" / "(-------)".
    std::string_view left = trim_right(line.substr(0, open));
    std::uint32_t tgid = 0;
    if (!left.empty() && left.back() == ')') {
      const std::size_t paren = left.rfind('(');
      if (paren == std::string_view::npos) continue;
      const std::string_view inner = trim(left.substr(paren + 1, left.size() - paren - 2));
      if (!parse_uint(inner, tgid) && inner.find_first_not_of('-') != std::string_view::npos) continue;
      left = trim_right(left.substr(0, paren));
    }
    std::string_view comm;
    std::uint32_t pid = 0;
    if (!split_comm_dash_pid(left, comm, pid)) {
      why = "no COMM-PID before the [cpu] field";
      continue;
    }

    // Right side: [FLAGS] TIMESTAMP: EVENT:
    std::size_t pos = close + 1;
    std::string_view token = next_token(line, pos);
    std::string_view flags;
    std::uint64_t ts = 0;
    if (!timestamp_token(token, ts)) {
      if (!flags_token(token)) {
        why = "neither a flags column nor a timestamp after the [cpu] field";
        continue;
      }
      flags = token;
      token = next_token(line, pos);
      if (!timestamp_token(token, ts)) {
        why = "no timestamp after the flags column";
        continue;
      }
    }
    out.cls = LineClass::Event;
    out.comm = comm;
    out.tid = pid;
    out.tgid = tgid;
    out.cpu = cpu;
    out.ts_ns = ts;
    out.ctx = flags.empty() ? ExecContext::Unknown : context_from_flags(flags);
    parse_event_part(line, pos, out);
    return true;
  }
}

// trace-cmd report -l:  COMM-PID  CPUFLAGS  SECONDS.FRACTION: EVENT: FIELDS   ("ping-5679  1..s2.")
bool tokenize_latency_shape(std::string_view line, TokenizedLine& out) {
  constexpr std::size_t kMaxTokens = 12;
  std::array<std::string_view, kMaxTokens> tokens{};
  std::array<std::size_t, kMaxTokens> ends{};
  std::size_t n = 0;
  std::size_t pos = 0;
  while (n < kMaxTokens) {
    const std::string_view token = next_token(line, pos);
    if (token.empty()) break;
    tokens[n] = token;
    ends[n] = pos;
    ++n;
  }
  for (std::size_t i = 2; i < n; ++i) {
    std::uint64_t ts = 0;
    if (!timestamp_token(tokens[i], ts)) continue;
    const std::string_view cpu_flags = tokens[i - 1];
    std::size_t digits = 0;
    while (digits < cpu_flags.size() && is_digit(cpu_flags[digits])) ++digits;
    if (digits == 0 || !flags_token(cpu_flags.substr(digits))) continue;
    std::int32_t cpu = 0;
    if (!parse_uint(cpu_flags.substr(0, digits), cpu)) continue;
    std::string_view comm;
    std::uint32_t pid = 0;
    const std::string_view left = trim_right(line.substr(0, ends[i - 2]));
    if (!split_comm_dash_pid(left, comm, pid)) continue;
    out.cls = LineClass::Event;
    out.comm = comm;
    out.tid = pid;
    out.cpu = cpu;
    out.ts_ns = ts;
    out.ctx = context_from_flags(cpu_flags.substr(digits));
    parse_event_part(line, ends[i], out);
    return true;
  }
  return false;
}

// perf's "PERF_RECORD_LOST lost 21" / "PERF_RECORD_LOST_SAMPLES lost 4" after the sample prefix,
// or anywhere in a line without one.
bool perf_lost(std::string_view text, TokenizedLine& out) {
  const std::size_t at = text.find("PERF_RECORD_LOST");
  if (at == std::string_view::npos) return false;
  const std::size_t lost = text.find("lost", at + 16);
  out.cls = LineClass::Lost;
  if (lost != std::string_view::npos) {
    std::size_t pos = lost + 4;
    const std::string_view count = next_token(text, pos);
    if (parse_uint(count, out.lost)) out.lost_count_known = true;
  }
  return true;
}

// perf's end-of-run warning, if stderr was captured too: "Processed 76297 events and lost 27 chunks!"
bool perf_lost_chunks(std::string_view line, TokenizedLine& out) {
  const std::string_view s = trim(line);
  if (s.substr(0, 10) != "Processed ") return false;
  const std::size_t lost = s.find(" and lost ");
  if (lost == std::string_view::npos || s.find(" chunks!") == std::string_view::npos) return false;
  std::size_t pos = lost + 10;
  const std::string_view count = next_token(s, pos);
  out.cls = LineClass::Lost;
  out.lost_count_known = false;  // chunks, each of at least one event
  return parse_uint(count, out.lost);
}

// perf script:  COMM  PID[/TID]  [CPU]  SECONDS.FRACTION:  [PERIOD]  SYSTEM:EVENT:  FIELDS
bool perf_after_prefix(std::string_view line, std::size_t pos, TokenizedLine& out) {
  std::size_t after = pos;
  std::string_view token = next_token(line, after);
  if (token.substr(0, 16) == "PERF_RECORD_LOST") return perf_lost(line.substr(pos), out);
  if (token.substr(0, 12) == "PERF_RECORD_") {  // COMM, FORK, EXIT, MMAP ... with --show-*-events
    out.cls = LineClass::Event;
    out.event = token.back() == ':' ? token.substr(0, token.size() - 1) : token;
    out.fields = trim(line.substr(after));
    return true;
  }
  if (all_digits(token)) pos = after;  // the sample period of a non-tracepoint event
  out.cls = LineClass::Event;
  parse_event_part(line, pos, out);
  return true;
}

bool split_perf_pid(std::string_view left, std::string_view& comm, std::uint32_t& pid, std::uint32_t& tid) {
  left = trim_right(left);
  std::size_t start = left.size();
  while (start > 0 && !is_space(left[start - 1])) --start;
  const std::string_view ids = left.substr(start);
  const std::size_t slash = ids.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_uint(ids.substr(0, slash), pid) || !parse_uint(ids.substr(slash + 1), tid)) return false;
  } else {
    if (!parse_uint(ids, tid)) return false;
    pid = 0;
  }
  comm = trim(left.substr(0, start));
  if (comm.size() > 1 && comm[0] == ':' && all_digits(comm.substr(1))) comm = {};  // perf's ":1234"
  return true;
}

bool tokenize_perf_event(std::string_view line, TokenizedLine& out) {
  // With a [cpu] column (system-wide recordings).
  std::size_t search = 0;
  while (true) {
    const std::size_t open = line.find('[', search);
    if (open == std::string_view::npos) break;
    search = open + 1;
    std::size_t close = open + 1;
    while (close < line.size() && is_digit(line[close])) ++close;
    if (close == open + 1 || close >= line.size() || line[close] != ']') continue;
    std::int32_t cpu = 0;
    if (!parse_uint(line.substr(open + 1, close - open - 1), cpu)) continue;
    std::string_view comm;
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;
    if (!split_perf_pid(line.substr(0, open), comm, pid, tid)) continue;
    std::size_t pos = close + 1;
    std::uint64_t ts = 0;
    if (!timestamp_token(next_token(line, pos), ts)) continue;
    out.comm = comm;
    out.tid = tid;
    out.tgid = pid;
    out.cpu = cpu;
    out.ts_ns = ts;
    return perf_after_prefix(line, pos, out);
  }
  // Without one (per-task recordings): COMM PID[/TID] SECONDS.FRACTION: ...
  std::size_t pos = 0;
  std::size_t prev_end = 0;
  for (int i = 0; i < 12; ++i) {
    const std::size_t before = pos;
    const std::string_view token = next_token(line, pos);
    if (token.empty()) break;
    std::uint64_t ts = 0;
    if (i >= 1 && timestamp_token(token, ts)) {
      std::string_view comm;
      std::uint32_t pid = 0;
      std::uint32_t tid = 0;
      if (!split_perf_pid(line.substr(0, prev_end), comm, pid, tid)) return false;
      out.comm = comm;
      out.tid = tid;
      out.tgid = pid;
      out.cpu = -1;
      out.ts_ns = ts;
      return perf_after_prefix(line, pos, out);
    }
    (void)before;
    prev_end = pos;
  }
  return false;
}

}  // namespace

std::string_view to_string(CaptureFormat format) {
  switch (format) {
    case CaptureFormat::Ftrace: return "ftrace";
    case CaptureFormat::TraceCmd: return "trace-cmd";
    case CaptureFormat::PerfScript: return "perf-script";
    case CaptureFormat::Text: return "text";
    case CaptureFormat::Auto: return "auto";
  }
  return "unknown";
}

std::optional<CaptureFormat> parse_capture_format(std::string_view name) {
  if (name == "ftrace" || name == "trace_pipe" || name == "trace-pipe") return CaptureFormat::Ftrace;
  if (name == "trace-cmd" || name == "tracecmd" || name == "trace-cmd-report") return CaptureFormat::TraceCmd;
  if (name == "perf-script" || name == "perf" || name == "perf_script") return CaptureFormat::PerfScript;
  if (name == "text") return CaptureFormat::Text;
  if (name == "auto") return CaptureFormat::Auto;
  return std::nullopt;
}

std::string_view capture_format_names() { return "ftrace, trace-cmd, perf-script, text, auto"; }

std::optional<std::uint64_t> parse_trace_timestamp(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) {
    std::uint64_t raw = 0;
    if (!parse_uint(text, raw)) return std::nullopt;
    return raw;
  }
  const std::string_view secs = text.substr(0, dot);
  const std::string_view frac = text.substr(dot + 1);
  if (frac.empty() || frac.size() > 9 || secs.size() > 10) return std::nullopt;
  std::uint64_t s = 0;
  std::uint64_t f = 0;
  if (!parse_uint(secs, s) || !parse_uint(frac, f)) return std::nullopt;
  for (std::size_t i = frac.size(); i < 9; ++i) f *= 10;
  return s * 1'000'000'000ULL + f;
}

ExecContext context_from_flags(std::string_view flags) {
  if (flags.size() < 3) return ExecContext::Unknown;
  switch (flags[2]) {
    case '.': return ExecContext::Task;
    case 's': return ExecContext::Softirq;
    case 'h':
    case 'H': return ExecContext::Hardirq;
    case 'z':
    case 'Z': return ExecContext::Nmi;
    default: return ExecContext::Unknown;
  }
}

TokenizedLine tokenize_ftrace_line(std::string_view line) {
  TokenizedLine out;
  if (blank(line)) {
    out.cls = LineClass::Blank;
    return out;
  }
  const std::string_view s = trim_left(line);
  if (s.front() == '#') {
    ftrace_header(s, out);
    return out;
  }
  if (cpu_loss_marker(s, out)) return out;
  out = TokenizedLine{};
  const char* why = "no [cpu] field";
  if (tokenize_bracket_shape(line, out, why)) return out;
  out = TokenizedLine{};
  out.error = why;
  return out;
}

TokenizedLine tokenize_tracecmd_line(std::string_view line) {
  TokenizedLine out;
  if (blank(line)) {
    out.cls = LineClass::Blank;
    return out;
  }
  const std::string_view s = trim(line);
  if (s.front() == '#') {
    ftrace_header(s, out);
    return out;
  }
  if (s.substr(0, 5) == "cpus=") {
    out.cls = LineClass::Header;
    declare_cpus(s.substr(5), out);
    return out;
  }
  if (s.substr(0, 7) == "version" || (s.substr(0, 4) == "CPU " && s.find(" is empty") != std::string_view::npos)) {
    out.cls = LineClass::Header;
    return out;
  }
  if (cpu_loss_marker(s, out)) return out;
  out = TokenizedLine{};
  const char* why = "no [cpu] field and no cpu+flags column";
  if (tokenize_bracket_shape(line, out, why)) return out;
  out = TokenizedLine{};
  if (tokenize_latency_shape(line, out)) return out;
  out = TokenizedLine{};
  out.error = why;
  return out;
}

TokenizedLine tokenize_perf_script_line(std::string_view line) {
  TokenizedLine out;
  if (blank(line)) {
    out.cls = LineClass::Blank;
    return out;
  }
  const std::string_view s = trim(line);
  if (s.front() == '#') {
    out.cls = LineClass::Header;
    for (const std::string_view key : {std::string_view("# nrcpus avail"), std::string_view("# nrcpus online")}) {
      if (s.substr(0, key.size()) == key) {
        const std::size_t colon = s.find(':');
        if (colon != std::string_view::npos) declare_cpus(trim(s.substr(colon + 1)), out);
      }
    }
    return out;
  }
  if (tokenize_perf_event(line, out)) return out;
  out = TokenizedLine{};
  if (perf_lost(s, out) || perf_lost_chunks(s, out)) return out;
  out = TokenizedLine{};
  out.error = "not a perf script sample line (COMM PID [CPU] TIME: EVENT: FIELDS)";
  return out;
}

TokenizedLine tokenize_line(CaptureFormat format, std::string_view line) {
  switch (format) {
    case CaptureFormat::TraceCmd: return tokenize_tracecmd_line(line);
    case CaptureFormat::PerfScript: return tokenize_perf_script_line(line);
    case CaptureFormat::Ftrace:
    case CaptureFormat::Text:
    case CaptureFormat::Auto: break;
  }
  return tokenize_ftrace_line(line);
}

}  // namespace labyrinth::traces::import
