#include "block_loader.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "crc32c.hpp"
#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth::traces {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::size_t huge_rounded(std::size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

void* allocate_buffer(std::size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);
  void* p = std::aligned_alloc(kHugePage, huge_rounded(bytes));
  if (p == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  (void)madvise(p, huge_rounded(bytes), MADV_HUGEPAGE);  // a hint: without THP, 4 KiB pages
#endif
  return p;
}

void release_buffer(void* p, std::size_t bytes) noexcept {
  if (bytes < kHugePage) {
    ::operator delete(p);
  } else {
    std::free(p);
  }
}
namespace {

constexpr std::uint64_t kMaxZstdRatio = 128 * 1024 / 4;  // ZSTD_BLOCKSIZE_MAX from a 4-byte RLE block

}  // namespace

BlockLoader::BlockLoader(int fd, std::string path, std::uint64_t file_size)
    : fd_(fd), path_(std::move(path)), file_size_(file_size) {}

BlockLoader::~BlockLoader() {
  if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
}

std::size_t BlockLoader::read_at(void* buffer, std::size_t size, std::uint64_t offset) const {
  std::size_t done = 0;
  auto* p = static_cast<char*>(buffer);
  while (done < size) {
    const ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw TraceError(TraceError::Kind::Io,
                       path_ + ": offset " + std::to_string(offset) + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::optional<BlockProblem> BlockLoader::load_header(std::uint64_t at, format::BlockHeader& h) const {
  if (file_size_ - at < format::kBlockHeaderSize) {
    return BlockProblem{"the file ends inside a block header (truncated)", true};
  }
  read_at(&h, sizeof h, at);
  if (h.tag != format::kBlockTag) return BlockProblem{"no block starts here (bad block tag)"};
  if (crc32c(&h, format::kBlockHeaderSize - 4) != h.header_crc) {
    return BlockProblem{"block header checksum mismatch", false, true};
  }
  if (h.stored_size > format::kMaxStoredSize || h.raw_size > format::kMaxRawSize) {
    return BlockProblem{"block size is out of range"};
  }
  if (file_size_ - at - format::kBlockHeaderSize < h.stored_size) {
    return BlockProblem{"the file ends inside a block (truncated)", true};
  }
  return std::nullopt;
}

std::optional<BlockProblem> BlockLoader::load_payload(std::uint64_t at, const format::BlockHeader& h,
                                                      ByteBuffer& out) {
  resize_for_overwrite(stored_, static_cast<std::size_t>(h.stored_size));
  if (read_at(stored_.data(), stored_.size(), at + format::kBlockHeaderSize) != stored_.size()) {
    return BlockProblem{"the file ends inside a block (truncated)", true};  // it shrank while read
  }
  if (crc32c(stored_.data(), stored_.size()) != h.payload_crc) {
    return BlockProblem{"block checksum mismatch (the data is damaged)", false, true};
  }
  if ((h.flags & format::kFlagZstd) == 0) {
    if (h.raw_size != h.stored_size) return BlockProblem{"uncompressed block has inconsistent sizes"};
    out.swap(stored_);
    return std::nullopt;
  }
  // Size the buffer only for what the frame can really hold: a zstd block of at least 4 bytes
  // yields at most 128 KiB, and the writer records the content size.
  const unsigned long long content = ZSTD_getFrameContentSize(stored_.data(), stored_.size());
  if (content != h.raw_size || h.raw_size > h.stored_size * kMaxZstdRatio) {
    return BlockProblem{"block does not decompress (its sizes do not match its data)"};
  }
  if (dctx_ == nullptr) dctx_ = ZSTD_createDCtx();
  resize_for_overwrite(out, static_cast<std::size_t>(h.raw_size));
  const std::size_t n = ZSTD_decompressDCtx(dctx_, out.data(), out.size(), stored_.data(), stored_.size());
  if (ZSTD_isError(n) != 0U || n != out.size()) return BlockProblem{"block does not decompress"};
  return std::nullopt;
}

void BlockLoader::load(std::uint64_t at, LoadedBlock& block, EventsLoad events) {
  block.offset = at;
  block.next_offset = at;
  block.end_of_file = at == file_size_;
  block.problem.reset();
  block.io_error = nullptr;
  if (block.end_of_file) return;
  try {
    block.problem = load_header(at, block.header);
    if (!block.problem) block.problem = load_payload(at, block.header, block.raw);
    if (block.problem) return;
    block.next_offset = at + format::kBlockHeaderSize + block.header.stored_size;
    if (block.header.type != static_cast<std::uint32_t>(format::BlockType::Events)) return;
    std::string error;
    if (!block.decoder.open(block.raw.data(), block.raw.size(), block.header.count, error, unread_)) {
      block.problem = BlockProblem{error};
      return;
    }
    if (events == EventsLoad::Decode) {
      resize_for_overwrite(block.events, block.header.count);  // decode() writes it all
      block.decoder.decode(block.events.data(), block.header.count);
    }
  } catch (const TraceError&) {
    block.io_error = std::current_exception();
  }
}

}  // namespace labyrinth::traces
