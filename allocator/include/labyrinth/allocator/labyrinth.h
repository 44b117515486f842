/*
 * labyrinth.h - C interface to the labyrinth exclusive buddy allocator.
 *
 * A maze is a user-space model of the Linux page allocator (zones, watermarks, migratetypes,
 * per-cpu lists, highatomic reserve) that hands out real, writable pages of an arena it
 * reserves with mmap. Every allocated block has exactly one owner; the order of a block is
 * remembered, so freeing needs only the pointer. See labyrinth_alloc(3).
 *
 * This header is plain C. C++ code should use labyrinth/allocator/model.hpp instead: the
 * C++ namespace `labyrinth` and this header's `struct labyrinth` cannot meet in one
 * translation unit. A maze is not thread-safe.
 */
#ifndef LABYRINTH_ALLOCATOR_LABYRINTH_H
#define LABYRINTH_ALLOCATOR_LABYRINTH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LABYRINTH_HAVE_GFP_T
#define LABYRINTH_HAVE_GFP_T
/* The kernel's gfp_t. Define LABYRINTH_HAVE_GFP_T if your code already has one. */
typedef unsigned int gfp_t;
#endif

/* gfp bits in the Linux 6.10+ layout (include/linux/gfp_types.h). */
#define LABYRINTH___GFP_DMA 0x1u
#define LABYRINTH___GFP_HIGHMEM 0x2u
#define LABYRINTH___GFP_DMA32 0x4u
#define LABYRINTH___GFP_MOVABLE 0x8u
#define LABYRINTH___GFP_RECLAIMABLE 0x10u
#define LABYRINTH___GFP_HIGH 0x20u
#define LABYRINTH___GFP_IO 0x40u
#define LABYRINTH___GFP_FS 0x80u
#define LABYRINTH___GFP_DIRECT_RECLAIM 0x400u
#define LABYRINTH___GFP_KSWAPD_RECLAIM 0x800u
#define LABYRINTH___GFP_NOWARN 0x2000u
#define LABYRINTH___GFP_NORETRY 0x10000u
#define LABYRINTH___GFP_MEMALLOC 0x20000u
#define LABYRINTH___GFP_COMP 0x40000u
#define LABYRINTH___GFP_NOMEMALLOC 0x80000u
#define LABYRINTH___GFP_HARDWALL 0x100000u

#define LABYRINTH_GFP_ATOMIC (LABYRINTH___GFP_HIGH | LABYRINTH___GFP_KSWAPD_RECLAIM)
#define LABYRINTH_GFP_KERNEL \
	(LABYRINTH___GFP_DIRECT_RECLAIM | LABYRINTH___GFP_KSWAPD_RECLAIM | LABYRINTH___GFP_IO | LABYRINTH___GFP_FS)
#define LABYRINTH_GFP_NOWAIT (LABYRINTH___GFP_KSWAPD_RECLAIM | LABYRINTH___GFP_NOWARN)
#define LABYRINTH_GFP_USER (LABYRINTH_GFP_KERNEL | LABYRINTH___GFP_HARDWALL)
#define LABYRINTH_GFP_HIGHUSER_MOVABLE (LABYRINTH_GFP_USER | LABYRINTH___GFP_HIGHMEM | LABYRINTH___GFP_MOVABLE)
#define LABYRINTH_GFP_DMA LABYRINTH___GFP_DMA
#define LABYRINTH_GFP_DMA32 LABYRINTH___GFP_DMA32

struct labyrinth;

/* How a maze is built. Call labyrinth_options_init() first, then change what you need. */
struct labyrinth_options {
	unsigned long dma_pages;     /* pages of ZONE_DMA (0: no DMA zone) */
	unsigned long dma32_pages;   /* pages of ZONE_DMA32 (0: none) */
	unsigned long normal_pages;  /* pages of ZONE_NORMAL (0: none) */
	unsigned int nr_cpus;        /* CPUs with per-cpu lists (default 1) */
	unsigned int max_order;      /* MAX_PAGE_ORDER, inclusive (default 10) */
	unsigned int pageblock_order; /* default 9, at most max_order */
	long min_free_kbytes;        /* < 0: computed like calculate_min_free_kbytes() */
	unsigned int watermark_scale_factor; /* default 10 */
	int pcp;                     /* nonzero: per-cpu lists with the kernel's rules (default 1) */
	int highatomic;              /* nonzero: high-order atomic reserve (default 1) */
};

/* Why the last allocation failed (labyrinth_last_failure). */
enum labyrinth_failure {
	LABYRINTH_OK = 0,
	LABYRINTH_FAIL_WATERMARK = 1,        /* too few free pages above the request's reserve */
	LABYRINTH_FAIL_FRAGMENTATION = 2,    /* enough free pages, no block of the order */
	LABYRINTH_FAIL_RESERVE_ONLY = 3,     /* only highatomic/CMA memory left */
	LABYRINTH_FAIL_ZONE_UNAVAILABLE = 4, /* no zone for the gfp (e.g. GFP_DMA without DMA) */
	LABYRINTH_FAIL_INVALID_ORDER = 5,    /* order above max_order */
	LABYRINTH_FAIL_INVALID_CPU = 6,      /* labyrinth_set_cpu() beyond nr_cpus */
};

/* Result of labyrinth_dealloc_checked(). */
enum labyrinth_free_status {
	LABYRINTH_FREED = 0,
	LABYRINTH_FREE_NOT_IN_ARENA = -1,    /* pointer outside the arena or not page aligned */
	LABYRINTH_FREE_DOUBLE = -2,          /* the page is already free */
	LABYRINTH_FREE_NOT_HEAD = -3,        /* inside an allocated block, not its first page */
};

void labyrinth_options_init(struct labyrinth_options *opts);
/* NULL opts: defaults (one Normal zone of 16384 pages). Returns NULL on bad options or no memory. */
struct labyrinth *labyrinth_create(const struct labyrinth_options *opts);
void labyrinth_destroy(struct labyrinth *maze);

/* One page / 2^order pages, page aligned, or NULL when the kernel's rules refuse. */
void *alloc_labyrinth_page_exclusive(struct labyrinth *maze, gfp_t gfp);
void *alloc_labyrinth_pages_exclusive(struct labyrinth *maze, gfp_t gfp, unsigned int order);
/* Frees the block starting at page with the order it was allocated with; bad pointers are ignored. */
void dealloc_labyrinth_page_exclusive(struct labyrinth *maze, void *page);
/* Same, reporting what happened (enum labyrinth_free_status). */
int labyrinth_dealloc_checked(struct labyrinth *maze, void *page);

/* The CPU whose per-cpu lists later calls use (default 0). Returns 0, or -1 if out of range. */
int labyrinth_set_cpu(struct labyrinth *maze, unsigned int cpu);
/* enum labyrinth_failure of the last allocation. */
int labyrinth_last_failure(const struct labyrinth *maze);
/* Pages free in the buddy lists of all zones (NR_FREE_PAGES; pcp pages are not counted). */
unsigned long labyrinth_nr_free_pages(const struct labyrinth *maze);
size_t labyrinth_page_size(const struct labyrinth *maze);

#ifdef __cplusplus
}
#endif

#endif /* LABYRINTH_ALLOCATOR_LABYRINTH_H */
