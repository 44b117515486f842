#include "labyrinth/traces/trace_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "block_format.hpp"
#include "crc32c.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/metadata_json.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "snapshot_codec.hpp"

namespace labyrinth::traces {
namespace {

enum class BlockStatus { Ok, End, Damaged };

constexpr std::uint64_t kMaxZstdRatio = 128 * 1024 / 4;  // ZSTD_BLOCKSIZE_MAX from a 4-byte RLE block
// Every encoded event takes at least 2 tag bytes and one varint byte in each of the ts, cpu,
// pid, tid and comm columns (event_codec.cpp), after a 44-byte column table.
constexpr std::uint64_t kMinEventBytes = 7;
constexpr std::uint64_t kEventsTableBytes = 44;

std::string at(const std::string& path, std::uint64_t offset) {
  return path + ": offset " + std::to_string(offset) + ": ";
}

// Rejects header values no real kernel has, before anything is sized from them.
void validate_header(const TraceHeader& h, const std::string& where) {
  auto bad = [&](const std::string& what) { throw TraceError(TraceError::Kind::Corrupt, where + what); };
  if (h.page_size < 1024 || h.page_size > (1u << 20) || (h.page_size & (h.page_size - 1)) != 0) {
    bad("header page_size " + std::to_string(h.page_size) + " is not a plausible page size");
  }
  if (h.max_order > static_cast<std::uint32_t>(kMaxSupportedOrder)) {
    bad("header max_order " + std::to_string(h.max_order) + " is above " + std::to_string(kMaxSupportedOrder));
  }
  if (h.pageblock_order > h.max_order) bad("header pageblock_order is above max_order");
  if (h.nr_cpus > 65536) bad("header nr_cpus " + std::to_string(h.nr_cpus) + " is absurd");
  if (h.zones.size() > 1024) bad("header lists more than 1024 zones");
  if (h.migratetype_names.size() > 15) bad("header lists more than 15 migratetypes");
}

}  // namespace

struct TraceReader::Impl {
  std::string path;
  int fd = -1;
  std::uint64_t file_size = 0;
  std::uint64_t offset = 0;
  TraceHeader header;
  Snapshot start;
  Snapshot end;
  TraceFooter footer;
  ReadDamage damage;
  bool done = false;
  std::uint64_t events_read = 0;
  std::uint64_t chunks_read = 0;
  std::unordered_map<std::uint32_t, std::string> comms;
  std::unordered_map<std::uint32_t, StackTrace> stacks;
  std::vector<PageEvent> events;
  EventDecoder decoder;
  std::size_t batch_events = 0;  // 0: a whole chunk per next()

  std::span<const PageEvent> next_batch() {
    const std::size_t n = batch_events == 0 ? decoder.remaining() : std::min<std::size_t>(batch_events, decoder.remaining());
    if (events.size() < n) events.resize(n);
    decoder.decode(events.data(), n);
    events_read += n;
    return {events.data(), n};
  }
  std::vector<unsigned char> stored;
  std::vector<unsigned char> raw;
  ZSTD_DCtx* dctx = nullptr;
  format::BlockHeader block{};
  std::uint64_t block_offset = 0;
  std::uint64_t end_offset = 0;  // of the end snapshot block, once found

  ~Impl() {
    if (dctx != nullptr) ZSTD_freeDCtx(dctx);
    if (fd >= 0) ::close(fd);
  }

  // Reads exactly size bytes at offset; returns the number read (short at end of file).
  std::size_t read_at(void* buffer, std::size_t size, std::uint64_t at_offset) {
    std::size_t done_bytes = 0;
    auto* p = static_cast<char*>(buffer);
    while (done_bytes < size) {
      const ssize_t n = ::pread(fd, p + done_bytes, size - done_bytes, static_cast<off_t>(at_offset + done_bytes));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw TraceError(TraceError::Kind::Io, at(path, at_offset) + "read failed: " + std::strerror(errno));
      }
      if (n == 0) break;
      done_bytes += static_cast<std::size_t>(n);
    }
    return done_bytes;
  }

  void mark(bool truncated, bool checksum, const std::string& message) {
    damage.truncated = damage.truncated || truncated;
    damage.checksum_mismatch = damage.checksum_mismatch || checksum;
    damage.corrupt = damage.corrupt || (!truncated && !checksum);
    damage.offset = block_offset;
    damage.message = at(path, block_offset) + message;
    done = true;
  }

  // A block's header at `at` and its payload, checksummed and decompressed into `out`,
  // without touching the streaming state. Returns "" or what is wrong; *truncated and
  // *checksum say which kind of damage it is.
  struct Problem {
    std::string message;
    bool truncated = false;
    bool checksum = false;
  };
  std::optional<Problem> load_header(std::uint64_t at, format::BlockHeader& h) {
    if (file_size - at < format::kBlockHeaderSize) return Problem{"the file ends inside a block header (truncated)", true};
    read_at(&h, sizeof h, at);
    if (h.tag != format::kBlockTag) return Problem{"no block starts here (bad block tag)"};
    if (crc32c(&h, format::kBlockHeaderSize - 4) != h.header_crc) return Problem{"block header checksum mismatch", false, true};
    if (h.stored_size > format::kMaxStoredSize || h.raw_size > format::kMaxRawSize) {
      return Problem{"block size is out of range"};
    }
    if (file_size - at - format::kBlockHeaderSize < h.stored_size) {
      return Problem{"the file ends inside a block (truncated)", true};
    }
    return std::nullopt;
  }
  std::optional<Problem> load_payload(std::uint64_t at, const format::BlockHeader& h, std::vector<unsigned char>& out) {
    stored.resize(static_cast<std::size_t>(h.stored_size));
    read_at(stored.data(), stored.size(), at + format::kBlockHeaderSize);
    if (crc32c(stored.data(), stored.size()) != h.payload_crc) {
      return Problem{"block checksum mismatch (the data is damaged)", false, true};
    }
    if ((h.flags & format::kFlagZstd) != 0) {
      // Size the buffer only for what the frame can really hold: a zstd block of at least
      // 4 bytes yields at most 128 KiB, and the writer records the content size.
      const unsigned long long content = ZSTD_getFrameContentSize(stored.data(), stored.size());
      if (content != h.raw_size || h.raw_size > h.stored_size * kMaxZstdRatio) {
        return Problem{"block does not decompress (its sizes do not match its data)"};
      }
      if (dctx == nullptr) dctx = ZSTD_createDCtx();
      out.resize(static_cast<std::size_t>(h.raw_size));
      const std::size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), stored.data(), stored.size());
      if (ZSTD_isError(n) != 0U || n != out.size()) return Problem{"block does not decompress"};
    } else {
      if (h.raw_size != h.stored_size) return Problem{"uncompressed block has inconsistent sizes"};
      out.swap(stored);
    }
    return std::nullopt;
  }

  // Reads the next block into `raw` (decompressed). End = clean end of file.
  BlockStatus read_block() {
    block_offset = offset;
    if (offset == file_size) return BlockStatus::End;
    std::optional<Problem> problem = load_header(offset, block);
    if (!problem) problem = load_payload(offset, block, raw);
    if (problem) {
      mark(problem->truncated, problem->checksum, problem->message);
      return BlockStatus::Damaged;
    }
    offset += format::kBlockHeaderSize + block.stored_size;
    return BlockStatus::Ok;
  }

  // Finds the end snapshot ahead of the events by walking the block headers from `from`
  // (40 bytes read per block), so that a consumer knows its time before the events that
  // were recorded after it. Silent on damage: streaming reports it where it is met.
  void read_end_snapshot_ahead(std::uint64_t from) {
    format::BlockHeader h{};
    std::vector<unsigned char> payload;
    for (std::uint64_t at = from; at < file_size; at += format::kBlockHeaderSize + h.stored_size) {
      if (load_header(at, h)) return;
      if (h.type == static_cast<std::uint32_t>(format::BlockType::Footer)) return;
      if (h.type != static_cast<std::uint32_t>(format::BlockType::EndSnapshot)) continue;
      std::string error;
      Snapshot found;
      if (!load_payload(at, h, payload) && decode_snapshot(payload.data(), payload.size(), found, error)) {
        end = std::move(found);
        end_offset = at;
      }
      return;
    }
  }

  std::string raw_text() const { return std::string(reinterpret_cast<const char*>(raw.data()), raw.size()); }
};

TraceReader::TraceReader(std::string path) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.path = std::move(path);
  r.fd = ::open(r.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r.fd < 0) throw TraceError(TraceError::Kind::Io, r.path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(r.fd, &st) != 0) throw TraceError(TraceError::Kind::Io, r.path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw TraceError(TraceError::Kind::BadInput, r.path + ": not a regular file");
  r.file_size = static_cast<std::uint64_t>(st.st_size);

  format::FileHeader file_header{};
  if (r.file_size == 0) throw TraceError(TraceError::Kind::BadMagic, r.path + ": empty file, not a labyrinth trace");
  const std::size_t got = r.read_at(&file_header, sizeof file_header, 0);
  if (got < sizeof file_header && std::memcmp(file_header.magic, format::kMagic, std::min(got, sizeof format::kMagic)) == 0) {
    throw TraceError(TraceError::Kind::Truncated,
                     r.path + ": offset " + std::to_string(got) + ": the file ends inside the file header (truncated)");
  }
  if (got < sizeof file_header || std::memcmp(file_header.magic, format::kMagic, sizeof format::kMagic) != 0) {
    throw TraceError(TraceError::Kind::BadMagic,
                     r.path + ": offset 0: not a labyrinth trace (bad magic); text captures go through 'labyrinth import'");
  }
  if (file_header.major > kFormatMajor) {
    throw TraceError(TraceError::Kind::NewerVersion,
                     r.path + ": trace format " + std::to_string(file_header.major) + "." +
                         std::to_string(file_header.minor) + " is newer than this labyrinth reads (" +
                         std::to_string(kFormatMajor) + ".x); upgrade labyrinth");
  }
  if (file_header.major == 0) {
    throw TraceError(TraceError::Kind::Corrupt, r.path + ": offset 8: trace format 0." +
                                                    std::to_string(file_header.minor) + " does not exist (damaged file header)");
  }
  r.offset = sizeof file_header;

  const BlockStatus first = r.read_block();
  if (first == BlockStatus::End) {
    throw TraceError(TraceError::Kind::Truncated,
                     at(r.path, r.offset) + "the file ends before the trace header (truncated)");
  }
  if (first != BlockStatus::Ok || r.block.type != static_cast<std::uint32_t>(format::BlockType::Header)) {
    throw TraceError(r.damage.truncated ? TraceError::Kind::Truncated : TraceError::Kind::Corrupt,
                     r.damage.any() ? r.damage.message : at(r.path, r.block_offset) + "the trace header is missing");
  }
  try {
    nlohmann::json::parse(r.raw_text()).get_to(r.header);
  } catch (const nlohmann::json::exception& e) {
    throw TraceError(TraceError::Kind::Corrupt, at(r.path, r.block_offset) + "the trace header is not valid: " + e.what());
  }
  validate_header(r.header, at(r.path, r.block_offset));

  // The start snapshot, if any, comes right after the header.
  const std::uint64_t after_header = r.offset;
  const BlockStatus status = r.read_block();
  if (status == BlockStatus::Ok && r.block.type == static_cast<std::uint32_t>(format::BlockType::StartSnapshot)) {
    std::string error;
    if (!decode_snapshot(r.raw.data(), r.raw.size(), r.start, error)) r.mark(false, false, error);
  } else if (status == BlockStatus::Ok) {
    r.offset = after_header;  // not a snapshot: let next() handle it
  } else if (status == BlockStatus::End) {
    r.offset = after_header;
  }
  if (!r.done) r.read_end_snapshot_ahead(r.offset);
}

TraceReader::~TraceReader() = default;

bool TraceReader::next(std::span<const PageEvent>& out) {
  Impl& r = *impl_;
  if (r.decoder.remaining() != 0) {  // the rest of a chunk read in batches
    out = r.next_batch();
    return true;
  }
  while (!r.done) {
    const BlockStatus status = r.read_block();
    if (status == BlockStatus::End) {
      if (!r.footer.present) {
        r.damage.truncated = true;
        r.damage.offset = r.offset;
        r.damage.message = at(r.path, r.offset) + "the trace has no footer: the recording did not finish (incomplete)";
      }
      r.done = true;
      break;
    }
    if (status == BlockStatus::Damaged) break;
    std::string error;
    switch (static_cast<format::BlockType>(r.block.type)) {
      case format::BlockType::Events:
        // Checked before decoding sizes a vector from the count.
        if (r.block.count > format::kMaxChunkEvents ||
            r.raw.size() < kEventsTableBytes + std::uint64_t{r.block.count} * kMinEventBytes) {
          r.mark(false, false, "events block claims " + std::to_string(r.block.count) + " events, more than it holds");
          break;
        }
        if (!r.decoder.open(r.raw.data(), r.raw.size(), r.block.count, error)) {
          r.mark(false, false, error);
          break;
        }
        ++r.chunks_read;
        out = r.next_batch();
        return true;
      case format::BlockType::Comms:
        if (!decode_comms(r.raw.data(), r.raw.size(), r.block.count, r.comms, error)) r.mark(false, false, error);
        break;
      case format::BlockType::Stacks:
        if (!decode_stacks(r.raw.data(), r.raw.size(), r.block.count, r.stacks, error)) r.mark(false, false, error);
        break;
      case format::BlockType::EndSnapshot:
        if (r.block_offset == r.end_offset) break;  // read ahead at open
        if (!decode_snapshot(r.raw.data(), r.raw.size(), r.end, error)) r.mark(false, false, error);
        break;
      case format::BlockType::Footer:
        try {
          nlohmann::json::parse(r.raw_text()).get_to(r.footer);
        } catch (const nlohmann::json::exception& e) {
          r.mark(false, false, std::string("the footer is not valid: ") + e.what());
          break;
        }
        r.done = true;  // anything after the footer is ignored
        break;
      case format::BlockType::Header:
      case format::BlockType::StartSnapshot:
        r.mark(false, false, "a second header or start snapshot in the middle of the trace");
        break;
      default:
        break;  // an unknown block of a newer minor version: skip it
    }
  }
  out = {};
  return false;
}

void TraceReader::set_batch_events(std::size_t events) { impl_->batch_events = events; }

const TraceHeader& TraceReader::header() const { return impl_->header; }
const Snapshot& TraceReader::start_snapshot() const { return impl_->start; }
const Snapshot& TraceReader::end_snapshot() const { return impl_->end; }
std::uint64_t TraceReader::end_snapshot_offset() const { return impl_->end_offset; }
const TraceFooter& TraceReader::footer() const { return impl_->footer; }
bool TraceReader::complete() const { return impl_->footer.present && !impl_->damage.any(); }
const ReadDamage& TraceReader::damage() const { return impl_->damage; }
std::uint64_t TraceReader::events_read() const { return impl_->events_read; }
std::uint64_t TraceReader::chunks_read() const { return impl_->chunks_read; }
const std::string& TraceReader::path() const { return impl_->path; }
std::uint64_t TraceReader::file_size() const { return impl_->file_size; }
std::uint64_t TraceReader::offset() const { return impl_->offset; }

std::string_view TraceReader::comm(std::uint32_t comm_id) const {
  auto it = impl_->comms.find(comm_id);
  return it == impl_->comms.end() ? std::string_view{} : std::string_view(it->second);
}

const StackTrace* TraceReader::stack(std::uint32_t stack_id) const {
  auto it = impl_->stacks.find(stack_id);
  return it == impl_->stacks.end() ? nullptr : &it->second;
}

}  // namespace labyrinth::traces
