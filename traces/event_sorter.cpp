#include "labyrinth/traces/event_sorter.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

// Linux 5.14; the number is the kernel's ABI, for headers older than it.
#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23
#endif

namespace labyrinth::traces {

void EventSorter::grow(std::size_t n) {
#if defined(MADV_POPULATE_WRITE)
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto from = reinterpret_cast<std::uintptr_t>(ring_.data() + ring_.size()) & ~(page - 1);
  const auto to = (reinterpret_cast<std::uintptr_t>(ring_.data() + n) + page - 1) & ~(page - 1);
  // A hint: where the kernel cannot (before 5.14), the pages fault in as resize() writes them.
  if (to > from) (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE);
#endif
  ring_.resize(n);
}

}  // namespace labyrinth::traces
