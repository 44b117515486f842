// Internal: the model seen through plain types, so that the C API translation unit, which
// defines the C `struct labyrinth`, never sees the C++ namespace of the same name.
#pragma once

#include <cstdint>

namespace laby_c_bridge {

struct Options {
  std::uint64_t page_size = 4096;
  std::uint64_t dma_pages = 0;
  std::uint64_t dma32_pages = 0;
  std::uint64_t normal_pages = 0;
  unsigned nr_cpus = 1;
  unsigned max_order = 10;
  unsigned pageblock_order = 9;
  long long min_free_kbytes = -1;
  unsigned watermark_scale_factor = 10;
  bool pcp = true;
  bool highatomic = true;
};

struct Handle;

struct AllocOut {
  bool ok = false;
  std::uint64_t pfn = 0;
  int failure = 0;  ///< enum labyrinth_failure
};

Handle* create(const Options& options) noexcept;
void destroy(Handle* h) noexcept;
AllocOut allocate(Handle* h, std::uint64_t gfp, unsigned order, unsigned cpu, std::uint64_t owner) noexcept;
int free_block(Handle* h, std::uint64_t pfn, unsigned cpu) noexcept;  ///< enum labyrinth_free_status
std::uint64_t nr_free_pages(const Handle* h) noexcept;

}  // namespace laby_c_bridge
