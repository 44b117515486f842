// The event-column decoder behind the checksum (what an events block holds after zstd):
// input = u32 event count (little-endian) + block payload. A decoded chunk must survive
// encode -> decode unchanged.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "block_format.hpp"
#include "event_codec.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::traces;
  if (size < 4) return 0;
  std::uint32_t count = 0;
  std::memcpy(&count, data, 4);
  if (count > format::kMaxChunkEvents) return 0;  // the reader rejects these before decoding
  std::vector<PageEvent> events;
  std::string error;
  if (!decode_events(data + 4, size - 4, count, events, error)) {
    if (error.empty()) labyrinth::fuzz::fail("decode failed without a reason");
    return 0;
  }
  if (events.size() != count) labyrinth::fuzz::fail("decoded a different number of events");
  std::string encoded;
  encode_events(events, encoded);
  std::vector<PageEvent> again;
  if (!decode_events(reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size(), count, again, error)) {
    labyrinth::fuzz::fail("re-encoded chunk does not decode");
  }
  if (again != events) labyrinth::fuzz::fail("encode/decode round trip changed the events");
  return 0;
}
