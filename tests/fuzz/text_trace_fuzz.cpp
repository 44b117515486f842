// The text twin parser (`labyrinth import text`, the format `labyrinth script` prints):
// directives, zones, snapshots, stacks, escapes and event lines, then the same trace read
// back and printed as text again.
#include <unistd.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_support.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::traces;
  const std::string out = labyrinth::fuzz::scratch_dir() + "/text.trace";
  std::istringstream in{std::string(labyrinth::fuzz::as_text(data, size))};
  WriterOptions options;
  options.overwrite = true;
  options.compression_level = 1;
  try {
    const TextConvertResult converted = convert_text_to_trace(in, "fuzz", out, options);
    TraceReader reader(out);
    std::ostringstream text;
    const std::uint64_t written = write_text_trace(reader, text);
    if (reader.complete() && written != converted.events) {
      labyrinth::fuzz::fail("the trace holds a different number of events than the text");
    }
  } catch (const TraceError&) {
    // A bad line, or a header the reader refuses: both are named errors.
  }
  ::unlink(out.c_str());
  return 0;
}
