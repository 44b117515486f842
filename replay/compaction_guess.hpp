// Internal to laby_replay: which free blocks compaction's free scanner took, from the summary
// tracepoints alone (compaction:mm_compaction_isolate_freepages and
// mm_compaction_fast_isolate_freepages name a range and a page count), for a recording without
// the very blocks (__isolate_free_page, format 1.2). Both engines take these blocks from their
// model: mirror to follow the kernel's lists, simulate to hold the pages the kernel's
// migrations copied into.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "labyrinth/allocator/model.hpp"

namespace labyrinth::replay::detail {

// mm/compaction.c:isolate_freepages_block() over [start, end): the model's free blocks it
// would take, whose pages add up to `taken_pages` if the model's lists are the kernel's. It
// lands on pfns, takes a free block whose head is there and jumps past it (and past a
// compound page's head); an async scan steps COMPACT_CLUSTER_MAX pfns on, so both strides are
// tried and the one that explains the count wins (the dense one otherwise).
std::vector<allocator::BlockInfo> guess_block_scan(const allocator::Model& model, std::uint64_t start,
                                                   std::uint64_t end, std::uint64_t taken_pages);

// mm/compaction.c:fast_isolate_freepages() took one free block of `taken_pages` in
// [start, end), preferring blocks at or above low_pfn, a quarter of the scanners' distance below
// the free scanner, i.e. the middle of the range; its list type is returned too.
std::optional<allocator::BlockInfo> guess_fast_isolation(const allocator::Model& model, std::uint64_t start,
                                                         std::uint64_t end, std::uint64_t taken_pages,
                                                         unsigned pageblock_order);

}  // namespace labyrinth::replay::detail
