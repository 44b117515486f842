// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * labyrinth's kernel half: one 40-byte record per kmem page event. User space
 * (ebpf/collector.cpp) sets the const volatile tunables before load, turns off the
 * programs of tracepoints it does not want, and resizes the maps.
 *
 * Cost matters more than anything here: the allocator fires up to ~2 M events/s on two
 * CPUs. Measured on 6.18, a ring-buffer reservation per record costs ~150 ns (the
 * producer and consumer positions bounce between CPUs), so records are written into a
 * per-CPU batch and a full batch goes out as one sample with bpf_ringbuf_output(). The
 * consumer is woken only when a threshold of unread bytes is reached (the default
 * per-sample wake-up costs an irq_work each), and polls with a timeout for the rest.
 *
 * Partial batches of idle CPUs are pushed out by user space, which runs flush_batches on
 * every CPU through BPF_PROG_TEST_RUN (BPF_F_TEST_RUN_ON_CPU). That run may interrupt a
 * tracepoint program on the same CPU (it comes as an IPI), or be interrupted by one (when it
 * runs on the caller's CPU), so the batch has an owner flag: whoever finds it taken stays
 * off the batch (the flush reports "busy" and is retried; a tracepoint program sends its
 * record on its own). Tracepoint programs never nest on one CPU (bpf_prog_active).
 */
#include "kmem_core.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "page_record.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;    /* -p: 0 = every process */
const volatile __u32 min_order = 0;      /* --min-order */
const volatile __u64 wakeup_bytes = 0;   /* force a wake-up at this much unread data; 0 = per sample */
const volatile __s64 preempt_delta = 0;  /* &__preempt_count - &runqueues in the per-cpu area */
const volatile __u8 have_preempt = 0;    /* preempt_delta is valid */
const volatile __s64 cpu_offset_delta = 0; /* &this_cpu_off - &__preempt_count in the per-cpu area */
const volatile __u8 have_cpu_offset = 0; /* cpu_offset_delta is valid (needs have_preempt) */
const volatile __u32 nr_cpus = 0;        /* possible CPUs: ids below it */
/* The CPUs online at the start, whose vmstat diffs a zone record sums (an offline CPU's were
 * folded when it went down: mm/vmstat.c:vmstat_cpu_dead). A bit per CPU id. */
const volatile __u64 online_cpus[PGREC_MAX_CPUS / 64] = {};
const volatile __u8 have_rdonly_cast = 0; /* the kernel has the bpf_rdonly_cast kfunc (6.2+) */
const volatile __u8 want_stacks = 0;     /* -g */
const volatile __u8 want_comm = 1;       /* send thread names */
const volatile __u32 batch_max = PGREC_BATCH; /* records per sample, 1..PGREC_BATCH */
const volatile __u32 page_shift = 6;     /* log2(sizeof(struct page)), for the raw_tp programs */

/*
 * The raw_tp programs get the struct page pointer; pfn = (page - vmemmap_base) >> page_shift
 * (SPARSEMEM_VMEMMAP). vmemmap_base is randomized at boot and not in kallsyms, so user space
 * measures it before attaching them: it runs `calibrate`, touches a page, and compares the
 * pointer seen here with the pfn /proc/self/pagemap gives.
 */
__u64 vmemmap_base = 0;
__u32 calib_tid = 0;
__u64 calib_page = 0;

/* Times the kernel recomputed the watermarks (min_free_kbytes or watermark_scale_factor
 * written, memory onlined, deferred init growing a zone): user space reads it from the
 * mapped .bss and takes a keyframe at once, so that replay follows the new values. */
__u64 watermark_changes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by user space */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pgrec_cpu_state);
} cpu_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1); /* resized by user space when -g is given */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PGREC_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

#define barrier() asm volatile("" ::: "memory")
#define WRITE_ONCE_U32(x, v) (*(volatile __u32 *)&(x) = (v))
#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))

static __always_inline __u64 submit_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
}

/* Sends the batch of this CPU; the caller owns it (busy). */
static __always_inline void flush(struct pgrec_cpu_state *st)
{
	__u32 n = st->n;

	if (n == 0)
		return;
	if (n > PGREC_BATCH)
		n = PGREC_BATCH;
	if (bpf_ringbuf_output(&events, st->batch, (__u64)n * sizeof(struct pgrec_event), submit_flags()))
		st->drops += n;
	st->n = 0;
}

/* The slot for the next record, sending the batch first if it is full. */
static __always_inline struct pgrec_event *slot(struct pgrec_cpu_state *st)
{
	__u32 n = st->n;

	if (n >= batch_max || n >= PGREC_BATCH) {
		flush(st);
		n = 0;
	}
	st->n = n + 1;
	return &st->batch[n & (PGREC_BATCH - 1)];
}

/*
 * Each CPU's per-cpu offset (its this_cpu_off, which per_cpu_ptr adds), noted by the CPU itself
 * the first time it resolves its __preempt_count: a zone record sums every CPU's vmstat diff.
 */
__u64 cpu_offset[PGREC_MAX_CPUS] = {};

static __always_inline void note_cpu_offset(__u64 preempt_addr)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 off = 0;

	if (!have_cpu_offset || cpu >= PGREC_MAX_CPUS)
		return;
	bpf_probe_read_kernel(&off, sizeof(off), (const void *)(preempt_addr + cpu_offset_delta));
	cpu_offset[cpu & (PGREC_MAX_CPUS - 1)] = off;
}

/*
 * Where the CPU is: task, softirq, hardirq or NMI. tracepoint programs cannot read
 * common_preempt_count (the verifier refuses ctx offsets below 8), and __preempt_count is
 * not in kallsyms without CONFIG_KALLSYMS_ALL, so read it relative to this CPU's runqueue,
 * which current->se.cfs_rq->rq gives us. The address is cached per CPU.
 */
static __always_inline __u8 exec_context(struct pgrec_cpu_state *st)
{
	__u32 pc = 0;

	if (!have_preempt)
		return PGREC_CTX_UNKNOWN;
	if (!st->preempt_addr) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u64 rq = (__u64)BPF_CORE_READ(task, se.cfs_rq, rq);

		if (!rq)
			return PGREC_CTX_UNKNOWN;
		st->preempt_addr = rq + preempt_delta;
		note_cpu_offset(st->preempt_addr);
	}
	if (have_rdonly_cast) {
		/* a direct load with fault fixup: ~50 ns cheaper than bpf_probe_read_kernel() */
		struct qspinlock *p = bpf_rdonly_cast((const void *)st->preempt_addr,
						      bpf_core_type_id_kernel(struct qspinlock));
		pc = (__u32)p->val.counter;
	} else if (bpf_probe_read_kernel(&pc, sizeof(pc), (const void *)st->preempt_addr)) {
		return PGREC_CTX_UNKNOWN;
	}
	if (pc & PGREC_NMI_MASK)
		return PGREC_CTX_NMI;
	if (pc & PGREC_HARDIRQ_MASK)
		return PGREC_CTX_HARDIRQ;
	if (pc & PGREC_SOFTIRQ_OFFSET)
		return PGREC_CTX_SOFTIRQ;
	if (pc & PGREC_SOFTIRQ_MASK)
		return PGREC_CTX_TASK | PGREC_FLAG_BH_DISABLED;
	return PGREC_CTX_TASK;
}

/*
 * The allocating task's state that __alloc_pages reads besides the gfp mask, as the
 * kTask* bits of traces::PageEvent::task_state: PF_MEMALLOC (no watermarks), a real-time or
 * deadline priority (rt_or_dl_task: ALLOC_MIN_RESERVE for a request that may reclaim), an OOM
 * victim (signal->oom_mm: ALLOC_OOM). Direct loads where bpf_rdonly_cast exists.
 */
#define PGREC_PF_MEMALLOC 0x00000800 /* include/linux/sched.h */
#define PGREC_MAX_RT_PRIO 100        /* include/linux/sched/prio.h */
static __always_inline __s32 task_state(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct signal_struct *sig;
	unsigned int flags;
	int prio;
	void *oom_mm = 0;

	if (have_rdonly_cast) {
		t = bpf_rdonly_cast(t, bpf_core_type_id_kernel(struct task_struct));
		flags = t->flags;
		prio = t->prio;
		sig = bpf_rdonly_cast(t->signal, bpf_core_type_id_kernel(struct signal_struct));
		if (sig && bpf_core_field_exists(sig->oom_mm))
			oom_mm = sig->oom_mm;
	} else {
		flags = BPF_CORE_READ(t, flags);
		prio = BPF_CORE_READ(t, prio);
		sig = BPF_CORE_READ(t, signal);
		if (sig && bpf_core_field_exists(sig->oom_mm))
			oom_mm = BPF_CORE_READ(sig, oom_mm);
	}
	return ((flags & PGREC_PF_MEMALLOC) ? 1 : 0) | (prio < PGREC_MAX_RT_PRIO ? 2 : 0) | (oom_mm ? 4 : 0);
}

/*
 * The zone counters at a failed allocation: what __zone_watermark_ok reads, so that replay
 * need not infer the kernel's state at the instant it failed. Each node's pglist_data comes
 * from its kswapd thread: user space runs find_node_data once, before the page programs are
 * attached.
 */
__u64 node_pgdat[PGREC_MAX_NODES] = {};

#define PGREC_PF_KSWAPD 0x00020000  /* include/linux/sched.h */
#define PGREC_PF_KTHREAD 0x00200000

SEC("iter/task")
int find_node_data(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct pglist_data *pgdat;
	int nid;

	if (!t || !bpf_core_field_exists(t->worker_private))
		return 0;
	if ((t->flags & (PGREC_PF_KSWAPD | PGREC_PF_KTHREAD)) != (PGREC_PF_KSWAPD | PGREC_PF_KTHREAD))
		return 0;
	pgdat = BPF_CORE_READ((struct kthread *)t->worker_private, data);
	if (!pgdat || BPF_CORE_READ(pgdat, kswapd) != t)  /* kswapd's own argument, not another's */
		return 0;
	nid = BPF_CORE_READ(pgdat, node_id);
	if (nid >= 0 && nid < PGREC_MAX_NODES)
		node_pgdat[nid] = (__u64)pgdat;
	return 0;
}

/* Eight bytes of kernel memory (a direct load with fault fixup where bpf_rdonly_cast exists). */
static __always_inline __u64 kernel_u64(__u64 addr)
{
	__u64 v = 0;

	if (have_rdonly_cast) {
		struct rb_node *p = bpf_rdonly_cast((const void *)addr, bpf_core_type_id_kernel(struct rb_node));

		return p->__rb_parent_color;
	}
	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

static __always_inline void fill_zone_state(struct pgrec_event *e, __u64 ts, __u16 cpu, __u8 where, __s64 free,
					    __u64 hafree, __u64 hares, __u64 boost, __u64 lists, __s32 diffs)
{
	e->ts_ns = ts;
	e->pfn = free < 0 ? 0 : (__u64)free;
	e->gfp = hafree > 0xffffffffULL ? 0xffffffffU : (__u32)hafree;
	e->stack = hares > 0xffffffffULL ? 0xffffffffU : (__u32)hares;
	e->tid = boost > 0xffffffffULL ? 0xffffffffU : (__u32)boost;
	e->tgid = (__u32)lists;
	e->cpu = cpu;
	e->kind = PGREC_ZONE_STATE;
	e->ctx = where;
	e->order = (__u8)(lists >> 32);
	e->migratetype = (__s8)(lists >> 40);
	e->fb_order = (__s8)(diffs & 0xff);
	e->fb_migratetype = (__s8)((diffs >> 8) & 0xff);
}

/* The sum of every CPU's vm_stat_diff[NR_FREE_PAGES] of `zone` (mm/vmstat.c: each CPU holds
 * its changes back up to its stat threshold), or PGREC_DIFFS_UNKNOWN. Racy by nature: other
 * CPUs move on while it reads, as they do under the kernel's own zone_page_state_snapshot. */
static __always_inline __s32 zone_free_diffs(__u64 zone)
{
	__u64 stats = kernel_u64(zone + bpf_core_field_offset(struct zone, per_cpu_zonestats));
	__u64 item = bpf_core_field_offset(struct per_cpu_zonestat, vm_stat_diff) +
		     bpf_core_enum_value(enum zone_stat_item, NR_FREE_PAGES);
	__s32 sum = 0;

	if (!have_cpu_offset || !stats || nr_cpus == 0 || nr_cpus > PGREC_MAX_CPUS)
		return PGREC_DIFFS_UNKNOWN;
#pragma clang loop unroll(disable)
	for (__u32 c = 0; c < PGREC_MAX_CPUS && c < nr_cpus; c++) {
		__u64 off = cpu_offset[c & (PGREC_MAX_CPUS - 1)];
		__s8 diff = 0;

		if (!((online_cpus[(c / 64) & (PGREC_MAX_CPUS / 64 - 1)] >> (c % 64)) & 1))
			continue;
		if (!off)
			return PGREC_DIFFS_UNKNOWN;
		if (bpf_probe_read_kernel(&diff, sizeof(diff), (const void *)(stats + off + item)))
			return PGREC_DIFFS_UNKNOWN;
		sum += diff;
	}
	return sum < -32767 ? -32767 : sum > 32767 ? 32767 : sum;
}

struct zone_walk {
	struct pgrec_cpu_state *st;
	__u64 ts;
	int in_batch;
};

/* bpf_loop callback: the zone `index` (node * PGREC_MAX_ZONES + zone), one record if it is
 * populated. A callback is verified once, whatever the number of zones; a plain loop made the
 * verifier walk every combination of populated zones and refuse the alloc programs. */
static long send_zone_state(__u64 index, void *arg)
{
	struct zone_walk *w = arg;
	struct pgrec_cpu_state *st = w->st;
	__u32 n = (__u32)index / PGREC_MAX_ZONES, z = (__u32)index % PGREC_MAX_ZONES;
	__u32 zone_size = bpf_core_type_size(struct zone);
	__u32 area_size = bpf_core_type_size(struct free_area);
	__u32 norders = bpf_core_field_size(struct zone, free_area) / area_size;
	__u32 list_size = bpf_core_type_size(struct list_head);
	__u64 pgdat, zone, hafree = 0, lists = 0;
	struct pgrec_event *e;

	if (!st || n >= PGREC_MAX_NODES || z >= bpf_core_field_size(struct pglist_data, node_zones) / zone_size)
		return 0;
	pgdat = node_pgdat[n & (PGREC_MAX_NODES - 1)];
	if (!pgdat)
		return 0;
	zone = pgdat + bpf_core_field_offset(struct pglist_data, node_zones) + (__u64)z * zone_size;
	if ((__s64)kernel_u64(zone + bpf_core_field_offset(struct zone, managed_pages)) <= 0)
		return 0;
	if (bpf_core_field_exists(((struct zone *)0)->nr_free_highatomic))
		hafree = kernel_u64(zone + bpf_core_field_offset(struct zone, nr_free_highatomic));
#pragma clang loop unroll(disable)
	for (int o = 0; o < PGREC_ZONE_LIST_ORDERS && o < norders; o++) {
		__u64 area = zone + bpf_core_field_offset(struct zone, free_area) + (__u64)o * area_size +
			     bpf_core_field_offset(struct free_area, free_list);

#pragma clang loop unroll(disable)
		for (int t = 0; t < PGREC_ZONE_LIST_TYPES; t++) {
			__u64 head = area + (__u64)t * list_size;
			/* Without a branch, so that the verifier walks one path through the loop:
			 * the barrier keeps the compiler from seeing "other != 0", which it would
			 * turn back into a branch. */
			__u64 other = kernel_u64(head) ^ head;
			__u64 minus = -other;

			asm volatile("" : "+r"(minus));
			lists |= ((other | minus) >> 63) << (o * PGREC_ZONE_LIST_TYPES + t);
		}
	}
	if (w->in_batch) {
		e = slot(st);
	} else {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			st->drops++;
			return 0;
		}
	}
	fill_zone_state(e, w->ts, (__u16)bpf_get_smp_processor_id(),
			(__u8)((z & PGREC_ZONE_INDEX_MASK) | (n << PGREC_ZONE_NODE_SHIFT)),
			(__s64)kernel_u64(zone + bpf_core_field_offset(struct zone, vm_stat) +
					  bpf_core_enum_value(enum zone_stat_item, NR_FREE_PAGES) * sizeof(__u64)),
			hafree, kernel_u64(zone + bpf_core_field_offset(struct zone, nr_reserved_highatomic)),
			kernel_u64(zone + bpf_core_field_offset(struct zone, watermark_boost)), lists,
			zone_free_diffs(zone));
	if (!w->in_batch)
		bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* One record per populated zone, stamped `ts` (the failure's). in_batch: the caller owns the
 * batch; otherwise each goes alone. */
static __always_inline void send_zone_states(struct pgrec_cpu_state *st, __u64 ts, int in_batch)
{
	struct zone_walk w = {.st = st, .ts = ts, .in_batch = in_batch};

	bpf_loop(PGREC_MAX_NODES * PGREC_MAX_ZONES, send_zone_state, &w, 0);
}

/*
 * The free lists themselves, for keyframes' free-page maps: every block on every zone's
 * free_area[order].free_list[type], read in a few milliseconds where a scan of
 * /proc/kpageflags takes ~0.2 s of CPU for 24 GiB. User space runs walk_free_lists (a test
 * run, as flush_batches) and reads the blocks from free_blocks.
 * The lists are read without the zone lock, as the kpageflags scan reads page flags: a list
 * that changes under the walk may end it early (an entry outside the zone is counted as a
 * stray and its list left), so the map is as exact as the moment allows, and replay treats it
 * as it treats the scan's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by user space when keyframes carry free maps */
} free_blocks SEC(".maps");

/* The walk's state lives in a map value, not on the stack: the verifier would follow a stack
 * counter's every value through the bpf_loop callback and give up. */
struct free_walk {
	struct pgrec_free_batch b;
	__u64 head;  /* the list being read, 0: open the next one */
	__u64 cur;   /* its entry to read next */
	__u64 lo;    /* the zone's pfn span */
	__u64 hi;
	__u64 tag;   /* order, type, zone and node bits of this list's blocks */
	__u32 list;  /* the next list to open */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct free_walk);
} free_walk_state SEC(".maps");

#define PGREC_FREE_LISTS (PGREC_MAX_NODES * PGREC_MAX_ZONES * PGREC_MAX_ORDERS * PGREC_FREE_LIST_TYPES)

static __always_inline void send_free_batch(struct pgrec_free_batch *b)
{
	__u32 n = b->n;

	if (n > PGREC_FREE_BATCH)
		n = PGREC_FREE_BATCH;
	if (bpf_ringbuf_output(&free_blocks, b, offsetof(struct pgrec_free_batch, blocks) + (__u64)n * sizeof(__u64), 0))
		b->lost++;
	b->n = 0;
}

/* Opens list l: ((node * PGREC_MAX_ZONES + zone) * PGREC_MAX_ORDERS + order) * PGREC_FREE_LIST_TYPES
 * + type, if the kernel has it and the zone is populated. */
static __always_inline void open_free_list(struct free_walk *w, __u32 l)
{
	__u32 t = l % PGREC_FREE_LIST_TYPES, o = (l / PGREC_FREE_LIST_TYPES) % PGREC_MAX_ORDERS;
	__u32 zi = l / (PGREC_FREE_LIST_TYPES * PGREC_MAX_ORDERS);
	__u32 z = zi % PGREC_MAX_ZONES, n = zi / PGREC_MAX_ZONES;
	__u32 zone_size = bpf_core_type_size(struct zone);
	__u32 area_size = bpf_core_type_size(struct free_area);
	__u32 list_size = bpf_core_type_size(struct list_head);
	__u64 pgdat, zone, head;

	if (n >= PGREC_MAX_NODES || z >= bpf_core_field_size(struct pglist_data, node_zones) / zone_size ||
	    o >= bpf_core_field_size(struct zone, free_area) / area_size ||
	    t >= bpf_core_field_size(struct free_area, free_list) / list_size)
		return;
	pgdat = node_pgdat[n & (PGREC_MAX_NODES - 1)];
	if (!pgdat)
		return;
	zone = pgdat + bpf_core_field_offset(struct pglist_data, node_zones) + (__u64)z * zone_size;
	if ((__s64)kernel_u64(zone + bpf_core_field_offset(struct zone, managed_pages)) <= 0)
		return;
	head = zone + bpf_core_field_offset(struct zone, free_area) + (__u64)o * area_size +
	       bpf_core_field_offset(struct free_area, free_list) + (__u64)t * list_size;
	w->lo = kernel_u64(zone + bpf_core_field_offset(struct zone, zone_start_pfn));
	w->hi = w->lo + kernel_u64(zone + bpf_core_field_offset(struct zone, spanned_pages));
	w->tag = ((__u64)o << PGREC_FREE_ORDER_SHIFT) | ((__u64)t << PGREC_FREE_TYPE_SHIFT) |
		 ((__u64)z << PGREC_FREE_ZONE_SHIFT) | ((__u64)n << PGREC_FREE_NODE_SHIFT);
	w->head = head;
	w->cur = kernel_u64(head);
}

/* bpf_loop callback: one step of the walk, an entry read or a list opened. */
static long free_walk_step(__u64 index, void *arg)
{
	__u32 zero = 0;
	struct free_walk *w = bpf_map_lookup_elem(&free_walk_state, &zero);
	struct pgrec_free_batch *b;
	__u64 pfn;
	__u32 n;

	if (!w)
		return 1;
	b = &w->b;
	if (!w->head) {
		if (w->list >= PGREC_FREE_LISTS)
			return 1;
		open_free_list(w, w->list++);
		return 0;
	}
	if (w->cur == w->head || !w->cur) {
		w->head = 0;
		return 0;
	}
	pfn = (w->cur - bpf_core_field_offset(struct page, lru) - vmemmap_base) >> page_shift;
	if (pfn < w->lo || pfn >= w->hi) {
		b->strays++;
		w->head = 0;
		return 0;
	}
	n = b->n;
	if (n >= PGREC_FREE_BATCH) {
		send_free_batch(b);
		n = 0;
	}
	if (n < PGREC_FREE_BATCH)
		b->blocks[n] = pfn | w->tag;
	b->n = n + 1;
	b->walked++;
	w->cur = kernel_u64(w->cur);
	return 0;
}

/* Run by user space through BPF_PROG_TEST_RUN, on its own CPU, right after it reads
 * /proc/buddyinfo: the walk begins microseconds later. */
SEC("raw_tp")
int walk_free_lists(void *ctx)
{
	__u32 zero = 0;
	struct free_walk *w;
	struct pgrec_free_batch *b;

	w = bpf_map_lookup_elem(&free_walk_state, &zero);
	if (!w || !vmemmap_base)
		return 0;
	b = &w->b;
	b->n = 0;
	b->last = 0;
	b->walked = b->strays = b->lost = 0;
	w->head = w->cur = 0;
	w->list = 0;
	b->ts_start = bpf_ktime_get_boot_ns();
	b->unfinished = bpf_loop(PGREC_FREE_WALK_STEPS, free_walk_step, 0, 0) >= PGREC_FREE_WALK_STEPS;
	b->ts_end = bpf_ktime_get_boot_ns();
	b->last = 1;
	send_free_batch(b);
	return 0;
}

static __always_inline void fill_comm(struct pgrec_comm *c, __u64 ts, __u32 tid, __u32 tgid)
{
	c->ts_ns = ts;
	c->tid = tid;
	c->tgid = tgid;
	c->cpu = (__u16)bpf_get_smp_processor_id();
	c->kind = PGREC_COMM;
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

struct pgrec_fields {
	__u64 pfn;
	__u32 order;
	__u32 gfp;
	__s32 migratetype;
	__s32 fb_order;
	__s32 fb_migratetype;
	__u8 flags;
	__u32 range; /* isolate: pages scanned from pfn (sent in the stack field) */
	__u8 counters; /* alloc: a failure sends the zone counters first (a constant of the program:
			* the programs without them hold no bpf_loop, which kernels before 5.17 lack) */
};

static __always_inline void fill_event(struct pgrec_event *e, __u8 ectx, __u64 ts, __u8 kind,
				       const struct pgrec_fields *f, __u32 tid, __u32 tgid, __u32 stack)
{
	e->ts_ns = ts;
	e->pfn = f->pfn;
	e->gfp = f->gfp;
	e->stack = stack;
	e->tid = tid;
	e->tgid = tgid;
	e->cpu = (__u16)bpf_get_smp_processor_id();
	e->kind = kind;
	e->ctx = ectx | f->flags;
	e->order = (__u8)f->order;
	e->migratetype = (__s8)f->migratetype;
	e->fb_order = (__s8)f->fb_order;
	e->fb_migratetype = (__s8)f->fb_migratetype;
}

/* A flush holds this CPU's batch (we interrupted it): send the record alone. */
static __always_inline void emit_alone(struct pgrec_cpu_state *st, __u8 ectx, __u64 ts, __u8 kind,
				       const struct pgrec_fields *f, __u32 tid, __u32 tgid, __u32 stack)
{
	struct pgrec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	st->bypass++;
	if (!e) {
		st->drops++;
		return;
	}
	fill_event(e, ectx, ts, kind, f, tid, tgid, stack);
	bpf_ringbuf_submit(e, submit_flags());
}

static __always_inline int is_kswapd_kind(__u8 kind)
{
	return kind == PGREC_KSWAPD_WAKE || kind == PGREC_KSWAPD_SLEEP;
}

/* Sends one event; `ectx` is where the CPU is (exec_context()). */
static __always_inline int emit_with(void *ctx, struct pgrec_cpu_state *st, __u8 ectx, const __u8 kind,
				     const struct pgrec_fields *f)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	__u32 stack = f->range;
	__u64 ts;

	/* kswapd's passes are the node's, whichever process is recorded */
	if (target_tgid && tgid != target_tgid && !is_kswapd_kind(kind))
		return 0;
	/* --min-order picks page events; a reclaim stall or pass matters whatever the order */
	if (f->order < min_order && kind != PGREC_RECLAIM_BEGIN && kind != PGREC_RECLAIM_END && !is_kswapd_kind(kind) &&
	    !(kind == PGREC_EXTFRAG && (f->flags & PGREC_FLAG_PAGEBLOCK_MOVE)))
		return 0;
	st->seen[kind]++;
	if (want_stacks && kind != PGREC_ISOLATE && kind != PGREC_RECLAIM_END && !is_kswapd_kind(kind)) {
		long sid = bpf_get_stackid(ctx, &stacks, 0);

		if (sid >= 0)
			stack = (__u32)sid + 1;
		else
			st->stack_errors++;
	}
	if (READ_ONCE_U32(st->busy)) {
		ts = bpf_ktime_get_boot_ns();
		if (kind == PGREC_ALLOC && f->counters && f->pfn == ~0ULL)
			send_zone_states(st, ts, 0);
		emit_alone(st, ectx, ts, kind, f, tid, tgid, stack);
		return 0;
	}
	/* Own the batch before taking the time: a flush that finds it free has every record
	 * stamped before it. */
	WRITE_ONCE_U32(st->busy, 1);
	barrier();
	ts = bpf_ktime_get_boot_ns();
	if (want_comm && st->last_tid != tid) {
		fill_comm((struct pgrec_comm *)slot(st), ts, tid, tgid);
		st->last_tid = tid;
	}
	if (kind == PGREC_ALLOC && f->counters && f->pfn == ~0ULL)
		send_zone_states(st, ts, 1);
	fill_event(slot(st), ectx, ts, kind, f, tid, tgid, stack);
	if (st->n >= batch_max)
		flush(st);
	barrier();
	WRITE_ONCE_U32(st->busy, 0);
	return 0;
}

static __always_inline struct pgrec_cpu_state *cpu_state_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_state, &zero);
}

/* Classic tracepoint programs: one copy serves every context (they never nest). */
static __always_inline int emit(void *ctx, const __u8 kind, const struct pgrec_fields *f)
{
	struct pgrec_cpu_state *st = cpu_state_here();

	if (!st)
		return 0;
	return emit_with(ctx, st, exec_context(st), kind, f);
}

/*
 * A raw_tp copy (see RAW_COPIES below). The main copy runs first for every event and sends
 * it, leaving a tag of the event at its nesting level; the stand-in runs next and sends only
 * an event the main copy did not tag, one the kernel skipped it for. Levels keep apart the
 * tags of events that interrupt one another (a softirq's event between the two copies of a
 * task's). Without the preempt counter every event counts as task level: an interrupting
 * event may then overwrite a tag and the stand-in send that event a second time.
 */
static __always_inline int emit_in(void *ctx, const __u8 kind, const struct pgrec_fields *f, __u8 me)
{
	struct pgrec_cpu_state *st = cpu_state_here();
	__u64 tag = (f->pfn << 1) | 1; /* never 0, the empty slot; failed allocations included */
	__u64 *claimed;
	__u8 ectx, level;

	if (!st)
		return 0;
	ectx = exec_context(st);
	level = ectx & PGREC_CTX_MASK;
	if (level >= PGREC_LEVELS)
		level = PGREC_CTX_TASK;
	claimed = &st->claimed[kind & (PGREC_NR_KINDS_POW2 - 1)][level & (PGREC_LEVELS - 1)];
	if (me == PGREC_COPY_MAIN) {
		*claimed = tag;
	} else if (*claimed == tag) {
		*claimed = 0;
		return 0;
	} else {
		st->stood_in[kind & (PGREC_NR_KINDS_POW2 - 1)]++;
	}
	return emit_with(ctx, st, ectx, kind, f);
}

static __always_inline int tp_page_alloc(struct trace_event_raw_mm_page_alloc *ctx, __u8 counters)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = ctx->order,
		.gfp = (__u32)ctx->gfp_flags,
		.migratetype = ctx->migratetype,
		.fb_order = task_state(),
		.fb_migratetype = -1,
		.counters = counters,
	};

	return emit(ctx, PGREC_ALLOC, &f);
}

/* The alloc programs come in two variants, with and without the zone counters at failures;
 * user space loads one. */
SEC("tp/kmem/mm_page_alloc")
int handle_mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	return tp_page_alloc(ctx, 0);
}

SEC("tp/kmem/mm_page_alloc")
int handle_mm_page_alloc_zc(struct trace_event_raw_mm_page_alloc *ctx)
{
	return tp_page_alloc(ctx, 1);
}

SEC("tp/kmem/mm_page_free")
int handle_mm_page_free(struct trace_event_raw_mm_page_free *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = ctx->order,
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_FREE, &f);
}

SEC("tp/kmem/mm_page_free_batched")
int handle_mm_page_free_batched(struct trace_event_raw_mm_page_free_batched *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_FREE_BATCHED, &f);
}

SEC("tp/kmem/mm_page_alloc_zone_locked")
int handle_mm_page_alloc_zone_locked(struct trace_event_raw_mm_page *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = ctx->order,
		.migratetype = ctx->migratetype,
		.fb_migratetype = -1,
	};

	if (bpf_core_field_exists(ctx->percpu_refill) && ctx->percpu_refill)
		f.flags = PGREC_FLAG_PERCPU_REFILL;
	return emit(ctx, PGREC_PCP_REFILL, &f);
}

SEC("tp/kmem/mm_page_pcpu_drain")
int handle_mm_page_pcpu_drain(struct trace_event_raw_mm_page_pcpu_drain *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = ctx->order,
		.migratetype = ctx->migratetype,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_PCP_DRAIN, &f);
}

SEC("tp/kmem/mm_page_alloc_extfrag")
int handle_mm_page_alloc_extfrag(struct trace_event_raw_mm_page_alloc_extfrag *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = (__u32)ctx->alloc_order,
		.migratetype = ctx->alloc_migratetype,
		.fb_order = ctx->fallback_order,
		.fb_migratetype = ctx->fallback_migratetype,
	};

	if (bpf_core_field_exists(ctx->change_ownership) && ctx->change_ownership)
		f.flags = PGREC_FLAG_CHANGE_OWNER;
	return emit(ctx, PGREC_EXTFRAG, &f);
}

/*
 * The same events through raw tracepoints: the kernel calls these directly with the
 * tracepoint's arguments, without first filling a perf trace record, which costs less per
 * event. Used when the kernel's argument lists match and vmemmap_base is known.
 *
 * A raw_tp program is skipped (and counted in its recursion_misses) when the same program is
 * already running on that CPU: a softirq's allocation that interrupts a task's is lost. So
 * each handler is loaded twice and the kernel calls both copies, in the order attached, for
 * every event (emit_in): the main copy sends, and the stand-in sends what the kernel skipped
 * the main copy for, since the main copy was running in an outer frame on this CPU. An
 * event is lost only when both were (three levels of page events nested at once); user
 * space counts those from the kernel's misses of the main copy less `stood_in`. An earlier
 * design with one copy per execution context that sent only its own context's events ran a
 * copy more per event and lost a whole softirq's events when the interrupt came between the
 * kernel marking a copy busy and the copy marking itself (bench/record/ftrace_crosscheck.sh:
 * 545 frees of 2.6 M missed in 8 s of fork+exec beside a page-touching loop). The batch owner
 * flag sends the inner record alone.
 */
static __always_inline __u64 page_to_pfn(__u64 page)
{
	return (page - vmemmap_base) >> page_shift;
}

static __always_inline int raw_page_alloc_with(struct bpf_raw_tracepoint_args *ctx, __u8 want, __u8 counters)
{
	/* (struct page *page, unsigned int order, gfp_t gfp_flags, int migratetype) */
	__u64 page = ctx->args[0];
	struct pgrec_fields f = {
		.pfn = page ? page_to_pfn(page) : ~0ULL,
		.order = (__u32)ctx->args[1],
		.gfp = (__u32)ctx->args[2],
		.migratetype = (__s32)ctx->args[3],
		.fb_order = task_state(), /* alloc: the task's state */
		.fb_migratetype = -1,
		.counters = counters,
	};

	return emit_in(ctx, PGREC_ALLOC, &f, want);
}

static __always_inline int raw_page_alloc(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	return raw_page_alloc_with(ctx, want, 0);
}

static __always_inline int raw_page_alloc_zc(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	return raw_page_alloc_with(ctx, want, 1);
}

static __always_inline int raw_page_free(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	/* (struct page *page, unsigned int order) */
	struct pgrec_fields f = {
		.pfn = page_to_pfn(ctx->args[0]),
		.order = (__u32)ctx->args[1],
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit_in(ctx, PGREC_FREE, &f, want);
}

static __always_inline int raw_page_free_batched(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	/* (struct page *page) */
	struct pgrec_fields f = {
		.pfn = page_to_pfn(ctx->args[0]),
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit_in(ctx, PGREC_FREE_BATCHED, &f, want);
}

static __always_inline int raw_page_alloc_zone_locked(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	/* (struct page *page, unsigned int order, int migratetype, int percpu_refill) */
	struct pgrec_fields f = {
		.pfn = page_to_pfn(ctx->args[0]),
		.order = (__u32)ctx->args[1],
		.migratetype = (__s32)ctx->args[2],
		.fb_migratetype = -1,
	};

	if ((__s32)ctx->args[3])
		f.flags = PGREC_FLAG_PERCPU_REFILL;
	return emit_in(ctx, PGREC_PCP_REFILL, &f, want);
}

static __always_inline int raw_page_pcpu_drain(struct bpf_raw_tracepoint_args *ctx, __u8 want)
{
	/* (struct page *page, unsigned int order, int migratetype) */
	struct pgrec_fields f = {
		.pfn = page_to_pfn(ctx->args[0]),
		.order = (__u32)ctx->args[1],
		.migratetype = (__s32)ctx->args[2],
		.fb_migratetype = -1,
	};

	return emit_in(ctx, PGREC_PCP_DRAIN, &f, want);
}

/*
 * Compaction's free scanner takes free blocks off the buddy lists with __isolate_free_page(),
 * which no kmem tracepoint reports (docs/kernel-rules.md §10.4). Its own tracepoints give the
 * range scanned and the pages taken: (start_pfn, end_pfn, nr_scanned, nr_taken).
 * isolate_freepages_block() takes every free block whose head lies in [start, end);
 * fast_isolate_freepages() takes one block of nr_taken pages somewhere in the range.
 * The record carries the range length in `stack` and the pages taken in `gfp`.
 */
static __always_inline int raw_isolate(struct bpf_raw_tracepoint_args *ctx, __u8 want, __u8 flags)
{
	__u64 start = ctx->args[0], end = ctx->args[1], taken = ctx->args[3];
	struct pgrec_fields f = {
		.pfn = start,
		.gfp = (__u32)taken,
		.migratetype = -1,
		.fb_migratetype = -1,
		.flags = flags,
		.range = end > start ? (__u32)(end - start) : 0,
	};

	if (taken == 0)
		return 0;
	return emit_in(ctx, PGREC_ISOLATE, &f, want);
}

#define RAW_COPY(name, tp, handler, suffix, want)                             \
	SEC("raw_tp/" #tp)                                                    \
	int raw_##name##_##suffix(struct bpf_raw_tracepoint_args *ctx)        \
	{                                                                     \
		return handler(ctx, want);                                    \
	}
#define RAW_COPIES_NAMED(name, tp, handler)                                   \
	RAW_COPY(name, tp, handler, main, PGREC_COPY_MAIN)                    \
	RAW_COPY(name, tp, handler, standin, PGREC_COPY_STANDIN)
#define RAW_COPIES(tp, handler) RAW_COPIES_NAMED(tp, tp, handler)

RAW_COPIES(mm_page_alloc, raw_page_alloc)
RAW_COPIES_NAMED(mm_page_alloc_zc, mm_page_alloc, raw_page_alloc_zc)
RAW_COPIES(mm_page_free, raw_page_free)
RAW_COPIES(mm_page_free_batched, raw_page_free_batched)
RAW_COPIES(mm_page_alloc_zone_locked, raw_page_alloc_zone_locked)
RAW_COPIES(mm_page_pcpu_drain, raw_page_pcpu_drain)

/* Compaction runs in task context (kcompactd, direct compaction, alloc_contig_range). */
SEC("raw_tp/mm_compaction_isolate_freepages")
int raw_mm_compaction_isolate_freepages(struct bpf_raw_tracepoint_args *ctx)
{
	return raw_isolate(ctx, PGREC_COPY_MAIN, 0);
}

SEC("raw_tp/mm_compaction_fast_isolate_freepages")
int raw_mm_compaction_fast_isolate_freepages(struct bpf_raw_tracepoint_args *ctx)
{
	return raw_isolate(ctx, PGREC_COPY_MAIN, PGREC_FLAG_FAST_ISOLATE);
}

/*
 * The exact blocks: every path that takes a free block off the buddy lists for its own use
 * without an allocation (compaction's block scan and fast isolation, free page reporting,
 * unset_migratetype_isolate) goes through mm/page_alloc.c:__isolate_free_page(), which may
 * refuse (a watermark check), hence fexit; page reporting and pageblock un-isolation give
 * blocks back through __putback_isolated_page(), which emits no free event. One record each
 * with the block's head and order (taken and range = its pages). Arguments come in `ctx` as
 * u64s: (struct page *page, unsigned int order[, int ret]) and (page, order, int mt).
 */
static __always_inline int exact_block(void *ctx, __u64 page, __u32 order, __u8 flags)
{
	struct pgrec_fields f = {
		.pfn = page_to_pfn(page),
		.order = order,
		.gfp = 1u << (order & 31),
		.migratetype = -1,
		.fb_migratetype = -1,
		.flags = flags,
		.range = 1u << (order & 31),
	};

	return emit(ctx, PGREC_ISOLATE, &f);
}

SEC("fexit/__isolate_free_page")
int isolate_block_exit(unsigned long long *ctx)
{
	if ((int)ctx[2] == 0)
		return 0;
	return exact_block(ctx, ctx[0], (__u32)ctx[1], PGREC_FLAG_ISOLATE_BLOCK);
}

SEC("fentry/__putback_isolated_page")
int putback_block(unsigned long long *ctx)
{
	return exact_block(ctx, ctx[0], (__u32)ctx[1], PGREC_FLAG_PUTBACK);
}

/*
 * The highatomic reserve: reserve_highatomic_pageblock and unreserve_highatomic_pageblock
 * retype a pageblock with its free pages through mm/page_alloc.c:move_freepages_block
 * (zone, page, old_mt, new_mt), which no tracepoint reports (a claim by a fallback goes
 * through __move_freepages_block and is reported by mm_page_alloc_extfrag). fexit: the move
 * may be refused (-1, a block across the zone's end). Sent as the extfrag kind with its own
 * flag: the page, the new type and the old.
 */
SEC("fexit/move_freepages_block")
int move_block_exit(unsigned long long *ctx)
{
	if ((int)ctx[4] < 0)
		return 0;
	struct pgrec_fields f = {
		.pfn = page_to_pfn(ctx[1]),
		.migratetype = (__s32)ctx[3],
		.fb_migratetype = (__s32)ctx[2],
		.flags = PGREC_FLAG_PAGEBLOCK_MOVE,
	};

	return emit(ctx, PGREC_EXTFRAG, &f);
}

/*
 * Direct reclaim (mm/vmscan.c:try_to_free_pages): a task whose allocation failed its
 * watermark check frees memory itself before it checks again, and mm_page_alloc is stamped
 * only when __alloc_pages returns. Begin and end give the instants of those checks and what
 * the kernel reclaimed. Task context only and never nested: one copy each, no page pointer.
 */
SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int raw_mm_vmscan_direct_reclaim_begin(struct bpf_raw_tracepoint_args *ctx)
{
	/* (int order, gfp_t gfp_flags) */
	struct pgrec_fields f = {
		.order = (__u32)ctx->args[0],
		.gfp = (__u32)ctx->args[1],
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_RECLAIM_BEGIN, &f);
}

SEC("raw_tp/mm_vmscan_direct_reclaim_end")
int raw_mm_vmscan_direct_reclaim_end(struct bpf_raw_tracepoint_args *ctx)
{
	/* (unsigned long nr_reclaimed) */
	__u64 reclaimed = ctx->args[0];
	struct pgrec_fields f = {
		.gfp = reclaimed > 0xffffffffULL ? 0xffffffffU : (__u32)reclaimed,
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_RECLAIM_END, &f);
}

/*
 * kswapd's passes (mm/vmscan.c:kswapd): a wake before each balance_pgdat pass, a sleep when it
 * sleeps. A pass ends where the next starts or kswapd sleeps, and takes back the watermark
 * boost it found (balance_pgdat's zone_boosts): the boost's lifetime, which no other event
 * shows. kswapd's own thread, task context, no page pointer.
 */
SEC("raw_tp/mm_vmscan_kswapd_wake")
int raw_mm_vmscan_kswapd_wake(struct bpf_raw_tracepoint_args *ctx)
{
	/* (int nid, int zid, int order) */
	struct pgrec_fields f = {
		.order = (__u32)ctx->args[2],
		.gfp = (__u32)ctx->args[0],
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_KSWAPD_WAKE, &f);
}

SEC("raw_tp/mm_vmscan_kswapd_sleep")
int raw_mm_vmscan_kswapd_sleep(struct bpf_raw_tracepoint_args *ctx)
{
	/* (int nid) */
	struct pgrec_fields f = {
		.gfp = (__u32)ctx->args[0],
		.migratetype = -1,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_KSWAPD_SLEEP, &f);
}

SEC("raw_tp/mm_setup_per_zone_wmarks")
int raw_mm_setup_per_zone_wmarks(struct bpf_raw_tracepoint_args *ctx)
{
	__sync_fetch_and_add(&watermark_changes, 1);
	return 0;
}

/* Attached alone, before the others: remembers the page user space's thread allocates. */
SEC("raw_tp/mm_page_alloc")
int calibrate(struct bpf_raw_tracepoint_args *ctx)
{
	if ((__u32)bpf_get_current_pid_tgid() == calib_tid && ctx->args[0])
		calib_page = ctx->args[0];
	return 0;
}

/* A thread got a new name (exec, prctl(PR_SET_NAME), /proc/.../comm): resend it. */
SEC("tp/task/task_rename")
int handle_task_rename(struct trace_event_raw_task_rename *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u32 tgid = id >> 32;
	struct pgrec_cpu_state *st;
	struct pgrec_comm *c;
	__u32 zero = 0;

	if (bpf_core_field_exists(ctx->pid) && (__u32)ctx->pid != tid) {
		tid = (__u32)ctx->pid; /* another thread of ours or another process */
		tgid = 0;
	}
	if (target_tgid && tgid != target_tgid)
		return 0;
	st = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!st || READ_ONCE_U32(st->busy)) {
		/* rare: a rename while a flush holds the batch; send it alone */
		c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
		if (!c) {
			if (st)
				st->comm_drops++;
			return 0;
		}
		fill_comm(c, bpf_ktime_get_boot_ns(), tid, tgid);
		bpf_probe_read_kernel(c->comm, sizeof(c->comm), __builtin_preserve_access_index(&ctx->newcomm));
		bpf_ringbuf_submit(c, submit_flags());
		return 0;
	}
	WRITE_ONCE_U32(st->busy, 1);
	barrier();
	c = (struct pgrec_comm *)slot(st);
	fill_comm(c, bpf_ktime_get_boot_ns(), tid, tgid);
	bpf_probe_read_kernel(c->comm, sizeof(c->comm), __builtin_preserve_access_index(&ctx->newcomm));
	if (tid == (__u32)id)
		st->last_tid = tid;
	if (st->n >= batch_max)
		flush(st);
	barrier();
	WRITE_ONCE_U32(st->busy, 0);
	return 0;
}

/*
 * Run by user space on each CPU (BPF_PROG_TEST_RUN, BPF_F_TEST_RUN_ON_CPU) to push out
 * the partial batch. Returns 1 when a tracepoint program holds the batch: try again.
 */
SEC("raw_tp")
int flush_batches(void *ctx)
{
	struct pgrec_cpu_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!st)
		return 0;
	if (READ_ONCE_U32(st->busy))
		return 1;
	WRITE_ONCE_U32(st->busy, 1);
	barrier();
	flush(st);
	barrier();
	WRITE_ONCE_U32(st->busy, 0);
	return 0;
}
