// The importer pipeline of one capture format without any file I/O: bytes -> LineReader ->
// tokenizer -> kmem event parser -> reorder buffer -> a sink that checks what comes out.
#pragma once

#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth::fuzz {

class CheckingSink : public traces::import::ParsedEventSink {
 public:
  std::uint32_t intern_comm(std::string_view comm) override {
    if (comm.empty()) fail("an empty comm was interned (it should be the unknown id)");
    return ++comms_;
  }
  void append(const traces::PageEvent& e) override {
    if (static_cast<int>(e.kind) >= traces::kEventKindCount) fail("event kind out of range");
    if (static_cast<int>(e.ctx) >= traces::kExecContextCount) fail("context out of range");
    ++events_;
  }
  std::uint64_t events_ = 0;
  std::uint32_t comms_ = 0;
};

inline void import_bytes(traces::import::CaptureFormat format, const std::uint8_t* data, std::size_t size) {
  using namespace traces::import;
  auto input = InputSource::from_memory(std::string(as_text(data, size)), "fuzz");
  // A small line limit so that the overlong-line path is reachable with small inputs.
  LineReader lines(*input, 4096);
  CheckingSink sink;
  ImportOptions options;
  options.reorder_max_events = 64;  // small, so that the sorter's overflow path is reached too
  EventImporter importer(format, options.gfp_table, sink, options);
  try {
    std::string_view line;
    while (lines.next(line)) importer.feed(line, lines.line_number(), lines.overlong());
  } catch (const traces::TraceError&) {
    return;  // a damaged zstd stream
  }
  importer.finish();
  const ImportReport& r = importer.report();
  if (r.events != sink.events_) fail("report and sink disagree on the event count");
  if (r.lines != lines.line_number()) fail("report and reader disagree on the line count");
  if (r.max_order > static_cast<std::uint32_t>(traces::kMaxSupportedOrder)) {
    fail("import would write a max_order the reader rejects");
  }
  if (r.nr_cpus > 65536) fail("import would write an nr_cpus the reader rejects");
}

}  // namespace labyrinth::fuzz
