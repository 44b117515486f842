/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types page_recorder.bpf.c needs, written by hand instead of a generated
 * vmlinux.h so that the build does not depend on the build host's kernel.
 *
 * Everything under preserve_access_index is relocated by libbpf against the running
 * kernel's BTF when the program loads: only the member NAMES must match; offsets and
 * integer sizes are patched (gfp_flags was a 32-bit gfp_t before it became unsigned long).
 * The ___flavour suffix is ignored by libbpf when matching. Never hard-code an offset:
 * the verifier does not type-check tracepoint context loads, CO-RE is the only guard.
 */
#ifndef LABYRINTH_EBPF_KMEM_CORE_H
#define LABYRINTH_EBPF_KMEM_CORE_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;

/* uapi/linux/bpf.h constants used here (stable ABI values). */
enum bpf_map_type {
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
	BPF_RB_FORCE_WAKEUP = (1ULL << 1),
};
enum {
	BPF_RB_AVAIL_DATA = 0,
};
enum {
	BPF_F_FAST_STACK_CMP = (1ULL << 9),
};

/* uapi: the context of a raw_tp program, the tracepoint's arguments as they were passed. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_mm_page_alloc {
	struct trace_entry ent;
	unsigned long pfn;
	unsigned int order;
	unsigned long gfp_flags;
	int migratetype;
};

struct trace_event_raw_mm_page_free {
	struct trace_entry ent;
	unsigned long pfn;
	unsigned int order;
};

struct trace_event_raw_mm_page_free_batched {
	struct trace_entry ent;
	unsigned long pfn;
};

/* class of mm_page_alloc_zone_locked */
struct trace_event_raw_mm_page {
	struct trace_entry ent;
	unsigned long pfn;
	unsigned int order;
	int migratetype;
	int percpu_refill; /* since 5.x; checked with bpf_core_field_exists */
};

struct trace_event_raw_mm_page_pcpu_drain {
	struct trace_entry ent;
	unsigned long pfn;
	unsigned int order;
	int migratetype;
};

struct trace_event_raw_mm_page_alloc_extfrag {
	struct trace_entry ent;
	unsigned long pfn;
	int alloc_order;
	int fallback_order;
	int alloc_migratetype;
	int fallback_migratetype;
	int change_ownership; /* checked with bpf_core_field_exists */
};

struct trace_event_raw_task_rename {
	struct trace_entry ent;
	pid_t pid; /* checked with bpf_core_field_exists */
	char newcomm[16];
};

/* Execution context: current->se.cfs_rq->rq is this CPU's runqueue (FAIR_GROUP_SCHED);
 * this CPU's __preempt_count sits at a fixed distance from it in the per-cpu area. */
struct rq;
struct cfs_rq {
	struct rq *rq;
};
struct sched_entity {
	struct cfs_rq *cfs_rq;
};
/* The allocating task's state that __alloc_pages reads besides the gfp mask. */
struct mm_struct;
struct signal_struct {
	struct mm_struct *oom_mm; /* checked with bpf_core_field_exists */
};
struct task_struct {
	struct sched_entity se;
	unsigned int flags;
	int prio;
	struct signal_struct *signal;
	void *worker_private; /* a kthread's struct kthread (5.17+); checked with bpf_core_field_exists */
};

/* The zone counters read at a failed allocation. A node's pglist_data is kswapd's thread
 * argument (kthread_run(kswapd, pgdat, ...)); every size and offset below comes from the
 * running kernel's BTF (bpf_core_type_size, bpf_core_field_offset), never from these
 * declarations, whose arrays are placeholders. */
struct kthread {
	void *data;
};
/* Any kernel struct with an unsigned long at offset 0, to read eight bytes as a plain
 * integer through bpf_rdonly_cast(). */
struct rb_node {
	unsigned long __rb_parent_color;
};
struct list_head {
	struct list_head *next;
	struct list_head *prev;
};
struct free_area {
	struct list_head free_list[1];
	unsigned long nr_free;
};
/* A free block is linked into its free list through the list_head its head page shares with
 * lru (buddy_list, pcp_list: one union in the kernel). */
struct page {
	struct list_head lru;
};
struct zone {
	struct {
		long counter;
	} managed_pages;
	unsigned long zone_start_pfn;
	unsigned long spanned_pages;
	unsigned long watermark_boost;
	unsigned long nr_reserved_highatomic;
	unsigned long nr_free_highatomic; /* 6.10+; checked with bpf_core_field_exists */
	struct free_area free_area[1];
	struct {
		long counter;
	} vm_stat[1];
	struct per_cpu_zonestat *per_cpu_zonestats; /* __percpu: add a CPU's this_cpu_off */
};
struct per_cpu_zonestat {
	signed char vm_stat_diff[1];
};
enum zone_stat_item {
	NR_FREE_PAGES = 0,
};
struct pglist_data {
	struct zone node_zones[1];
	int node_id;
	struct task_struct *kswapd;
};

/* Any kernel struct with a 4-byte integer at offset 0, to read the preempt counter through
 * bpf_rdonly_cast() (a plain load, no helper call). */
struct qspinlock {
	struct {
		int counter;
	} val;
};

#pragma clang attribute pop

/* The context of a task iterator program (SEC("iter/task")). */
struct bpf_iter_meta;
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

#endif /* LABYRINTH_EBPF_KMEM_CORE_H */
