// The importer of ftrace text (/sys/kernel/tracing/trace and trace_pipe, with its loss markers):
// tokenizer, kmem field parser, GFP string decoder and reorder buffer on arbitrary lines.
#include "import_fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  labyrinth::fuzz::import_bytes(labyrinth::traces::import::CaptureFormat::Ftrace, data, size);
  return 0;
}
