// `labyrinth import`: text captures (ftrace, trace-cmd report, perf script, the text twin) into
// a labyrinth trace. One job per stage: LineReader -> tokenizer -> kmem event parser ->
// EventSorter -> TraceWriter. Nothing is silently dropped: every line ends up counted as an
// event, a header/blank line, a line of another event, a loss marker, or an unparseable line
// (the first few kept with their line numbers).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "labyrinth/traces/event_sorter.hpp"
#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/import/input_source.hpp"
#include "labyrinth/traces/import/kmem_event_parser.hpp"
#include "labyrinth/traces/import/line_tokenizer.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::traces::import {

struct ImportOptions {
  CaptureFormat format = CaptureFormat::Auto;
  GfpTable gfp_table = GfpTable::builtin_linux_6_10();
  GfpTableSource gfp_table_source = GfpTableSource::BuiltIn;
  std::string gfp_table_path;              // recorded in the header options
  WriterOptions writer;                    // overwrite (-f), compression
  std::string tool_version;
  std::uint64_t reorder_window_ns = 100'000'000;  // 100 ms of trace time
  std::size_t reorder_max_events = std::size_t{1} << 20;
  std::size_t bad_lines_kept = 5;
  const std::atomic<bool>* cancel = nullptr;  // set (e.g. by SIGINT) to stop; checked every 4096 lines
};

struct BadLine {
  std::uint64_t line = 0;
  std::string reason;
  std::string text;  // the line, cut at 160 characters
};

struct ImportReport {
  CaptureFormat format = CaptureFormat::Auto;  // the format used (after sniffing)
  std::string input;
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  std::array<std::uint64_t, kEventKindCount> events_by_kind{};
  std::array<std::uint64_t, kExecContextCount> events_by_context{};
  std::uint64_t failures = 0;              // mm_page_alloc with a NULL page
  std::uint64_t header_lines = 0;
  std::uint64_t blank_lines = 0;
  std::uint64_t lost_markers = 0;          // loss lines seen (their counts are in losses.lost_events)
  std::uint64_t lost_markers_without_count = 0;  // "[LOST EVENTS]": counted as 1 each
  std::uint64_t overwritten_events = 0;    // ftrace "entries-written" minus "entries-in-buffer"
  CaptureLosses losses;                    // lost_events, lines_skipped, lines_other_events
  std::vector<BadLine> first_bad_lines;
  std::map<std::string, std::uint64_t> other_events;  // event name -> lines
  std::map<std::string, std::uint64_t> unknown_gfp_names;  // name -> occurrences (first 32 names)
  std::uint64_t events_with_unknown_gfp = 0;
  std::uint64_t reordered = 0;             // fixed by the sorter
  std::uint64_t late = 0;                  // out of order beyond the sorter's window
  std::int32_t declared_cpus = -1;         // what the capture said ("cpus=2", "#P:2")
  std::uint32_t nr_cpus = 0;               // written to the header: max(declared, max cpu + 1)
  std::uint32_t max_order = 10;            // written to the header: max(10, largest order seen)
  std::uint64_t first_ts_ns = 0;
  std::uint64_t last_ts_ns = 0;
  bool header_rewritten = false;           // a second pass fixed nr_cpus / max_order in the header
  std::string output;                      // the trace written
};

// Where parsed events go. The trace writer in `import_capture`; a counter in benchmarks.
class ParsedEventSink {
 public:
  virtual ~ParsedEventSink() = default;
  virtual std::uint32_t intern_comm(std::string_view comm) = 0;
  virtual void append(const PageEvent& event) = 0;
};

// Lines in, events out; no I/O of its own. Feed every line of the capture, then finish().
class EventImporter {
 public:
  EventImporter(CaptureFormat format, const GfpTable& gfp, ParsedEventSink& sink, const ImportOptions& options = {});
  EventImporter(const EventImporter&) = delete;
  EventImporter& operator=(const EventImporter&) = delete;

  void feed(std::string_view line, std::uint64_t line_number, bool overlong = false);
  void finish();
  [[nodiscard]] const ImportReport& report() const { return report_; }

 private:
  struct CommCacheEntry {
    std::string comm;
    std::uint32_t id = 0;
  };
  void skip(std::uint64_t line_number, std::string_view line, std::string_view reason);
  std::uint32_t comm_id(std::uint32_t tid, std::string_view comm);
  void emit(const PageEvent& event);

  CaptureFormat format_;
  GfpDecoder gfp_;
  ParsedEventSink& sink_;
  std::size_t bad_lines_kept_;
  ImportReport report_;
  EventSorter sorter_;
  std::unordered_map<std::uint32_t, CommCacheEntry> comm_cache_;
  std::int32_t max_cpu_ = -1;
  std::uint8_t max_order_ = 0;
};

// Imports `input` into a new trace at `out_path` (written under a temporary name and renamed
// when complete, so a failed import leaves nothing behind; an existing file is replaced only
// with options.writer.overwrite). Throws TraceError: BadInput for input with no kmem page events
// ("<input>: no kmem page events ..."), or for a binary file (perf.data, trace.dat); Io for
// files that cannot be read or written; Io "interrupted" when options.cancel was set. The
// report's `format` says what `Auto` found.
ImportReport import_capture(InputSource& input, const std::string& out_path, const ImportOptions& options);

}  // namespace labyrinth::traces::import
