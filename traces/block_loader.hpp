// Reading one block of a trace file at a given offset: its header, its payload checksummed
// and decompressed, and for an events block the decoder opened on it. Holds nothing but the
// file and scratch buffers, so that the read-ahead thread can own a loader of its own.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "block_format.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {

// Buffers that grow without writing their new elements: a read or zstd writes every byte of
// a block's buffer, and EventDecoder::decode every field of every event, at once (clearing
// them first was most of the reader's time on a short trace). Only for implicit-lifetime
// types, which the allocation itself creates.
//
// Buffers of 2 MiB or more (a read-ahead block's 65536 decoded events take 4 MiB) are 2 MiB
// aligned and advised as transparent huge pages: on 4 KiB pages their first use took a page
// fault per 4 KiB, about 5,000 a replay of 3.6 M events and a fifth of its CPU time.
void* allocate_buffer(std::size_t bytes);  // throws std::bad_alloc
void release_buffer(void* p, std::size_t bytes) noexcept;

template <typename T>
struct UninitialisedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitialisedAllocator<U>;
  };
  UninitialisedAllocator() = default;
  template <typename U>
  explicit UninitialisedAllocator(const UninitialisedAllocator<U>& /*other*/) {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_buffer(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { release_buffer(p, n * sizeof(T)); }
  template <typename U>
  void construct(U* /*p*/) noexcept {
    static_assert(std::is_trivially_copyable_v<U> && std::is_trivially_destructible_v<U>);
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using ByteBuffer = std::vector<unsigned char, UninitialisedAllocator<unsigned char>>;
using EventBuffer = std::vector<PageEvent, UninitialisedAllocator<PageEvent>>;  // decode() fills them

// Sizes a reused buffer for n elements about to be overwritten whole. What it held is not
// kept (a vector that grows copies it, element by element, into pages faulted in for the
// purpose), and it grows with a quarter to spare, so that the next blocks, a little larger or
// smaller, reuse its pages: growing like a vector, the read-ahead's buffers took more than
// half of stat's page faults.
template <typename Buffer>
void resize_for_overwrite(Buffer& buffer, std::size_t n) {
  if (buffer.capacity() < n) {
    Buffer fresh;
    fresh.reserve(n + n / 4);
    buffer.swap(fresh);
  }
  buffer.resize(n);
}

// Damage found in a block: what the reader reports, and which kind it is.
struct BlockProblem {
  std::string message;
  bool truncated = false;
  bool checksum = false;
};

// How much of an events block load() does: open the decoder on it (which checks every
// column), or also decode all its events.
enum class EventsLoad { Open, Decode };

// One block, as loaded. An events block has `decoder` opened on `raw` (so it must not move
// while events are taken from it), and with EventsLoad::Decode all its events in `events`.
struct LoadedBlock {
  std::uint64_t offset = 0;       // where the block starts
  std::uint64_t next_offset = 0;  // where the next one starts
  bool end_of_file = false;       // no block here: the file ends cleanly at `offset`
  std::optional<BlockProblem> problem;
  format::BlockHeader header{};
  ByteBuffer raw;
  EventDecoder decoder;
  EventBuffer events;
  std::exception_ptr io_error;  // a TraceError of the file system, for the consumer to rethrow
};

class BlockLoader {
 public:
  BlockLoader(int fd, std::string path, std::uint64_t file_size);
  ~BlockLoader();
  BlockLoader(const BlockLoader&) = delete;
  BlockLoader& operator=(const BlockLoader&) = delete;

  // Reads up to size bytes at offset; returns the number read (short at end of file).
  // Throws TraceError on an I/O error.
  std::size_t read_at(void* buffer, std::size_t size, std::uint64_t offset) const;

  std::optional<BlockProblem> load_header(std::uint64_t at, format::BlockHeader& h) const;
  std::optional<BlockProblem> load_payload(std::uint64_t at, const format::BlockHeader& h, ByteBuffer& out);

  // The block at `at` into `block` (its buffers are reused); damage is block.problem. Never
  // throws: an I/O error is block.io_error.
  void load(std::uint64_t at, LoadedBlock& block, EventsLoad events);
  // Events blocks loaded from now on leave these columns undecoded (EventDecoder::open).
  void skip_columns(UnreadColumns unread) { unread_ = unread; }

 private:
  int fd_;
  std::string path_;
  std::uint64_t file_size_;
  ByteBuffer stored_;
  ZSTD_DCtx* dctx_ = nullptr;
  UnreadColumns unread_ = UnreadColumns::None;
};

}  // namespace labyrinth::traces
