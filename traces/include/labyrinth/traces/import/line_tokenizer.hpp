// Stage 1 of an import: cheap framing of one text line of a capture (Perfetto's tokenizer role).
// A tokenizer finds who/where/when (comm, pid, cpu, timestamp, context) and the event name, and
// leaves the event's fields to the event parser. Comm may contain spaces, dashes and colons, so
// every tokenizer parses outward from the [cpu] field (or trace-cmd -l's cpu+flags column).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces::import {

enum class CaptureFormat : std::uint8_t {
  Ftrace,      // /sys/kernel/tracing/trace and trace_pipe
  TraceCmd,    // trace-cmd report (default, -l latency columns, -t nanoseconds)
  PerfScript,  // perf script (default fields, --ns, --show-lost-events)
  Text,        // labyrinth's own text twin (see text_trace.hpp)
  Auto,        // sniff one of the above from the first lines
};
std::string_view to_string(CaptureFormat format);
// "ftrace", "trace-cmd", "perf-script", "text", "auto" (plus the aliases "trace_pipe",
// "tracecmd", "perf"); nullopt if unknown.
std::optional<CaptureFormat> parse_capture_format(std::string_view name);
// The names accepted by parse_capture_format, for messages.
std::string_view capture_format_names();

enum class LineClass : std::uint8_t {
  Event,   // an event line: the fields below are set
  Lost,    // a loss marker: "CPU:1 [LOST 172 EVENTS]", "[EVENTS DROPPED]", PERF_RECORD_LOST
  Header,  // a comment or header line ("# tracer: nop", "cpus=2", "version = 6")
  Blank,   // empty or whitespace only
  Bad,     // none of the above; `error` says why
};

struct TokenizedLine {
  LineClass cls = LineClass::Bad;
  std::string_view comm;      // "" when the capture did not know it ("<...>")
  std::uint32_t tid = 0;      // the thread printed with the comm
  std::uint32_t tgid = 0;     // 0 unless the capture printed it (ftrace record-tgid, perf pid/tid)
  std::int32_t cpu = -1;      // -1 when the capture has no cpu column
  std::uint64_t ts_ns = 0;
  ExecContext ctx = ExecContext::Unknown;
  std::string_view system;    // "kmem" when printed ("kmem:mm_page_alloc"), else ""
  std::string_view event;     // "mm_page_alloc", "print", "tracing_mark_write", ...
  std::string_view fields;    // the rest of the line after "event: "
  // Lost lines:
  std::uint64_t lost = 0;     // events lost (0 with lost_count_known = false when not printed)
  bool lost_count_known = false;
  // Header lines:
  std::int32_t declared_cpus = -1;      // "cpus=2", "#P:2", "# nrcpus avail : 2"
  std::uint64_t overwritten = 0;        // "entries-in-buffer/entries-written: 10/25" -> 15
  const char* error = nullptr;          // Bad lines: a short reason
};

// A timestamp as printed by the tracers: "3370.358702" (µs), "3370.358702123" (ns), any number of
// fraction digits up to 9, or a plain integer (raw clocks such as "counter"). Converted exactly,
// without floating point. nullopt if malformed or out of range.
std::optional<std::uint64_t> parse_trace_timestamp(std::string_view text);

// The context from the ftrace flags column ("d.s1.", "..s2.", "dNh2."): its third character is
// 's' softirq, 'h' hardirq, 'H' hardirq inside softirq (-> Hardirq), 'z'/'Z' NMI, '.' task.
// Unknown for anything else.
ExecContext context_from_flags(std::string_view flags);

TokenizedLine tokenize_ftrace_line(std::string_view line);    // also trace-cmd's default shape
TokenizedLine tokenize_tracecmd_line(std::string_view line);  // default, -l and -t shapes
TokenizedLine tokenize_perf_script_line(std::string_view line);
TokenizedLine tokenize_line(CaptureFormat format, std::string_view line);

}  // namespace labyrinth::traces::import
