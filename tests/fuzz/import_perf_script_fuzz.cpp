// The importer of perf script text (default fields, --ns, PERF_RECORD_LOST lines):
// tokenizer, kmem field parser, GFP string decoder and reorder buffer on arbitrary lines.
#include "import_fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  labyrinth::fuzz::import_bytes(labyrinth::traces::import::CaptureFormat::PerfScript, data, size);
  return 0;
}
