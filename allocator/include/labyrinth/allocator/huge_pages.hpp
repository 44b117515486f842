// Large arrays read at random (the model's page metadata, a replay's per-pfn maps).
//
// HugePageAllocator: tens of MiB for a large zone, so every access is a cache miss, and with
// 4 KiB pages also a TLB miss. Arrays of 2 MiB or more are 2 MiB-aligned and, on Linux, advised
// as transparent huge pages (THP in "madvise" mode would otherwise give 4 KiB pages). Only a
// hint: without THP they work the same.
//
// ZeroedArray: metadata that costs what is used. The array is one anonymous mapping reserved
// without swap accounting (MAP_NORESERVE), so its elements start as zero bytes and a page of it
// takes memory only once written: the kernel's zero page serves every page frame a model never
// touches. Zero bytes must be the element's common (default) state.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <vector>

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

namespace zeroed {
/// Reserves `bytes` of zero-filled address space (nullptr for 0). Throws std::runtime_error
/// with the size when the kernel refuses the reservation.
void* map(std::size_t bytes);
void unmap(void* p, std::size_t bytes);
/// Back to zero bytes; the written pages are given back to the kernel.
void clear(void* p, std::size_t bytes);
/// Advises the mapping as transparent huge pages, for a caller about to write most of it.
void advise_huge(void* p, std::size_t bytes);
/// Advises the mapping as 4 KiB pages, for a caller that writes a scattered few of them.
void advise_small(void* p, std::size_t bytes);
/// Makes the pages of [p, p + bytes) (page-aligned) resident and writable at once, as writing
/// them would: for pages a caller is about to write, whose faults one by one cost several
/// times more (13 us a fault against 1.7 us a page populated, in runs of 2.5 pages, on the
/// Firecracker VM of bench/). Only a hint: false where the kernel cannot (before Linux 5.14).
bool populate(void* p, std::size_t bytes);
/// Copies the pages of `src` that were ever written into the zero-filled `dst`.
void copy_written(void* dst, const void* src, std::size_t bytes);
/// Bytes of the mapping that are resident (written or faulted in).
std::size_t resident(const void* p, std::size_t bytes);
/// One byte per page of the mapping (sysconf page size), bit 0 set where it is resident;
/// empty when the kernel cannot tell.
std::vector<unsigned char> residency(const void* p, std::size_t bytes);
std::size_t page_bytes();
}  // namespace zeroed

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>, "elements are created and copied as bytes");

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(std::size_t n) : data_(static_cast<T*>(zeroed::map(n * sizeof(T)))), size_(n) {}
  ZeroedArray(const ZeroedArray& o) : ZeroedArray(o.size_) { zeroed::copy_written(data_, o.data_, bytes()); }
  ZeroedArray(ZeroedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedArray& operator=(ZeroedArray o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~ZeroedArray() { zeroed::unmap(data_, bytes()); }

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t bytes() const { return size_ * sizeof(T); }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  /// Every element back to zero bytes, in time proportional to the pages written.
  void clear() { zeroed::clear(data_, bytes()); }
  /// The whole array on huge pages from now on: for a caller about to write most of its pages,
  /// so that it takes one fault and one TLB entry per 2 MiB instead of per 4 KiB.
  void advise_huge() { zeroed::advise_huge(data_, bytes()); }
  /// On 4 KiB pages from now on (undone by advise_huge()): for an array whose writes are few
  /// and scattered, so that each takes 4 KiB of memory, not the 2 MiB the kernel would zero.
  void advise_small() { zeroed::advise_small(data_, bytes()); }
  /// Populates (zeroed::populate) the pages that hold the elements `first`, which the caller
  /// is about to write: sorted ascending, repeats allowed; neighbouring pages go in one call.
  /// False where the kernel cannot (the pages then fault in as they are written).
  bool populate(const std::vector<std::size_t>& first) {
    const std::size_t page = zeroed::page_bytes();
    auto* base = reinterpret_cast<unsigned char*>(data_);
    std::size_t run_start = 0, run_end = 0;  // pages [run_start, run_end)
    bool ok = true;
    for (const std::size_t i : first) {
      const std::size_t pg = i * sizeof(T) / page;
      const std::size_t last = ((i + 1) * sizeof(T) - 1) / page;  // an element may straddle two
      if (run_end != 0 && pg <= run_end) {
        run_end = std::max(run_end, last + 1);
        continue;
      }
      if (run_end != 0) ok = zeroed::populate(base + run_start * page, (run_end - run_start) * page) && ok;
      run_start = pg;
      run_end = last + 1;
    }
    if (run_end != 0) ok = zeroed::populate(base + run_start * page, (run_end - run_start) * page) && ok;
    return ok;
  }
  [[nodiscard]] std::size_t resident_bytes() const { return zeroed::resident(data_, bytes()); }
  /// Elements per page, and which pages were ever faulted in: the others hold zero bytes.
  [[nodiscard]] static std::size_t per_page() { return zeroed::page_bytes() / sizeof(T); }
  [[nodiscard]] std::vector<unsigned char> residency() const { return zeroed::residency(data_, bytes()); }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace labyrinth::allocator
