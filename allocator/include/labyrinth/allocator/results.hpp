// Typed outcomes of every model operation. Nothing the caller passes is undefined behaviour:
// bad requests come back as a status and leave the model consistent.
#pragma once

#include <cstdint>

#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

/// Why an allocation failed (docs/kernel-rules.md §5.5).
enum class AllocFailure : std::uint8_t {
  None = 0,
  Watermark,        ///< too few free pages above the request's reserve
  Fragmentation,    ///< enough free pages, no free block of the order the request may use
  ReserveOnly,      ///< what is left is highatomic or CMA memory the request may not use
  ZoneUnavailable,  ///< no zone the request may use (e.g. GFP_DMA without a DMA zone)
  InvalidOrder,     ///< order above max_order (the kernel WARNs and returns NULL)
  InvalidCpu,       ///< cpu >= nr_cpus
};

/// Which attempt served an allocation.
enum class AllocPath : std::uint8_t {
  Fast,            ///< first get_page_from_freelist (LOW watermark, NOFRAGMENT)
  Slow,            ///< slow-path flags (MIN watermark, reserve reductions)
  NoWatermarks,    ///< __GFP_MEMALLOC: ALLOC_NO_WATERMARKS
  Reclaimed,       ///< served after direct reclaim (and a pcp drain / highatomic unreserve)
  OomKill,         ///< nothing left to reclaim: the kernel's OOM killer would free memory; served
                   ///< without watermarks, as the victim's pages would let it
  NoFail,          ///< __GFP_NOFAIL that the kernel would retry forever; served with reserves
  Compacted,       ///< served after direct compaction (simulate's slow path, order > 0)
};

/// Where the block came from.
enum class BlockSource : std::uint8_t {
  Pcp,         ///< a per-cpu list (possibly right after a refill)
  Buddy,       ///< __rmqueue_smallest on the request's own type
  Cma,         ///< the CMA lists
  Claim,       ///< after claiming a foreign pageblock (__rmqueue_claim)
  Steal,       ///< a block stolen from a foreign type (__rmqueue_steal)
  HighAtomic,  ///< the highatomic reserve
};

struct AllocResult {
  Pfn pfn{};
  std::uint16_t zone = 0;  ///< zone served (or, on failure, the zone that decided the cause)
  std::uint8_t order = 0;
  AllocFailure failure = AllocFailure::None;
  AllocPath path = AllocPath::Fast;
  BlockSource source = BlockSource::Buddy;
  MigrateType migratetype = MigrateType::Unmovable;  ///< gfp_migratetype of the request
  /// Served although the slow-path watermark check failed everywhere (NoWatermarks, OomKill,
  /// NoFail).
  bool watermark_missed = false;
  [[nodiscard]] bool ok() const { return failure == AllocFailure::None; }
  explicit operator bool() const { return ok(); }
};

enum class CarveStatus : std::uint8_t {
  Carved = 0,      ///< split out of a free buddy block
  CarvedFromPcp,   ///< taken from a per-cpu list
  CarvedFromSeed,  ///< the model had it as allocated-before-recording (kSeedOwner): resynced
  NotFree,         ///< already allocated to an owner: a double allocation; model unchanged
  RangeMixed,      ///< the range covers several blocks in different states; model unchanged
  OutsideZone,     ///< not inside one zone
  InvalidOrder,    ///< order above max_order, or pfn not aligned to it
  InvalidType,     ///< migratetype not one of Unmovable/Movable/Reclaimable
};

struct CarveResult {
  CarveStatus status = CarveStatus::Carved;
  std::uint16_t zone = 0;
  std::uint8_t block_order = 0;  ///< order of the block the range was taken from
  std::uint16_t cpu = 0;         ///< CarvedFromPcp: whose list it was on
  Owner owner = 0;               ///< NotFree: the current owner
  [[nodiscard]] bool ok() const {
    return status == CarveStatus::Carved || status == CarveStatus::CarvedFromPcp ||
           status == CarveStatus::CarvedFromSeed;
  }
};

enum class FreeStatus : std::uint8_t {
  Freed = 0,     ///< an allocation freed with its order
  FreedSeed,     ///< pages allocated before the recording (kSeedOwner) freed
  DoubleFree,    ///< at least the first page is already free (buddy or pcp); model unchanged
  WrongOrder,    ///< the head of an allocation of another order; model unchanged
  UnknownPage,   ///< not the head of any allocation (inside one, or spanning several); unchanged
  OutsideZone,   ///< not inside one zone
  InvalidOrder,  ///< order above max_order, or pfn not aligned to it
  InvalidCpu,    ///< cpu >= nr_cpus (only checked when the page would go to a pcp list)
};

struct FreeResult {
  FreeStatus status = FreeStatus::Freed;
  std::uint16_t zone = 0;
  std::uint8_t allocated_order = 0;  ///< Freed/WrongOrder/UnknownPage: order of the allocation
  Owner owner = 0;                   ///< Freed/WrongOrder/UnknownPage: its owner
  Pfn allocation_head{};             ///< UnknownPage inside an allocation: its head
  MigrateType migratetype = MigrateType::Unmovable;  ///< migratetype the allocation was made with
  bool to_pcp = false;               ///< went to a per-cpu list
  [[nodiscard]] bool ok() const { return status == FreeStatus::Freed || status == FreeStatus::FreedSeed; }
};

enum class PcpStatus : std::uint8_t {
  Moved = 0,
  MovedFromSeed,  ///< refill of pages the model had as allocated before recording: resynced
  NotInBuddy,     ///< refill: the range is not free in the buddy lists; model unchanged
  NotOnPcp,       ///< drain: no pcp block of that pfn and order; model unchanged
  Disabled,       ///< pcp mode is Off
  NotPcpOrder,    ///< the order has no pcp list
  OutsideZone,
  InvalidOrder,
  InvalidCpu,
  InvalidType,
};

struct PcpResult {
  PcpStatus status = PcpStatus::Moved;
  std::uint16_t zone = 0;
  std::uint16_t cpu = 0;  ///< drain: whose list it was on
  [[nodiscard]] bool ok() const { return status == PcpStatus::Moved || status == PcpStatus::MovedFromSeed; }
};

enum class PageblockStatus : std::uint8_t {
  Changed = 0,
  Unchanged,    ///< already of that type
  ZoneEdge,     ///< the pageblock straddles the zone edge (prep_move_freepages_block refuses)
  OutsideZone,
  InvalidType,  ///< Isolate cannot be set this way
};

struct PageblockResult {
  PageblockStatus status = PageblockStatus::Changed;
  std::uint16_t zone = 0;
  std::uint64_t pages_moved = 0;  ///< free pages moved to the new type's lists
  [[nodiscard]] bool ok() const { return status == PageblockStatus::Changed || status == PageblockStatus::Unchanged; }
};

enum class SplitStatus : std::uint8_t { Split = 0, NotAllocated, InvalidOrder, OutsideZone };

/// What a pfn currently belongs to.
enum class BlockState : std::uint8_t { Free, Pcp, Allocated, Seed };

struct BlockInfo {
  Pfn head{};
  std::uint8_t order = 0;
  BlockState state = BlockState::Free;
  /// Free: the free list's type; Pcp: the pcp list's type; Allocated/Seed: the allocation's.
  MigrateType migratetype = MigrateType::Unmovable;
  Owner owner = 0;  ///< Allocated: the owner; Seed: kSeedOwner
  std::uint16_t cpu = 0;  ///< Pcp: the CPU
  std::uint16_t zone = 0;
};

}  // namespace labyrinth::allocator
