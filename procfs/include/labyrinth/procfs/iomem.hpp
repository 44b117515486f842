// Where the machine's memory is: the "System RAM" ranges of /proc/iomem
// (kernel/resource.c:r_show), as page frame numbers. Root sees the addresses; others see
// zeros, which parse as no range at all, and the caller falls back to the zones' spans.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace labyrinth::procfs {

struct PfnRange {
  std::uint64_t start = 0;  // first pfn
  std::uint64_t end = 0;    // one past the last
  bool operator==(const PfnRange&) const = default;
};

// Sorted, overlapping or touching ranges joined; a page partly inside a range counts whole.
// Lines whose name starts with "System RAM" count at any depth ("System RAM (kmem)" is
// memory a dax device gave back). Ranges at address 0 with end 0 (the view of a user
// without CAP_SYS_ADMIN) are left out.
std::vector<PfnRange> parse_iomem_system_ram(std::string_view text, std::uint64_t page_size = 4096);

}  // namespace labyrinth::procfs
