/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The records the BPF program sends to user space, shared by the BPF C side and the C++
 * loader. Every tag carries the pgrec_ prefix so nothing can collide with kernel types.
 *
 * Every record is 40 bytes; the kind byte (offset 34) says what it is: a page event or a
 * thread name. Records are collected per CPU in batches of up to PGREC_BATCH and sent as
 * one ring-buffer sample (n * 40 bytes). Keep the layout pinned by the asserts at the end:
 * a silent padding change would corrupt every trace.
 */
#ifndef LABYRINTH_EBPF_PAGE_RECORD_H
#define LABYRINTH_EBPF_PAGE_RECORD_H

#ifndef __bpf__
#include <linux/types.h>
#include <stddef.h>
#endif

/* Record kinds; the page-event values are those of labyrinth::traces::EventKind. */
enum pgrec_kind {
	PGREC_ALLOC = 0,        /* kmem:mm_page_alloc */
	PGREC_FREE = 1,         /* kmem:mm_page_free */
	PGREC_FREE_BATCHED = 2, /* kmem:mm_page_free_batched */
	PGREC_PCP_REFILL = 3,   /* kmem:mm_page_alloc_zone_locked */
	PGREC_PCP_DRAIN = 4,    /* kmem:mm_page_pcpu_drain */
	PGREC_EXTFRAG = 5,      /* kmem:mm_page_alloc_extfrag */
	PGREC_ISOLATE = 6,      /* compaction:mm_compaction_(fast_)isolate_freepages */
	PGREC_RECLAIM_BEGIN = 7, /* vmscan:mm_vmscan_direct_reclaim_begin (order, gfp) */
	PGREC_RECLAIM_END = 8,  /* vmscan:mm_vmscan_direct_reclaim_end (nr_reclaimed in gfp) */
	PGREC_COMM = 9,         /* struct pgrec_comm: a thread's name */
	PGREC_ZONE_STATE = 10,  /* the kernel's counters of one zone at a failed allocation, sent
				 * before it with its timestamp (traces::EventKind::ZoneCounters) */
	PGREC_KSWAPD_WAKE = 11, /* vmscan:mm_vmscan_kswapd_wake (nid in gfp, order) */
	PGREC_KSWAPD_SLEEP = 12, /* vmscan:mm_vmscan_kswapd_sleep (nid in gfp) */
	PGREC_NR_KINDS = 13,    /* seen[] slots (those of 9 and 10 stay 0) */
};

/* A PGREC_ZONE_STATE record in the pgrec_event layout:
 *   pfn      zone_page_state(zone, NR_FREE_PAGES), what the watermark check reads (0 if < 0)
 *   gfp      nr_free_highatomic     stack  nr_reserved_highatomic     tid  watermark_boost
 *   tgid     bits 0-31 of the free-list mask, order/migratetype its bits 32-47 (bit order * 4 + t
 *            set: free_area[order].free_list[t] is not empty, t = 0 Unmovable, 1 Movable,
 *            2 Reclaimable, 3 HighAtomic; orders 0 to 11)
 *   fb_order, fb_migratetype  the sum of every CPU's vm_stat_diff[NR_FREE_PAGES] (s16, low byte
 *            first): the changes not yet folded into the count, so that count + sum is the exact
 *            one; PGREC_DIFFS_UNKNOWN when not read (a CPU's offset not known yet)
 *   ctx      the zone's index in its node's node_zones[] (bits 0-2) and the node (bits 3-7) */
#define PGREC_ZONE_INDEX_MASK 0x07
#define PGREC_ZONE_NODE_SHIFT 3
#define PGREC_ZONE_LIST_ORDERS 12
#define PGREC_DIFFS_UNKNOWN (-32768)
/* CPUs whose per-cpu offsets the recorder keeps (a power of two); more: diffs unknown. */
#define PGREC_MAX_CPUS 256
/* Nodes whose zones are read (their pglist_data found through their kswapd). */
#define PGREC_MAX_NODES 4
#define PGREC_MAX_ZONES 8
#define PGREC_MAX_ORDERS 16
#define PGREC_ZONE_LIST_TYPES 4

/* The free lists as walk_free_lists reads them (a free-page map for keyframes): samples of the
 * free_blocks ring buffer, each a pgrec_free_batch. A block is one u64: bits 0-47 its first
 * pfn, 48-51 its order, 52-55 its list's migratetype, 56-58 its zone's index in its node, 59-61
 * the node. The walk's last sample has `last` set and the counts filled in. */
#define PGREC_FREE_BATCH 506
#define PGREC_FREE_LIST_TYPES 8   /* migratetypes walked per order (MIGRATE_TYPES is 4 to 6) */
#define PGREC_FREE_ORDER_SHIFT 48
#define PGREC_FREE_TYPE_SHIFT 52
#define PGREC_FREE_ZONE_SHIFT 56
#define PGREC_FREE_NODE_SHIFT 59
#define PGREC_FREE_WALK_STEPS (1 << 22) /* bpf_loop steps: a list opened or a block read */
struct pgrec_free_batch {
	__u32 n;             /* blocks[] used */
	__u32 last;          /* 1: the walk's last sample */
	__u64 walked;        /* last sample: blocks read in all */
	__u64 strays;        /* lists left early: an entry outside its zone (a list changing under the walk) */
	__u64 lost;          /* samples the ring buffer could not take */
	__u64 unfinished;    /* 1: the walk ran out of steps */
	__u64 ts_start;      /* boot clock at the walk's start and end */
	__u64 ts_end;
	__u64 blocks[PGREC_FREE_BATCH];
};

/* pgrec_event.ctx: bits 0-2 the execution context (values of traces::ExecContext),
 * the rest flags. */
enum pgrec_ctx {
	PGREC_CTX_TASK = 0,
	PGREC_CTX_SOFTIRQ = 1,
	PGREC_CTX_HARDIRQ = 2,
	PGREC_CTX_NMI = 3,
	PGREC_CTX_UNKNOWN = 4,
	PGREC_CTX_MASK = 0x07,
	PGREC_FLAG_BH_DISABLED = 0x08,     /* task context with bottom halves disabled */
	PGREC_FLAG_CHANGE_OWNER = 0x10,    /* extfrag: change_ownership */
	PGREC_FLAG_PAGEBLOCK_MOVE = 0x20,  /* extfrag kind: move_freepages_block retyped the pageblock
					    * (migratetype new, fb_migratetype old), no fallback */
	PGREC_FLAG_PERCPU_REFILL = 0x20,   /* zone_locked: percpu_refill */
	PGREC_FLAG_FAST_ISOLATE = 0x40,    /* isolate: fast_isolate_freepages (one block in the range) */
	PGREC_FLAG_ISOLATE_BLOCK = 0x10,   /* isolate: __isolate_free_page took this very block */
	PGREC_FLAG_PUTBACK = 0x20,         /* isolate: __putback_isolated_page gave it back */
};

struct pgrec_event {
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
	__u64 pfn;        /* (__u64)-1 for a failed allocation */
	__u32 gfp;        /* alloc, reclaim begin: every 6.x GFP bit fits in 32 bits; isolate: pages
			   * taken; reclaim end: pages reclaimed */
	__u32 stack;      /* kernel stack id + 1, 0 = none; isolate: pages scanned from pfn */
	__u32 tid;
	__u32 tgid;
	__u16 cpu;
	__u8 kind;        /* enum pgrec_kind */
	__u8 ctx;         /* enum pgrec_ctx */
	__u8 order;       /* extfrag: alloc_order */
	__s8 migratetype; /* extfrag: alloc_migratetype; -1 unknown */
	__s8 fb_order;    /* extfrag; alloc: the task's state (traces::kTask* bits) */
	__s8 fb_migratetype;
};

/* The name of a thread (kind PGREC_COMM): sent the first time a CPU reports an event of a
 * thread in a row, and whenever a thread is renamed (exec, prctl). Same size and same
 * offsets of ts_ns, tid, tgid, cpu and kind as pgrec_event. */
#define PGREC_COMM_LEN 16
struct pgrec_comm {
	__u64 ts_ns;
	char comm[PGREC_COMM_LEN];
	__u32 tid;
	__u32 tgid; /* 0 when unknown (a rename of another thread) */
	__u16 cpu;
	__u8 kind;  /* PGREC_COMM */
	__u8 pad[5];
};

/* raw_tp handlers are loaded twice (page_recorder.bpf.c): the first copy sends every event,
 * the second stands in when the kernel skipped the first. */
enum pgrec_copy {
	PGREC_COPY_MAIN = 0,
	PGREC_COPY_STANDIN = 1,
};
/* Nesting levels that can interrupt one another on a CPU: task, softirq, hardirq, NMI. */
#define PGREC_LEVELS 4
/* The kinds with two raw_tp copies (the page events) are below this power of two. */
#define PGREC_NR_KINDS_POW2 8

/* Records per batch; a power of two. */
#define PGREC_BATCH 64

/* Per-CPU state, counters and the batch being filled (one PERCPU_ARRAY slot). */
struct pgrec_cpu_state {
	__u64 preempt_addr;          /* this CPU's __preempt_count, 0 = not resolved yet */
	__u32 last_tid;              /* whose name this CPU sent last */
	__u32 n;                     /* records in batch[] */
	__u32 busy;                  /* a program is using batch[] on this CPU */
	__u32 pad;
	__u64 seen[PGREC_NR_KINDS];  /* events that passed the filters */
	__u64 drops;                 /* events lost: ring buffer full */
	__u64 comm_drops;            /* name records lost: ring buffer full */
	__u64 stack_errors;          /* bpf_get_stackid() failed: event kept without stack */
	__u64 bypass;                /* records sent alone while a flush held the batch */
	__u64 stood_in[PGREC_NR_KINDS_POW2]; /* events the stand-in copy sent: the kernel skipped the main one */
	__u64 claimed[PGREC_NR_KINDS_POW2][PGREC_LEVELS]; /* event the main copy sent, per kind and level */
	struct pgrec_event batch[PGREC_BATCH];
};

/* Stack map value: this many kernel frames at most. */
#define PGREC_STACK_DEPTH 48

/* x86 and generic preempt_count layout (include/linux/preempt.h). */
#define PGREC_SOFTIRQ_OFFSET 0x00000100u
#define PGREC_SOFTIRQ_MASK 0x0000ff00u
#define PGREC_HARDIRQ_MASK 0x000f0000u
#define PGREC_NMI_MASK 0x00f00000u

#ifdef __cplusplus
static_assert(sizeof(struct pgrec_event) == 40, "pgrec_event must stay 40 bytes");
static_assert(sizeof(struct pgrec_comm) == 40, "pgrec_comm must stay 40 bytes");
static_assert(offsetof(struct pgrec_event, kind) == 34 && offsetof(struct pgrec_comm, kind) == 34,
              "the kind byte must be at the same offset in every record");
static_assert(offsetof(struct pgrec_event, tid) == offsetof(struct pgrec_comm, tid) &&
                  offsetof(struct pgrec_event, cpu) == offsetof(struct pgrec_comm, cpu),
              "tid and cpu must be at the same offsets in every record");
#else
_Static_assert(sizeof(struct pgrec_event) == 40, "pgrec_event must stay 40 bytes");
_Static_assert(sizeof(struct pgrec_comm) == 40, "pgrec_comm must stay 40 bytes");
_Static_assert(__builtin_offsetof(struct pgrec_event, kind) == 34 &&
		       __builtin_offsetof(struct pgrec_comm, kind) == 34,
	       "the kind byte must be at the same offset in every record");
#endif

#endif /* LABYRINTH_EBPF_PAGE_RECORD_H */
