/* The C interface, used from C: allocate, write into the pages, free, exhaust. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labyrinth/allocator/labyrinth.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			return 1;                                                    \
		}                                                                    \
	} while (0)

enum { PAGES = 4096 };

static int basic(void)
{
	struct labyrinth_options o;
	struct labyrinth *maze;
	unsigned char *p, *q;
	size_t ps, i;

	labyrinth_options_init(&o);
	o.normal_pages = PAGES;
	maze = labyrinth_create(&o);
	CHECK(maze != NULL);
	ps = labyrinth_page_size(maze);
	CHECK(ps >= 4096);
	CHECK(labyrinth_nr_free_pages(maze) == PAGES);

	p = alloc_labyrinth_page_exclusive(maze, LABYRINTH_GFP_KERNEL);
	CHECK(p != NULL);
	CHECK((uintptr_t)p % ps == 0);
	memset(p, 0xab, ps);
	q = alloc_labyrinth_pages_exclusive(maze, LABYRINTH_GFP_KERNEL, 3);
	CHECK(q != NULL);
	CHECK(q + 8 * ps <= p || p + ps <= q);
	memset(q, 0xcd, 8 * ps);
	for (i = 0; i < ps; i++)
		CHECK(p[i] == 0xab);

	dealloc_labyrinth_page_exclusive(maze, p);
	CHECK(labyrinth_dealloc_checked(maze, p) == LABYRINTH_FREE_DOUBLE);
	CHECK(labyrinth_dealloc_checked(maze, q + ps) == LABYRINTH_FREE_NOT_HEAD);
	CHECK(labyrinth_dealloc_checked(maze, &o) == LABYRINTH_FREE_NOT_IN_ARENA);
	CHECK(labyrinth_dealloc_checked(maze, q + 1) == LABYRINTH_FREE_NOT_IN_ARENA);
	CHECK(labyrinth_dealloc_checked(maze, q) == LABYRINTH_FREED);

	/* No DMA zone in this maze. */
	CHECK(alloc_labyrinth_page_exclusive(maze, LABYRINTH_GFP_DMA) == NULL);
	CHECK(labyrinth_last_failure(maze) == LABYRINTH_FAIL_ZONE_UNAVAILABLE);
	CHECK(alloc_labyrinth_pages_exclusive(maze, LABYRINTH_GFP_KERNEL, 11) == NULL);
	CHECK(labyrinth_last_failure(maze) == LABYRINTH_FAIL_INVALID_ORDER);
	CHECK(labyrinth_set_cpu(maze, 1) == -1);
	labyrinth_destroy(maze);
	return 0;
}

/* GFP_KERNEL may "reclaim": it gets every page, then NULL. Each page is written with its
 * index and read back, so two allocations never share a page. */
static int exhaustion(void)
{
	struct labyrinth_options o;
	struct labyrinth *maze;
	unsigned char **pages;
	size_t ps, n = 0, i;

	labyrinth_options_init(&o);
	o.normal_pages = PAGES;
	o.nr_cpus = 2;
	maze = labyrinth_create(&o);
	CHECK(maze != NULL);
	CHECK(labyrinth_set_cpu(maze, 1) == 0);
	ps = labyrinth_page_size(maze);
	pages = calloc(PAGES + 1, sizeof(*pages));
	CHECK(pages != NULL);
	for (;;) {
		unsigned char *p = alloc_labyrinth_page_exclusive(maze, LABYRINTH_GFP_KERNEL);
		if (p == NULL)
			break;
		CHECK(n < PAGES);
		memcpy(p, &n, sizeof(n));
		memset(p + sizeof(n), (int)(n & 0xff), ps - sizeof(n));
		pages[n++] = p;
	}
	CHECK(n == PAGES);
	CHECK(labyrinth_last_failure(maze) == LABYRINTH_FAIL_WATERMARK);
	CHECK(labyrinth_nr_free_pages(maze) == 0);
	for (i = 0; i < n; i++) {
		size_t got;
		memcpy(&got, pages[i], sizeof(got));
		CHECK(got == i);
		CHECK(pages[i][ps - 1] == (unsigned char)(i & 0xff));
	}
	for (i = 0; i < n; i++)
		CHECK(labyrinth_dealloc_checked(maze, pages[i]) == LABYRINTH_FREED);
	CHECK(alloc_labyrinth_pages_exclusive(maze, LABYRINTH_GFP_KERNEL, 10) != NULL);

	/* GFP_ATOMIC cannot reclaim: it stops at 3/8 of the min watermark. */
	labyrinth_destroy(maze);
	maze = labyrinth_create(&o);
	CHECK(maze != NULL);
	n = 0;
	while (alloc_labyrinth_page_exclusive(maze, LABYRINTH_GFP_ATOMIC) != NULL)
		n++;
	CHECK(n < PAGES);
	CHECK(n > PAGES - 200);
	CHECK(labyrinth_last_failure(maze) == LABYRINTH_FAIL_WATERMARK);
	labyrinth_destroy(maze);
	free(pages);
	return 0;
}

int main(void)
{
	if (basic() != 0 || exhaustion() != 0)
		return 1;
	puts("c_api_test: ok");
	return 0;
}
