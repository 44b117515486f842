// The on-disk block layout of a trace file (documented in labyrinth-trace(5)).
//
//   file   := file_header block*
//   file_header (16 bytes) := magic "LABYRNTH" | u16 major | u16 minor | u32 zero
//   block  := block_header (40 bytes) payload
//   block_header := u32 tag "LBLK" | u32 type | u32 flags | u32 count
//                 | u64 stored_size | u64 raw_size | u32 payload_crc32c | u32 header_crc32c
// All integers little-endian. header_crc32c covers the first 36 bytes of the block header.
#pragma once

#include <cstdint>

namespace labyrinth::traces::format {

inline constexpr char kMagic[8] = {'L', 'A', 'B', 'Y', 'R', 'N', 'T', 'H'};
inline constexpr std::uint32_t kBlockTag = 0x4b4c424cu;  // "LBLK"
inline constexpr std::size_t kFileHeaderSize = 16;
inline constexpr std::size_t kBlockHeaderSize = 40;

enum class BlockType : std::uint32_t {
  Header = 1,         // JSON TraceHeader
  StartSnapshot = 2,  // snapshot codec
  Comms = 3,          // varint id, varint length, bytes (new process names)
  Stacks = 4,         // varint id, varint frames, (varint length, bytes)*
  Events = 5,         // event column codec
  EndSnapshot = 6,
  Footer = 7,         // JSON TraceFooter
  Keyframe = 8,       // snapshot codec, without a free-page map: the kernel's state mid-recording
  TaskStates = 9,     // the task states of the next events block's allocations (1.4)
  ZoneCounters = 10,  // the kernel's zone counters read at failed allocations (1.7)
  ZoneCounterDiffs = 11,  // their per-CPU vmstat diffs, right after a ZoneCounters block (1.9)
};

inline constexpr std::uint32_t kFlagZstd = 1u;

// Limits that keep a hostile file from asking for absurd memory.
inline constexpr std::uint64_t kMaxStoredSize = 256ull << 20;
inline constexpr std::uint64_t kMaxRawSize = 256ull << 20;
inline constexpr std::uint32_t kMaxChunkEvents = 1u << 20;

#pragma pack(push, 1)
struct FileHeader {
  char magic[8];
  std::uint16_t major;
  std::uint16_t minor;
  std::uint32_t reserved;
};
struct BlockHeader {
  std::uint32_t tag;
  std::uint32_t type;
  std::uint32_t flags;
  std::uint32_t count;
  std::uint64_t stored_size;
  std::uint64_t raw_size;
  std::uint32_t payload_crc;
  std::uint32_t header_crc;
};
#pragma pack(pop)
static_assert(sizeof(FileHeader) == kFileHeaderSize);
static_assert(sizeof(BlockHeader) == kBlockHeaderSize);

}  // namespace labyrinth::traces::format
