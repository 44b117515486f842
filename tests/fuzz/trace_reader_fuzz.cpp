// The binary trace reader on arbitrary bytes: file header, block framing, checksums, zstd,
// the JSON header and footer, and every block decoder it reaches, then `labyrinth script`'s
// text writer on whatever was read. Random mutations rarely survive the CRC-32C of a block,
// so each input is read twice: as given, and with every block checksum recomputed, which
// lets mutations inside payloads reach the decoders.
#include <cstdint>
#include <cstring>
#include <span>
#include <sstream>
#include <string>

#include "block_format.hpp"
#include "crc32c.hpp"
#include "fuzz_support.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace {

using namespace labyrinth::traces;

// Walks the blocks and rewrites both checksums of each one that fits in the input.
// Returns false when nothing changed (the second read would repeat the first).
bool fix_checksums(std::string& bytes) {
  bool changed = false;
  std::size_t off = format::kFileHeaderSize;
  while (off <= bytes.size() && bytes.size() - off >= format::kBlockHeaderSize) {
    format::BlockHeader h{};
    std::memcpy(&h, bytes.data() + off, sizeof h);
    const std::size_t payload = off + format::kBlockHeaderSize;
    if (h.stored_size > bytes.size() - payload) break;
    const std::uint32_t payload_crc = crc32c(bytes.data() + payload, static_cast<std::size_t>(h.stored_size));
    changed = changed || payload_crc != h.payload_crc;
    h.payload_crc = payload_crc;
    const std::uint32_t header_crc = crc32c(&h, format::kBlockHeaderSize - 4);
    changed = changed || header_crc != h.header_crc;
    h.header_crc = header_crc;
    std::memcpy(bytes.data() + off, &h, sizeof h);
    off = payload + static_cast<std::size_t>(h.stored_size);
  }
  return changed;
}

void read_all(const std::string& bytes) {
  try {
    TraceReader reader(labyrinth::fuzz::bytes_as_file(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                                       bytes.size()));
    std::ostringstream text;
    const std::uint64_t written = write_text_trace(reader, text);
    if (written != reader.events_read()) labyrinth::fuzz::fail("script wrote a different number of events");
    if (reader.complete() && reader.damage().any()) labyrinth::fuzz::fail("complete trace reports damage");
  } catch (const TraceError&) {
    // A clear, named error is the expected outcome for most inputs.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  read_all(bytes);
  if (size >= format::kFileHeaderSize && fix_checksums(bytes)) read_all(bytes);
  return 0;
}
