// See labyrinth/allocator/huge_pages.hpp.
#include "labyrinth/allocator/huge_pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace labyrinth::allocator {

namespace {
constexpr std::size_t kHuge = std::size_t{2} << 20;
// A mapping up to this size is advised as huge pages: it is small enough to be wholly
// resident without harm, and a replay reads it at random. Larger ones (a model of a machine
// of hundreds of GiB) stay on 4 KiB pages so that only the pages written take memory.
constexpr std::size_t kHugeAdviceLimit = std::size_t{256} << 20;

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}
std::size_t mapped_size(std::size_t bytes) {
  const std::size_t unit = bytes >= kHuge ? kHuge : page_size();
  return (bytes + unit - 1) / unit * unit;
}
}  // namespace

void* alloc_huge(std::size_t bytes) {
  if (bytes < kHuge) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

namespace zeroed {

void* map(std::size_t bytes) {
  if (bytes == 0) {
    return nullptr;
  }
  const std::size_t size = mapped_size(bytes);
  const bool huge = size >= kHuge && size <= kHugeAdviceLimit;
  const std::size_t reserve = huge ? size + kHuge : size;  // room to align to 2 MiB
  void* p = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw std::runtime_error("cannot reserve " + std::to_string(reserve >> 20) +
                             " MiB of address space for page metadata (is vm.overcommit_memory 2?)");
  }
  if (!huge) {
    return p;
  }
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (base + kHuge - 1) / kHuge * kHuge;
  if (aligned > base) {
    munmap(p, aligned - base);
  }
  const std::uintptr_t tail = aligned + size;
  if (base + reserve > tail) {
    munmap(reinterpret_cast<void*>(tail), base + reserve - tail);
  }
#if defined(MADV_HUGEPAGE)
  (void)madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<void*>(aligned);
}

void unmap(void* p, std::size_t bytes) {
  if (p != nullptr) {
    munmap(p, mapped_size(bytes));
  }
}

void clear(void* p, std::size_t bytes) {
  if (p == nullptr) {
    return;
  }
  // MADV_DONTNEED on a private anonymous mapping: the next read sees zero bytes.
  if (madvise(p, mapped_size(bytes), MADV_DONTNEED) != 0) {
    std::memset(p, 0, bytes);
  }
}

void advise_huge(void* p, std::size_t bytes) {
#if defined(MADV_HUGEPAGE)
  if (p != nullptr) {
    (void)madvise(p, mapped_size(bytes), MADV_HUGEPAGE);  // only a hint, as in map()
  }
#else
  (void)p;
  (void)bytes;
#endif
}

void advise_small(void* p, std::size_t bytes) {
#if defined(MADV_NOHUGEPAGE)
  if (p != nullptr) {
    (void)madvise(p, mapped_size(bytes), MADV_NOHUGEPAGE);  // only a hint
  }
#else
  (void)p;
  (void)bytes;
#endif
}

// Linux 5.14; the number is the kernel's ABI, for headers older than it.
#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23
#endif

bool populate(void* p, std::size_t bytes) {
#if defined(MADV_POPULATE_WRITE)
  if (p == nullptr || bytes == 0) {
    return true;
  }
  // Only a hint: a kernel without it (EINVAL) leaves the pages to fault in when written.
  return madvise(p, bytes, MADV_POPULATE_WRITE) == 0;
#else
  (void)p;
  (void)bytes;
  return false;
#endif
}

std::size_t page_bytes() { return page_size(); }

std::vector<unsigned char> residency(const void* p, std::size_t bytes) {
  if (p == nullptr) {
    return {};
  }
  const std::size_t size = mapped_size(bytes);
  std::vector<unsigned char> in((size + page_size() - 1) / page_size());
  if (mincore(const_cast<void*>(p), size, in.data()) != 0) {
    in.clear();
  }
  return in;
}

void copy_written(void* dst, const void* src, std::size_t bytes) {
  if (src == nullptr || bytes == 0) {
    return;
  }
  const std::vector<unsigned char> in = residency(src, bytes);
  const std::size_t ps = page_size();
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  for (std::size_t off = 0; off < bytes; off += ps) {
    if (!in.empty() && (in[off / ps] & 1u) == 0) {
      continue;  // never faulted in: still zero
    }
    const std::size_t n = bytes - off < ps ? bytes - off : ps;
    bool zero = true;
    for (std::size_t k = 0; k < n && zero; ++k) {
      zero = s[off + k] == 0;
    }
    if (!zero) {
      std::memcpy(d + off, s + off, n);
    }
  }
}

std::size_t resident(const void* p, std::size_t bytes) {
  if (p == nullptr) {
    return 0;
  }
  const std::vector<unsigned char> in = residency(p, bytes);
  std::size_t pages = 0;
  for (const unsigned char c : in) {
    pages += c & 1u;
  }
  return pages * page_size();
}

}  // namespace zeroed
}  // namespace labyrinth::allocator
