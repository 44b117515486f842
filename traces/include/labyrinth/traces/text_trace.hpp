// The plain-text twin of the trace file: one event per line, for hand-written test cases
// and for reading a trace with ordinary tools. Converts both ways. See labyrinth-trace(5).
//
//   # comment
//   !page_size 4096                      header directives come first
//   !zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4096 min=128 low=160 high=192
//   !start_free 0x1000+512               start-snapshot free runs (pfn+pages)
//   1000 cpu=0 pid=42 tid=42 comm=bash ctx=task alloc pfn=0x1200 order=0 mt=1 gfp=GFP_KERNEL
//   2000 cpu=1 pid=42 tid=42 comm=bash ctx=softirq free pfn=0x1200 order=0
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "labyrinth/traces/trace_reader.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::traces {

struct TextConvertResult {
  std::uint64_t lines = 0;
  std::uint64_t events = 0;
};

// Parses text from `in` (named `input_name` in errors) and writes a complete trace to
// `out_path`. Throws TraceError with "<input_name>:<line>: ..." on the first bad line; the
// output is then removed, never left looking complete.
TextConvertResult convert_text_to_trace(std::istream& in, const std::string& input_name,
                                        const std::string& out_path, const WriterOptions& options = {});

// Writes the whole trace as text (header directives, snapshots, events, footer).
// Returns the number of events written.
std::uint64_t write_text_trace(TraceReader& reader, std::ostream& out);

// One event as a text line (without newline), and the inverse for a single line.
std::string format_event_line(const PageEvent& event, const TraceReader* names, const GfpTable& gfp);

}  // namespace labyrinth::traces
