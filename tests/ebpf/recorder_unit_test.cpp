// The BPF record conversion and the kernel-BTF lookups, without a kernel.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "labyrinth/ebpf/errors.hpp"
#include "labyrinth/ebpf/kernel_btf.hpp"
#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/ebpf/record_session.hpp"
#include "page_recorder.skel.h"
#include "record_convert.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::EventKind;
using traces::ExecContext;
using namespace std::chrono_literals;

TEST(RecordConvert, MapsEveryFieldOfAnAllocation) {
  pgrec_event r{};
  r.ts_ns = 123456789;
  r.pfn = 0x12345;
  r.gfp = 0x140cca;
  r.tid = 101;
  r.tgid = 100;
  r.stack = 7;
  r.cpu = 1;
  r.kind = PGREC_ALLOC;
  r.ctx = PGREC_CTX_SOFTIRQ;
  r.order = 3;
  r.migratetype = 1;
  r.fb_order = 0;
  r.fb_migratetype = -1;
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.ts_ns, 123456789u);
  EXPECT_EQ(e.pfn, 0x12345u);
  EXPECT_EQ(e.gfp, 0x140ccau);
  EXPECT_EQ(e.pid, 100u);
  EXPECT_EQ(e.tid, 101u);
  EXPECT_EQ(e.stack_id, 7u);
  EXPECT_EQ(e.cpu, 1u);
  EXPECT_EQ(e.kind, EventKind::Alloc);
  EXPECT_EQ(e.ctx, ExecContext::Softirq);
  EXPECT_EQ(e.order, 3u);
  EXPECT_EQ(e.migratetype, 1);
  EXPECT_EQ(e.comm_id, traces::kUnknownComm);
}

TEST(RecordConvert, FailedAllocationKeepsTheKernelsMinusOne) {
  pgrec_event r{};
  r.pfn = ~0ull;
  r.kind = PGREC_ALLOC;
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_TRUE(e.failed());
}

TEST(RecordConvert, ExtfragAndRefillFlags) {
  pgrec_event r{};
  r.kind = PGREC_EXTFRAG;
  r.order = 0;
  r.migratetype = 0;
  r.fb_order = 9;
  r.fb_migratetype = 1;
  r.ctx = PGREC_CTX_TASK | PGREC_FLAG_CHANGE_OWNER | PGREC_FLAG_BH_DISABLED;
  r.gfp = 0xffff;  // only allocations carry gfp
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::Extfrag);
  EXPECT_EQ(e.ctx, ExecContext::Task);
  EXPECT_EQ(e.fallback_order, 9u);
  EXPECT_EQ(e.fallback_migratetype, 1);
  EXPECT_TRUE(e.change_ownership);
  EXPECT_EQ(e.gfp, 0u);

  r = pgrec_event{};
  r.kind = PGREC_PCP_REFILL;
  r.ctx = PGREC_CTX_HARDIRQ | PGREC_FLAG_PERCPU_REFILL;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::PcpRefill);
  EXPECT_EQ(e.ctx, ExecContext::Hardirq);
  EXPECT_TRUE(e.percpu_refill);
  EXPECT_FALSE(e.change_ownership);
}

// Only the alloc programs' zone-counter variant and the free-list walk call bpf_loop (5.17),
// both loaded only where `labyrinth info`'s probe found it: the plain variant and every other
// program load on older kernels, where a call to a helper the kernel lacks, even in code it
// would never run, could fail the whole object.
TEST(RecorderObject, OnlyTheProgramsLoadedWhereBpfLoopIsProbedCallIt) {
  page_recorder_bpf* skel = page_recorder_bpf__open();
  ASSERT_NE(skel, nullptr);
  constexpr std::int32_t kBpfLoop = 181;  // BPF_FUNC_loop
  std::vector<std::string> callers;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    const bpf_insn* insns = bpf_program__insns(prog);
    for (std::size_t i = 0; i < bpf_program__insn_cnt(prog); ++i) {
      if (insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src_reg == 0 && insns[i].imm == kBpfLoop) {
        callers.emplace_back(bpf_program__name(prog));
        break;
      }
    }
  }
  page_recorder_bpf__destroy(skel);
  std::sort(callers.begin(), callers.end());
  EXPECT_EQ(callers, (std::vector<std::string>{"handle_mm_page_alloc_zc", "raw_mm_page_alloc_zc_main",
                                               "raw_mm_page_alloc_zc_standin", "walk_free_lists"}));
}

// A zone-state record (page_record.h) comes as the ZoneCounters event of its zone, the list
// mask put back together from its two parts, the per-CPU diffs from the last two bytes.
TEST(RecordConvert, AZoneStateRecordComesAsTheZonesCounters) {
  pgrec_event r{};
  r.kind = PGREC_ZONE_STATE;
  r.ts_ns = 777;
  r.cpu = 1;
  r.ctx = 2 | (1 << PGREC_ZONE_NODE_SHIFT);  // node 1, node_zones[2]
  r.pfn = 14500;                             // NR_FREE_PAGES
  r.gfp = 96;                                // nr_free_highatomic
  r.stack = 1024;                            // nr_reserved_highatomic
  r.tid = 512;                               // watermark_boost
  r.tgid = 0x89abcdefu;                      // list mask bits 0-31
  r.order = 0x12;
  r.migratetype = static_cast<__s8>(0xf0);
  r.fb_order = static_cast<__s8>(0xdb);  // diffs 0xffdb: -37
  r.fb_migratetype = static_cast<__s8>(0xff);
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::ZoneCounters);
  EXPECT_EQ(e.ts_ns, 777u);
  EXPECT_EQ(e.cpu, 1u);
  const traces::ZoneCounters c = traces::zone_counters_of(e);
  EXPECT_EQ(c.node, 1);
  EXPECT_EQ(c.zone_index, 2u);
  EXPECT_EQ(c.free_pages, 14500u);
  EXPECT_EQ(c.highatomic_free, 96u);
  EXPECT_EQ(c.highatomic_reserved, 1024u);
  EXPECT_EQ(c.boost, 512u);
  EXPECT_EQ(c.lists, 0xf01289abcdefull);
  EXPECT_EQ(c.free_diffs, -37);
  EXPECT_EQ(c.exact_free_pages(), 14463);
  // The recorder could not read them (a CPU's offset not known yet): none.
  r.fb_order = 0;
  r.fb_migratetype = static_cast<__s8>(0x80);
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_FALSE(traces::zone_counters_of(e).free_diffs.has_value());
  EXPECT_FALSE(traces::zone_counters_of(e).exact_free_pages().has_value());
}

// fexit/move_freepages_block sends the extfrag kind with its own flag: a pageblock retyped
// from fb_migratetype to migratetype (here Movable to HighAtomic), not a fallback.
TEST(RecordConvert, APageblockMoveComesAsTheExtfragKindWithItsFlag) {
  pgrec_event r{};
  r.kind = PGREC_EXTFRAG;
  r.pfn = 0x4d9740;
  r.migratetype = 3;
  r.fb_migratetype = 1;
  r.ctx = PGREC_CTX_SOFTIRQ | PGREC_FLAG_PAGEBLOCK_MOVE;
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::PageblockMove);
  EXPECT_EQ(e.ctx, ExecContext::Softirq);
  EXPECT_EQ(e.pfn, 0x4d9740u);
  EXPECT_EQ(e.migratetype, 3);
  EXPECT_EQ(e.fallback_migratetype, 1);
  EXPECT_FALSE(e.change_ownership);
  r.ctx = PGREC_CTX_SOFTIRQ;  // without the flag: a steal
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::Extfrag);
}

// Direct reclaim records carry no page: a begin its request's order and gfp, an end the pages
// reclaimed in the gfp field.
TEST(RecordConvert, DirectReclaimBeginAndEnd) {
  pgrec_event r{};
  r.kind = PGREC_RECLAIM_BEGIN;
  r.order = 2;
  r.gfp = 0xcc0;
  r.pfn = 1234;  // whatever the program left there
  r.ctx = PGREC_CTX_TASK;
  r.tid = 8;
  r.tgid = 7;
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::ReclaimBegin);
  EXPECT_EQ(e.order, 2u);
  EXPECT_EQ(e.gfp, 0xcc0u);
  EXPECT_EQ(e.pfn, 0u);
  EXPECT_EQ(e.tid, 8u);
  EXPECT_EQ(e.pid, 7u);
  r.kind = PGREC_RECLAIM_END;
  r.gfp = 33;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::ReclaimEnd);
  EXPECT_EQ(e.reclaimed_pages, 33u);
  EXPECT_EQ(e.gfp, 0u);
  EXPECT_EQ(e.order, 0u);
}

TEST(RecordConvert, UnknownKindsAndContexts) {
  pgrec_event r{};
  r.kind = PGREC_NR_KINDS;
  traces::PageEvent e;
  EXPECT_FALSE(detail::to_page_event(r, e));
  r.kind = PGREC_FREE;
  r.ctx = PGREC_CTX_UNKNOWN;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.ctx, ExecContext::Unknown);
  r.ctx = PGREC_CTX_NMI;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.ctx, ExecContext::Nmi);
}

// kswapd's wake carries its node in gfp and the order it reclaims for; its sleep only the node.
// A name record is no page event, though its number follows the reclaim kinds.
TEST(RecordConvert, KswapdPassesCarryTheirNodeAndNoPage) {
  pgrec_event r{};
  r.kind = PGREC_KSWAPD_WAKE;
  r.ctx = PGREC_CTX_TASK;
  r.pfn = 0x1234;
  r.gfp = 1;
  r.order = 3;
  traces::PageEvent e;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::KswapdWake);
  EXPECT_EQ(e.pfn, 0u);
  EXPECT_EQ(e.gfp, 1u);
  EXPECT_EQ(e.order, 3u);
  r.kind = PGREC_KSWAPD_SLEEP;
  ASSERT_TRUE(detail::to_page_event(r, e));
  EXPECT_EQ(e.kind, EventKind::KswapdSleep);
  EXPECT_EQ(e.gfp, 1u);
  EXPECT_EQ(e.order, 0u);
  r.kind = PGREC_COMM;
  EXPECT_FALSE(detail::to_page_event(r, e));
}

TEST(Tracepoints, SpecsCoverEveryEventKindOnce) {
  for (int k = 0; k < traces::kEventKindCount; ++k) {
    // A function's exit, and counters read in the alloc programs: no tracepoint of their own.
    if (static_cast<EventKind>(k) == EventKind::PageblockMove || static_cast<EventKind>(k) == EventKind::ZoneCounters) {
      EXPECT_EQ(find_tracepoint(static_cast<EventKind>(k)), nullptr);
      continue;
    }
    const auto* spec = find_tracepoint(static_cast<EventKind>(k));
    ASSERT_NE(spec, nullptr) << k;
    EXPECT_EQ(find_tracepoint(std::string(spec->category) + ":" + spec->name), spec);
    EXPECT_EQ(find_tracepoint(std::string(spec->short_name)), spec);
    EXPECT_EQ(std::string(spec->category) + ":" + spec->name, traces::tracepoint_of(static_cast<EventKind>(k)));
  }
  EXPECT_TRUE(find_tracepoint(EventKind::Alloc)->required);
  EXPECT_TRUE(find_tracepoint(EventKind::Free)->required);
  EXPECT_FALSE(find_tracepoint(EventKind::FreeBatched)->default_on);
  EXPECT_EQ(find_tracepoint("compaction:mm_compaction_isolate_freepages"), find_tracepoint(EventKind::Isolate));
  EXPECT_EQ(find_tracepoint("kmem:mm_compaction_isolate_freepages"), nullptr);  // wrong category
  EXPECT_EQ(find_tracepoint("vmscan:mm_vmscan_direct_reclaim_end"), find_tracepoint(EventKind::ReclaimEnd));
  EXPECT_EQ(find_tracepoint("kswapd_wake"), find_tracepoint(EventKind::KswapdWake));
  static_assert(PGREC_NR_KINDS == traces::kEventKindCount,
                "one record kind per event kind; a pageblock move comes as the extfrag kind, and the name "
                "records take its number");
  static_assert(PGREC_ZONE_STATE == static_cast<int>(EventKind::ZoneCounters), "zone counters: their own record kind");
  static_assert(PGREC_KSWAPD_WAKE == static_cast<int>(EventKind::KswapdWake) &&
                    PGREC_KSWAPD_SLEEP == static_cast<int>(EventKind::KswapdSleep),
                "kswapd passes: the event kinds' numbers");
}

// A BTF blob written to a file, standing in for /sys/kernel/btf/vmlinux.
class SyntheticBtf {
 public:
  SyntheticBtf() : btf_(btf__new_empty()) {}
  ~SyntheticBtf() {
    btf__free(btf_);
    if (!path_.empty()) std::remove(path_.c_str());
  }
  btf* get() { return btf_; }
  const std::string& write() {
    std::uint32_t size = 0;
    const void* data = btf__raw_data(btf_, &size);
    char tmpl[] = "/tmp/labyrinth-btf-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, data, size), static_cast<ssize_t>(size));
    ::close(fd);
    path_ = tmpl;
    return path_;
  }
  // struct task_struct { struct sched_entity se; } ... cfs_rq { struct rq* rq; }
  void add_sched_types(int int_id) {
    const int rq = btf__add_struct(btf_, "rq", 8);
    btf__add_field(btf_, "nr_running", int_id, 0, 0);
    const int rq_ptr = btf__add_ptr(btf_, rq);
    const int cfs = btf__add_struct(btf_, "cfs_rq", 8);
    btf__add_field(btf_, "rq", rq_ptr, 0, 0);
    const int cfs_ptr = btf__add_ptr(btf_, cfs);
    const int se = btf__add_struct(btf_, "sched_entity", 16);
    btf__add_field(btf_, "load", int_id, 0, 0);
    btf__add_field(btf_, "cfs_rq", cfs_ptr, 64, 0);
    btf__add_struct(btf_, "task_struct", 16);
    btf__add_field(btf_, "se", se, 0, 0);
  }

 private:
  btf* btf_;
  std::string path_;
};

TEST(KernelBtf, FindsPreemptCountAfter615) {
  SyntheticBtf b;
  const int int_id = btf__add_int(b.get(), "int", 4, BTF_INT_SIGNED);
  b.add_sched_types(int_id);
  const int rq_struct = btf__find_by_name_kind(b.get(), "rq", BTF_KIND_STRUCT);
  const int v_pc = btf__add_var(b.get(), "__preempt_count", BTF_VAR_GLOBAL_ALLOCATED, int_id);
  const int v_rq = btf__add_var(b.get(), "runqueues", BTF_VAR_GLOBAL_ALLOCATED, rq_struct);
  btf__add_datasec(b.get(), ".data..percpu", 200000);
  btf__add_datasec_var_info(b.get(), v_pc, 86064, 4);
  btf__add_datasec_var_info(b.get(), v_rq, 179392, 8);
  KernelBtf kb(b.write());
  EXPECT_TRUE(kb.has_struct("task_struct"));
  EXPECT_TRUE(kb.has_member("sched_entity", "cfs_rq"));
  EXPECT_EQ(kb.member_offset("sched_entity", "cfs_rq"), 8u);
  EXPECT_FALSE(kb.has_member("sched_entity", "nope"));
  EXPECT_EQ(kb.datasec_var_offset(".data..percpu", "runqueues"), 179392u);
  const auto loc = kb.locate_preempt_count();
  ASSERT_TRUE(loc.found) << loc.reason;
  EXPECT_EQ(loc.via, "__preempt_count");
  EXPECT_EQ(loc.delta, 86064 - 179392);
}

TEST(KernelBtf, FindsPcpuHotPreemptCountOn62To614) {
  SyntheticBtf b;
  const int int_id = btf__add_int(b.get(), "int", 4, BTF_INT_SIGNED);
  b.add_sched_types(int_id);
  const int rq_struct = btf__find_by_name_kind(b.get(), "rq", BTF_KIND_STRUCT);
  const int hot = btf__add_struct(b.get(), "pcpu_hot", 64);
  btf__add_field(b.get(), "current_task", int_id, 0, 0);
  btf__add_field(b.get(), "preempt_count", int_id, 64, 0);
  const int v_hot = btf__add_var(b.get(), "pcpu_hot", BTF_VAR_GLOBAL_ALLOCATED, hot);
  const int v_rq = btf__add_var(b.get(), "runqueues", BTF_VAR_GLOBAL_ALLOCATED, rq_struct);
  btf__add_datasec(b.get(), ".data..percpu", 200000);
  btf__add_datasec_var_info(b.get(), v_hot, 1000, 64);
  btf__add_datasec_var_info(b.get(), v_rq, 5000, 8);
  KernelBtf kb(b.write());
  const auto loc = kb.locate_preempt_count();
  ASSERT_TRUE(loc.found) << loc.reason;
  EXPECT_EQ(loc.via, "pcpu_hot.preempt_count");
  EXPECT_EQ(loc.delta, 1000 + 8 - 5000);
}

TEST(KernelBtf, ExplainsWhyWithoutGroupScheduling) {
  SyntheticBtf b;
  const int int_id = btf__add_int(b.get(), "int", 4, BTF_INT_SIGNED);
  const int se = btf__add_struct(b.get(), "sched_entity", 4);
  btf__add_field(b.get(), "load", int_id, 0, 0);
  btf__add_struct(b.get(), "task_struct", 4);
  btf__add_field(b.get(), "se", se, 0, 0);
  KernelBtf kb(b.write());
  const auto loc = kb.locate_preempt_count();
  EXPECT_FALSE(loc.found);
  EXPECT_NE(loc.reason.find("FAIR_GROUP_SCHED"), std::string::npos);
}

TEST(KernelBtf, UnreadableFileThrowsNamingIt) {
  try {
    KernelBtf kb("/nonexistent/vmlinux");
    FAIL() << "no exception";
  } catch (const RecordError& e) {
    EXPECT_EQ(e.kind(), RecordError::Kind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vmlinux: cannot read BTF: No such file"), std::string::npos)
        << e.what();
  }
}

TEST(Preflight, CapabilityRulesFollowTheKernel) {
  Capabilities c;
  c.read_ok = true;
  c.euid = 65534;
  EXPECT_EQ(c.missing_for_record(), (std::vector<std::string>{"CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"}));
  c.sys_admin = true;  // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON
  EXPECT_EQ(c.missing_for_record(), (std::vector<std::string>{"CAP_DAC_READ_SEARCH"}));
  c.dac_override = true;
  EXPECT_TRUE(c.missing_for_record().empty());
  Capabilities root;
  root.read_ok = true;
  root.euid = 0;
  root.bpf = root.perfmon = true;
  EXPECT_TRUE(root.missing_for_record().empty());  // root owns tracefs and /proc/kpageflags
}

TEST(Preflight, MissingCapabilitiesStopRecordFirst) {
  KernelSupport ks;
  ks.caps.read_ok = true;
  ks.caps.euid = 65534;
  try {
    check_record_preflight(ks, default_record_events());
    FAIL() << "no exception";
  } catch (const RecordError& e) {
    EXPECT_EQ(e.kind(), RecordError::Kind::NoPermission);
    EXPECT_NE(std::string(e.what()).find("CAP_BPF"), std::string::npos);
    EXPECT_FALSE(e.hints().empty());
  }
}

TEST(Preflight, UnmountedTracefsSaysHowToMountIt) {
  KernelSupport ks;
  ks.caps.read_ok = true;
  ks.caps.euid = 0;
  ks.caps.bpf = ks.caps.perfmon = true;
  ks.btf_present = true;
  ks.tracefs.path = "/sys/kernel/tracing";
  ks.tracefs.problem = "tracefs is not mounted at /sys/kernel/tracing";
  try {
    check_record_preflight(ks, default_record_events());
    FAIL() << "no exception";
  } catch (const RecordError& e) {
    EXPECT_EQ(e.kind(), RecordError::Kind::Unsupported);
    ASSERT_FALSE(e.hints().empty());
    EXPECT_NE(e.hints()[0].find("mount -t tracefs nodev /sys/kernel/tracing"), std::string::npos);
  }
}

KernelSupport ready_support() {
  KernelSupport ks;
  ks.caps.read_ok = true;
  ks.caps.bpf = ks.caps.perfmon = true;
  ks.btf_present = true;
  ks.tracefs.mounted = ks.tracefs.accessible = true;
  ks.preempt.found = true;
  ks.has_task_rename = true;
  for (const auto& spec : tracepoint_specs()) {
    TracepointStatus ts;
    ts.spec = &spec;
    ts.present = true;
    ts.btf_known = true;
    ks.tracepoints.push_back(ts);
  }
  return ks;
}

TEST(Preflight, MissingOptionalTracepointIsAWarningRequiredOneAnError) {
  KernelSupport ks = ready_support();
  EXPECT_TRUE(check_record_preflight(ks, default_record_events()).empty());
  ks.tracepoints[2].present = false;  // zone_locked
  const auto warnings = check_record_preflight(ks, default_record_events());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("mm_page_alloc_zone_locked"), std::string::npos);
  ks.tracepoints[3].missing_optional_fields = {"x"};
  EXPECT_EQ(check_record_preflight(ks, default_record_events()).size(), 2u);
  ks.tracepoints[0].present = false;  // mm_page_alloc
  EXPECT_THROW(check_record_preflight(ks, default_record_events()), RecordError);
}

TEST(Preflight, ConfidentialityLockdownIsUnsupported) {
  KernelSupport ks = ready_support();
  ks.lockdown = "confidentiality";
  try {
    check_record_preflight(ks, default_record_events());
    FAIL();
  } catch (const RecordError& e) {
    EXPECT_EQ(e.kind(), RecordError::Kind::Unsupported);
  }
}

}  // namespace
}  // namespace labyrinth::ebpf
