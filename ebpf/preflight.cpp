#include "labyrinth/ebpf/preflight.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "labyrinth/ebpf/errors.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::EventKind;

constexpr unsigned long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";
constexpr const char* kTracefs = "/sys/kernel/tracing";

bool readable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::optional<int> read_int_file(const std::string& path) {
  std::ifstream in(path);
  int v = 0;
  if (in >> v) return v;
  return std::nullopt;
}

using common::join;

// Whether this kernel lets us load an fentry program on `function`: some refuse tracing
// programs altogether (EPERM for root, before the verifier), and one such refusal would fail
// the whole BPF object. "" when it may, else why not.
std::string fentry_refusal(const char* function) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) return "no kernel BTF";
  const int id = btf__find_by_name_kind(vmlinux, function, BTF_KIND_FUNC);
  btf__free(vmlinux);
  if (id < 0) return std::string(function) + " is not in the kernel BTF (inlined or absent)";
  const bpf_insn prog[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
              .attach_btf_id = static_cast<__u32>(id));
  const int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "laby_probe", "GPL", prog, 2, &opts);
  if (fd < 0) return "the kernel refuses fentry programs (" + common::errno_text(errno) + ")";
  ::close(fd);
  return "";
}

// Whether this kernel runs what reads the zone counters at failures: a task iterator program
// (BPF_TRACE_ITER on bpf_iter_task) and the bpf_loop helper (5.17). "" when it does, else why not.
std::string zone_counters_refusal() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) return "no kernel BTF";
  const int id = btf__find_by_name_kind(vmlinux, "bpf_iter_task", BTF_KIND_FUNC);
  btf__free(vmlinux);
  if (id < 0) return "the kernel has no task iterator (bpf_iter_task)";
  const bpf_insn prog[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_ITER, .attach_btf_id = static_cast<__u32>(id));
  const int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "laby_probe", "GPL", prog, 2, &opts);
  if (fd < 0) return "the kernel refuses task iterator programs (" + common::errno_text(errno) + ")";
  ::close(fd);
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nullptr) != 1)
    return "the kernel has no bpf_loop helper (Linux 5.17 and later)";
  return "";
}

}  // namespace

const std::vector<TracepointSpec>& tracepoint_specs() {
  static const std::vector<TracepointSpec> specs = {
      {EventKind::Alloc, "mm_page_alloc", "trace_event_raw_mm_page_alloc", "alloc", true, true,
       {"pfn", "order", "gfp_flags", "migratetype"}, {}, 4},
      {EventKind::Free, "mm_page_free", "trace_event_raw_mm_page_free", "free", true, true, {"pfn", "order"}, {}, 2},
      {EventKind::PcpRefill, "mm_page_alloc_zone_locked", "trace_event_raw_mm_page", "zone_locked", false, true,
       {"pfn", "order", "migratetype"}, {"percpu_refill"}, 4},
      {EventKind::PcpDrain, "mm_page_pcpu_drain", "trace_event_raw_mm_page_pcpu_drain", "pcpu_drain", false, true,
       {"pfn", "order", "migratetype"}, {}, 3},
      // change_ownership is computed inside the tracepoint: classic only
      {EventKind::Extfrag, "mm_page_alloc_extfrag", "trace_event_raw_mm_page_alloc_extfrag", "extfrag", false, true,
       {"pfn", "alloc_order", "fallback_order", "alloc_migratetype", "fallback_migratetype"}, {"change_ownership"}, 0},
      {EventKind::FreeBatched, "mm_page_free_batched", "trace_event_raw_mm_page_free_batched", "free_batched",
       false, false, {"pfn"}, {}, 1},
      // Compaction's free scanner takes free blocks off the buddy lists without a kmem event;
      // mm_compaction_fast_isolate_freepages comes along when the kernel has it. raw_tp only.
      {EventKind::Isolate, "mm_compaction_isolate_freepages", "trace_event_raw_mm_compaction_isolate_template",
       "isolate", false, true, {"start_pfn", "end_pfn", "nr_taken"}, {}, 4, "compaction", false},
      // Direct reclaim: when an allocating task stalled to free memory, and how much it freed.
      // raw_tp only.
      {EventKind::ReclaimBegin, "mm_vmscan_direct_reclaim_begin",
       "trace_event_raw_mm_vmscan_direct_reclaim_begin_template", "reclaim_begin", false, true,
       {"order", "gfp_flags"}, {}, 2, "vmscan", false},
      {EventKind::ReclaimEnd, "mm_vmscan_direct_reclaim_end", "trace_event_raw_mm_vmscan_direct_reclaim_end_template",
       "reclaim_end", false, true, {"nr_reclaimed"}, {}, 1, "vmscan", false},
      // kswapd's passes: where each balance_pgdat starts and kswapd sleeps, which bound the
      // watermark boost's life. raw_tp only.
      {EventKind::KswapdWake, "mm_vmscan_kswapd_wake", "trace_event_raw_mm_vmscan_kswapd_wake", "kswapd_wake", false,
       true, {"nid", "order"}, {}, 3, "vmscan", false},
      {EventKind::KswapdSleep, "mm_vmscan_kswapd_sleep", "trace_event_raw_mm_vmscan_kswapd_sleep", "kswapd_sleep",
       false, true, {"nid"}, {}, 1, "vmscan", false},
  };
  return specs;
}

const TracepointSpec* find_tracepoint(EventKind kind) {
  for (const auto& s : tracepoint_specs())
    if (s.kind == kind) return &s;
  return nullptr;
}

const TracepointSpec* find_tracepoint(const std::string& name) {
  std::string n = name;
  for (const auto& s : tracepoint_specs()) {
    const std::string prefix = std::string(s.category) + ":";
    if (n.rfind(prefix, 0) == 0 && n.substr(prefix.size()) == s.name) return &s;
  }
  for (const auto& s : tracepoint_specs())
    if (n == s.name || n == s.short_name) return &s;
  return nullptr;
}

std::vector<std::string> Capabilities::missing_for_record() const {
  std::vector<std::string> missing;
  if (!read_ok) return {"(capabilities unreadable)"};
  if (!bpf && !sys_admin) missing.emplace_back("CAP_BPF");
  if (!perfmon && !sys_admin) missing.emplace_back("CAP_PERFMON");
  // tracefs, /proc/kpageflags and /proc/pagetypeinfo are root-only files: root reads them as
  // their owner, anybody else needs to bypass the permission check.
  if (euid != 0 && !dac_read_search && !dac_override) missing.emplace_back("CAP_DAC_READ_SEARCH");
  return missing;
}

Capabilities read_capabilities() {
  Capabilities caps;
  caps.euid = ::geteuid();
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return caps;
  caps.read_ok = true;
  auto has = [&](unsigned cap) {
    const unsigned word = cap / 32;
    return word < _LINUX_CAPABILITY_U32S_3 && (data[word].effective & (1u << (cap % 32))) != 0;
  };
  caps.sys_admin = has(CAP_SYS_ADMIN);
  caps.bpf = has(39);      // CAP_BPF (5.8), not in every libc header
  caps.perfmon = has(38);  // CAP_PERFMON (5.8)
  caps.dac_read_search = has(CAP_DAC_READ_SEARCH);
  caps.dac_override = has(CAP_DAC_OVERRIDE);
  caps.syslog = has(CAP_SYSLOG);
  return caps;
}

TracefsStatus probe_tracefs() {
  TracefsStatus st;
  // libbpf 1.x looks for tracepoint ids under debugfs first when that path exists.
  st.path = ::faccessat(AT_FDCWD, kDebugfsTracing, F_OK, AT_EACCESS) == 0 ? kDebugfsTracing : kTracefs;
  struct statfs fs {};
  if (::statfs(st.path.c_str(), &fs) == 0) {
    st.mounted = static_cast<unsigned long>(fs.f_type) == kTracefsMagic;
  } else if (errno == EACCES) {
    st.mounted = true;  // something is there that we may not look at
  }
  if (!st.mounted) {
    st.problem = "tracefs is not mounted at " + st.path;
    return st;
  }
  const std::string id = st.path + "/events/kmem/mm_page_alloc/id";
  st.accessible = readable(id);
  if (!st.accessible) {
    const int err = errno;
    st.problem = id + ": " + std::strerror(err);
  }
  return st;
}

const TracepointStatus* KernelSupport::tracepoint(EventKind kind) const {
  for (const auto& t : tracepoints)
    if (t.spec != nullptr && t.spec->kind == kind) return &t;
  return nullptr;
}

std::string KernelSupport::tracing_refusal(std::string_view function) const {
  for (const auto& t : tracing) {
    if (function == t.function) return t.refusal;
  }
  return "not probed";
}

KernelSupport probe_kernel() {
  KernelSupport ks;
  struct utsname u {};
  if (::uname(&u) == 0) {
    ks.release = u.release;
    ks.machine = u.machine;
  }
  ks.caps = read_capabilities();
  ks.tracefs = probe_tracefs();
  {
    std::ifstream in("/sys/kernel/security/lockdown");
    std::string line;
    if (std::getline(in, line)) {
      const auto open = line.find('[');
      const auto close = line.find(']');
      ks.lockdown = (open != std::string::npos && close != std::string::npos && close > open)
                        ? line.substr(open + 1, close - open - 1)
                        : "none";
    }
  }
  std::optional<KernelBtf> btf;
  try {
    btf.emplace(kVmlinuxBtfPath);
    ks.btf_present = true;
  } catch (const std::exception& e) {
    ks.btf_problem = e.what();
  }
  for (const auto& spec : tracepoint_specs()) {
    const std::string events = ks.tracefs.path + "/events/" + spec.category + "/";
    TracepointStatus ts;
    ts.spec = &spec;
    ts.format_path = events + spec.name + "/format";
    ts.present = ::faccessat(AT_FDCWD, (events + spec.name).c_str(), F_OK, AT_EACCESS) == 0;
    if (btf && btf->has_struct(spec.btf_struct)) {
      ts.btf_known = true;
      for (const char* f : spec.fields)
        if (!btf->has_member(spec.btf_struct, f)) ts.missing_fields.emplace_back(f);
      for (const char* f : spec.optional_fields)
        if (!btf->has_member(spec.btf_struct, f)) ts.missing_optional_fields.emplace_back(f);
    }
    if (btf && spec.raw_args != 0) {
      // the raw_tp variant reads (struct page *, then integers) at fixed positions
      if (const auto args = btf->raw_tracepoint_args(spec.name)) {
        ts.raw_ok = args->size() == spec.raw_args && (!spec.raw_page_first || args->front() == "struct page *");
        for (std::size_t i = spec.raw_page_first ? 1 : 0; ts.raw_ok && i < args->size(); ++i)
          ts.raw_ok = (*args)[i].find('*') == std::string::npos && (*args)[i].rfind("struct", 0) != 0;
      }
    }
    if (!ks.tracefs.accessible && btf) {
      // No tracefs to look at: the BTF struct is the next best sign that the event exists.
      ts.present = ts.btf_known;
    }
    ks.tracepoints.push_back(std::move(ts));
  }
  if (btf) {
    ks.preempt = btf->locate_preempt_count();
    ks.has_rdonly_cast = btf->has_function("bpf_rdonly_cast") && btf->has_struct("qspinlock");
    if (const auto size = btf->struct_size("page"); size && *size != 0 && (*size & (*size - 1)) == 0) {
      std::uint32_t shift = 0;
      while ((1u << shift) < *size) ++shift;
      ks.page_struct_shift = shift;
    }
    ks.has_task_rename = btf->has_struct("trace_event_raw_task_rename") &&
                         btf->has_member("trace_event_raw_task_rename", "newcomm");
  } else {
    ks.preempt.reason = "no kernel BTF";
  }
  for (const auto& [function, records] :
       {std::pair{"__isolate_free_page", "the very blocks compaction, free page reporting and un-isolation take"},
        std::pair{"__putback_isolated_page", "the blocks free page reporting and un-isolation give back"},
        std::pair{"move_freepages_block", "the highatomic reserve's pageblock moves"}}) {
    ks.tracing.push_back(TracingAttach{function, records, fentry_refusal(function)});
  }
  ks.zone_counters_refusal = zone_counters_refusal();
  ks.kpageflags_readable = readable("/proc/kpageflags");
  ks.pagetypeinfo_readable = readable("/proc/pagetypeinfo");
  ks.perf_event_paranoid = read_int_file("/proc/sys/kernel/perf_event_paranoid");
  ks.unprivileged_bpf_disabled = read_int_file("/proc/sys/kernel/unprivileged_bpf_disabled");
  ks.kptr_restrict = read_int_file("/proc/sys/kernel/kptr_restrict");
  return ks;
}

std::vector<std::string> check_record_preflight(const KernelSupport& ks, const std::vector<EventKind>& wanted) {
  using Kind = RecordError::Kind;
  std::vector<std::string> warnings;

  const auto missing = ks.caps.missing_for_record();
  if (!missing.empty()) {
    throw RecordError(
        Kind::NoPermission,
        "labyrinth record needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH "
        "(missing: " + join(missing, ", ") + ")",
        {"run it as root (sudo labyrinth record ...)",
         "or grant the capabilities: sudo setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep \"$(command -v labyrinth)\""});
  }
  if (ks.lockdown == "confidentiality") {
    throw RecordError(Kind::Unsupported,
                      "the kernel is locked down in 'confidentiality' mode, which forbids BPF programs from "
                      "reading kernel memory",
                      {"boot with lockdown=integrity (or none), or disable Secure Boot lockdown"});
  }
  if (!ks.btf_present) {
    throw RecordError(Kind::Unsupported, "this kernel exposes no BTF (" + ks.btf_problem + ")",
                      {"labyrinth needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.4 or newer)"});
  }
  if (!ks.tracefs.mounted) {
    throw RecordError(Kind::Unsupported, ks.tracefs.problem,
                      {"mount it: mount -t tracefs nodev " + std::string(kTracefs)});
  }
  if (!ks.tracefs.accessible) {
    throw RecordError(Kind::NoPermission, "cannot read tracepoint ids: " + ks.tracefs.problem,
                      {"tracefs is readable only by root; run as root or grant CAP_DAC_READ_SEARCH"});
  }
  for (const auto kind : wanted) {
    const TracepointStatus* ts = ks.tracepoint(kind);
    if (ts == nullptr) continue;
    const std::string name = std::string(ts->spec->category) + ":" + ts->spec->name;
    if (!ts->present) {
      if (ts->spec->required) {
        throw RecordError(Kind::Unsupported, "this kernel has no tracepoint " + name,
                          {"labyrinth needs kmem:mm_page_alloc and kmem:mm_page_free with a pfn field (Linux 4.x or "
                           "newer, CONFIG_TRACEPOINTS=y)"});
      }
      warnings.push_back("tracepoint " + name + " is missing on this kernel; recording without it");
      continue;
    }
    if (!ts->missing_fields.empty()) {
      if (ts->spec->required) {
        throw RecordError(Kind::Unsupported,
                          "tracepoint " + name + " lacks the field(s) " + join(ts->missing_fields, ", "),
                          {"this kernel is too old or too different for labyrinth record"});
      }
      warnings.push_back("tracepoint " + name + " lacks the field(s) " + join(ts->missing_fields, ", ") +
                         "; recording without it");
      continue;
    }
    if (!ts->missing_optional_fields.empty()) {
      warnings.push_back("tracepoint " + name + " has no field " + join(ts->missing_optional_fields, ", ") +
                         "; it is recorded as 0");
    }
  }
  if (!ks.preempt.found) {
    warnings.push_back("cannot locate the per-cpu preempt counter (" + ks.preempt.reason +
                       "); execution contexts are recorded as 'unknown'");
  }
  if (!ks.has_task_rename) {
    warnings.push_back("no task:task_rename tracepoint; a process renamed by exec keeps its first name");
  }
  return warnings;
}

}  // namespace labyrinth::ebpf
