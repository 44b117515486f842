// The C API (labyrinth.h): a maze owns an mmap'ed arena whose page frames mirror the model's
// pfns, so the pointers it hands out are real pages. This is the only file that maps memory.
#include "labyrinth/allocator/labyrinth.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "c_api_bridge.hpp"

struct labyrinth {
  laby_c_bridge::Handle* model = nullptr;
  unsigned char* arena = nullptr;
  std::size_t arena_bytes = 0;
  std::size_t page_size = 0;
  unsigned nr_cpus = 1;
  unsigned cpu = 0;
  std::uint64_t next_owner = 1;
  int last_failure = LABYRINTH_OK;
};

extern "C" {

void labyrinth_options_init(struct labyrinth_options* opts) {
  if (opts == nullptr) {
    return;
  }
  *opts = labyrinth_options{};
  opts->normal_pages = 16384;
  opts->nr_cpus = 1;
  opts->max_order = 10;
  opts->pageblock_order = 9;
  opts->min_free_kbytes = -1;
  opts->watermark_scale_factor = 10;
  opts->pcp = 1;
  opts->highatomic = 1;
}

struct labyrinth* labyrinth_create(const struct labyrinth_options* opts) {
  labyrinth_options o;
  labyrinth_options_init(&o);
  if (opts != nullptr) {
    o = *opts;
  }
  const long sys_page = sysconf(_SC_PAGESIZE);
  if (sys_page <= 0) {
    return nullptr;
  }
  const std::uint64_t pages = std::uint64_t{o.dma_pages} + o.dma32_pages + o.normal_pages;
  if (pages == 0 || pages > (std::uint64_t{1} << 40) / static_cast<std::uint64_t>(sys_page)) {
    return nullptr;
  }
  laby_c_bridge::Options bo;
  bo.page_size = static_cast<std::uint64_t>(sys_page);
  bo.dma_pages = o.dma_pages;
  bo.dma32_pages = o.dma32_pages;
  bo.normal_pages = o.normal_pages;
  bo.nr_cpus = o.nr_cpus != 0 ? o.nr_cpus : 1;
  bo.max_order = o.max_order;
  bo.pageblock_order = o.pageblock_order;
  bo.min_free_kbytes = o.min_free_kbytes;
  bo.watermark_scale_factor = o.watermark_scale_factor;
  bo.pcp = o.pcp != 0;
  bo.highatomic = o.highatomic != 0;

  auto* maze = new (std::nothrow) labyrinth;
  if (maze == nullptr) {
    return nullptr;
  }
  maze->page_size = static_cast<std::size_t>(sys_page);
  maze->nr_cpus = bo.nr_cpus;
  maze->arena_bytes = static_cast<std::size_t>(pages) * maze->page_size;
  maze->model = laby_c_bridge::create(bo);
  // Address space only; the kernel commits a page when the caller first touches it.
  void* arena = maze->model == nullptr ? MAP_FAILED
                                       : mmap(nullptr, maze->arena_bytes, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) {
    laby_c_bridge::destroy(maze->model);
    delete maze;
    return nullptr;
  }
  maze->arena = static_cast<unsigned char*>(arena);
  return maze;
}

void labyrinth_destroy(struct labyrinth* maze) {
  if (maze == nullptr) {
    return;
  }
  munmap(maze->arena, maze->arena_bytes);
  laby_c_bridge::destroy(maze->model);
  delete maze;
}

void* alloc_labyrinth_pages_exclusive(struct labyrinth* maze, gfp_t gfp, unsigned int order) {
  if (maze == nullptr) {
    return nullptr;
  }
  const laby_c_bridge::AllocOut r = laby_c_bridge::allocate(maze->model, gfp, order, maze->cpu, maze->next_owner);
  maze->last_failure = r.failure;
  if (!r.ok) {
    return nullptr;
  }
  ++maze->next_owner;
  return maze->arena + static_cast<std::size_t>(r.pfn) * maze->page_size;
}

void* alloc_labyrinth_page_exclusive(struct labyrinth* maze, gfp_t gfp) {
  return alloc_labyrinth_pages_exclusive(maze, gfp, 0);
}

int labyrinth_dealloc_checked(struct labyrinth* maze, void* page) {
  if (maze == nullptr || page == nullptr) {
    return LABYRINTH_FREE_NOT_IN_ARENA;
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(page);
  const auto base = reinterpret_cast<std::uintptr_t>(maze->arena);
  if (addr < base || addr >= base + maze->arena_bytes || (addr - base) % maze->page_size != 0) {
    return LABYRINTH_FREE_NOT_IN_ARENA;
  }
  return laby_c_bridge::free_block(maze->model, (addr - base) / maze->page_size, maze->cpu);
}

void dealloc_labyrinth_page_exclusive(struct labyrinth* maze, void* page) {
  (void)labyrinth_dealloc_checked(maze, page);
}

int labyrinth_set_cpu(struct labyrinth* maze, unsigned int cpu) {
  if (maze == nullptr || cpu >= maze->nr_cpus) {
    return -1;
  }
  maze->cpu = cpu;
  return 0;
}

int labyrinth_last_failure(const struct labyrinth* maze) { return maze != nullptr ? maze->last_failure : LABYRINTH_OK; }

unsigned long labyrinth_nr_free_pages(const struct labyrinth* maze) {
  return maze != nullptr ? static_cast<unsigned long>(laby_c_bridge::nr_free_pages(maze->model)) : 0UL;
}

size_t labyrinth_page_size(const struct labyrinth* maze) { return maze != nullptr ? maze->page_size : 0; }

}  // extern "C"
