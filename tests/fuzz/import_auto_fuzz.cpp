// `labyrinth import auto` end to end: binary-file detection, format sniffing, every importer
// (including the text twin), the header rewrite of the second pass and the trace writer.
// A successful import must leave a trace that reads back complete with the reported events.
#include <unistd.h>

#include <cstdint>
#include <span>
#include <string>

#include "fuzz_support.hpp"
#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::traces;
  using namespace labyrinth::traces::import;
  const std::string out = labyrinth::fuzz::scratch_dir() + "/import.trace";
  auto input = InputSource::from_memory(std::string(labyrinth::fuzz::as_text(data, size)), "fuzz");
  ImportOptions options;
  options.writer.overwrite = true;
  options.writer.compression_level = 1;
  ImportReport report;
  try {
    report = import_capture(*input, out, options);
  } catch (const TraceError&) {
    ::unlink(out.c_str());
    return 0;  // rejected with a message: fine
  }
  try {
    TraceReader reader(out);
    std::span<const PageEvent> chunk;
    while (reader.next(chunk)) {
    }
    if (!reader.complete()) labyrinth::fuzz::fail("an import that succeeded wrote a damaged trace");
    if (reader.events_read() != report.events) labyrinth::fuzz::fail("imported trace holds a different event count");
  } catch (const TraceError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    labyrinth::fuzz::fail("an import that succeeded wrote a trace the reader rejects");
  }
  ::unlink(out.c_str());
  return 0;
}
