// The snapshot, process-name and stack block decoders behind the checksum. The first byte
// picks the decoder (0-2 mod 3), the next four are the block's count (comms, stacks), the
// rest is the block payload. A decoded snapshot must survive encode -> decode unchanged.
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>

#include "fuzz_support.hpp"
#include "snapshot_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::traces;
  if (size < 5) return 0;
  const unsigned which = data[0] % 3u;
  std::uint32_t count = 0;
  std::memcpy(&count, data + 1, 4);
  const unsigned char* payload = data + 5;
  const std::size_t n = size - 5;
  std::string error;
  switch (which) {
    case 0: {
      Snapshot snap;
      if (!decode_snapshot(payload, n, snap, error)) return 0;
      std::string encoded;
      encode_snapshot(snap, encoded);
      Snapshot again;
      if (!decode_snapshot(reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size(), again, error)) {
        labyrinth::fuzz::fail("re-encoded snapshot does not decode");
      }
      if (again != snap) labyrinth::fuzz::fail("snapshot round trip changed it");
      break;
    }
    case 1: {
      std::unordered_map<std::uint32_t, std::string> comms;
      (void)decode_comms(payload, n, count, comms, error);
      break;
    }
    default: {
      std::unordered_map<std::uint32_t, StackTrace> stacks;
      (void)decode_stacks(payload, n, count, stacks, error);
      break;
    }
  }
  return 0;
}
