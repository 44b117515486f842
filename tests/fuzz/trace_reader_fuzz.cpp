// The binary trace reader on arbitrary bytes: file header, block framing, checksums, zstd,
// the JSON header and footer, and every block decoder it reaches, then `labyrinth script`'s
// text writer on whatever was read. Random mutations rarely survive the CRC-32C of a block,
// so each input is read twice: as given, and with every block checksum recomputed, which
// lets mutations inside payloads reach the decoders. Each of the two is read inline and in both
// read-ahead modes, which must agree.
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

// Everything a reader gave: the script text, and how it ended.
std::string read_all(const std::string& bytes, TraceReader::ReadAhead read_ahead) {
  try {
    TraceReader reader(labyrinth::fuzz::bytes_as_file(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                                       bytes.size()));
    reader.set_read_ahead(read_ahead);
    std::ostringstream text;
    const std::uint64_t written = write_text_trace(reader, text);
    if (written != reader.events_read()) labyrinth::fuzz::fail("script wrote a different number of events");
    if (reader.complete() && reader.damage().any()) labyrinth::fuzz::fail("complete trace reports damage");
    return text.str() + "\n" + reader.damage().message;
  } catch (const TraceError& e) {
    // A clear, named error is the expected outcome for most inputs.
    return std::string("error: ") + e.what();
  }
}

// The read-ahead thread must see exactly what a read on one thread sees.
void read_both_ways(const std::string& bytes) {
  const std::string inline_read = read_all(bytes, TraceReader::ReadAhead::Off);
  if (read_all(bytes, TraceReader::ReadAhead::Blocks) != inline_read ||
      read_all(bytes, TraceReader::ReadAhead::Events) != inline_read) {
    labyrinth::fuzz::fail("read-ahead read differs from inline read");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  read_both_ways(bytes);
  if (size >= format::kFileHeaderSize && fix_checksums(bytes)) read_both_ways(bytes);
  return 0;
}
