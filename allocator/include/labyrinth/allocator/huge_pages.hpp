// An allocator for large arrays read at random (the model's page metadata, a replay's
// per-pfn maps): tens of MiB for a large zone, so every access is a cache miss, and with 4 KiB
// pages also a TLB miss. Arrays of 2 MiB or more are 2 MiB-aligned and, on Linux, advised as
// transparent huge pages (THP in "madvise" mode would otherwise give 4 KiB pages). Only a
// hint: without THP they work the same.
#pragma once

#include <cstddef>
#include <cstdlib>

namespace labyrinth::allocator {

/// Allocates `bytes` (throws std::bad_alloc); release with std::free.
void* alloc_huge(std::size_t bytes);

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  explicit HugePageAllocator(const HugePageAllocator<U>& /*other*/) {}
  T* allocate(std::size_t n) { return static_cast<T*>(alloc_huge(n * sizeof(T))); }
  void deallocate(T* p, std::size_t /*n*/) { std::free(p); }
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};

}  // namespace labyrinth::allocator
