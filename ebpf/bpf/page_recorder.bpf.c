// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * labyrinth's kernel half: one compact record per kmem page event, through one BPF ring
 * buffer. User space (ebpf/collector.cpp) sets the const volatile tunables before load,
 * turns off the programs of tracepoints it does not want, and resizes the maps.
 *
 * Cost matters more than anything here: the allocator fires up to ~2 M events/s on two
 * CPUs. Records are submitted without a wake-up; the consumer is woken only when a
 * threshold of unread bytes is reached, and it polls with a timeout for the rest
 * (the default per-record wake-up costs an irq_work each and slowed the workload 5x).
 */
#include "kmem_core.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "page_record.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;    /* -p: 0 = every process */
const volatile __u32 min_order = 0;      /* --min-order */
const volatile __u64 wakeup_bytes = 0;   /* force a wake-up at this much unread data; 0 = per record */
const volatile __s64 preempt_delta = 0;  /* &__preempt_count - &runqueues in the per-cpu area */
const volatile __u8 have_preempt = 0;    /* preempt_delta is valid */
const volatile __u8 want_stacks = 0;     /* -g */
const volatile __u8 want_comm = 1;       /* send thread names */

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

static __always_inline __u64 submit_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
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
	}
	if (bpf_probe_read_kernel(&pc, sizeof(pc), (const void *)st->preempt_addr))
		return PGREC_CTX_UNKNOWN;
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

static __always_inline void send_comm(struct pgrec_cpu_state *st, __u32 tid, __u32 tgid)
{
	struct pgrec_comm *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);

	if (!c) {
		st->comm_drops++;
		return; /* last_tid stays: try again with the next event */
	}
	c->tid = tid;
	c->tgid = tgid;
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	bpf_ringbuf_submit(c, submit_flags());
	st->last_tid = tid;
}

struct pgrec_fields {
	__u64 pfn;
	__u32 order;
	__u32 gfp;
	__s32 migratetype;
	__s32 fb_order;
	__s32 fb_migratetype;
	__u8 flags;
};

static __always_inline int emit(void *ctx, const __u8 kind, const struct pgrec_fields *f)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	__u32 zero = 0;
	struct pgrec_cpu_state *st;
	struct pgrec_event *e;
	__u32 stack = 0;

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (f->order < min_order)
		return 0;
	st = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!st)
		return 0;
	st->seen[kind]++;
	if (want_comm && st->last_tid != tid)
		send_comm(st, tid, tgid);
	if (want_stacks) {
		long sid = bpf_get_stackid(ctx, &stacks, 0);

		if (sid >= 0)
			stack = (__u32)sid + 1;
		else
			st->stack_errors++;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		st->drops++;
		return 0;
	}
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->pfn = f->pfn;
	e->gfp = f->gfp;
	e->tid = tid;
	e->tgid = tgid;
	e->stack = stack;
	e->cpu = (__u16)bpf_get_smp_processor_id();
	e->kind = kind;
	e->ctx = exec_context(st) | f->flags;
	e->order = (__u8)f->order;
	e->migratetype = (__s8)f->migratetype;
	e->fb_order = (__s8)f->fb_order;
	e->fb_migratetype = (__s8)f->fb_migratetype;
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

SEC("tp/kmem/mm_page_alloc")
int handle_mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	struct pgrec_fields f = {
		.pfn = ctx->pfn,
		.order = ctx->order,
		.gfp = (__u32)ctx->gfp_flags,
		.migratetype = ctx->migratetype,
		.fb_migratetype = -1,
	};

	return emit(ctx, PGREC_ALLOC, &f);
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

/* A thread got a new name (exec, prctl(PR_SET_NAME), /proc/.../comm): resend it. */
SEC("tp/task/task_rename")
int handle_task_rename(struct trace_event_raw_task_rename *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u32 tgid = id >> 32;
	__u32 zero = 0;
	struct pgrec_cpu_state *st;
	struct pgrec_comm *c;

	if (bpf_core_field_exists(ctx->pid) && (__u32)ctx->pid != tid) {
		tid = (__u32)ctx->pid; /* another thread of ours or another process */
		tgid = 0;
	}
	if (target_tgid && tgid != target_tgid)
		return 0;
	c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	if (!c) {
		st = bpf_map_lookup_elem(&cpu_state, &zero);
		if (st)
			st->comm_drops++;
		return 0;
	}
	c->tid = tid;
	c->tgid = tgid;
	bpf_probe_read_kernel(c->comm, sizeof(c->comm), __builtin_preserve_access_index(&ctx->newcomm));
	bpf_ringbuf_submit(c, submit_flags());
	return 0;
}
