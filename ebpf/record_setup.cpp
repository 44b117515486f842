#include "record_setup.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "child_command.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::ebpf {
namespace {

using Kind = RecordError::Kind;

}  // namespace

void check_record_options(const RecordOptions& o, RecordPlan& plan) {
  if (o.buffer_mib == 0 || (o.buffer_mib & (o.buffer_mib - 1)) != 0 || o.buffer_mib > 2048)
    throw RecordError(Kind::Usage, fmt::format("--buffer-size {} MiB: must be a power of two up to 2048", o.buffer_mib));
  if (o.min_order > 15) throw RecordError(Kind::Usage, fmt::format("--min-order {}: must be 0..15", o.min_order));
  if (o.pid != 0 && !process_alive(static_cast<pid_t>(o.pid)))
    throw RecordError(Kind::Usage, fmt::format("no process with pid {}", o.pid));
  if (!o.command.empty()) {
    plan.command_path = find_in_path(o.command.front());
    if (plan.command_path.empty()) throw RecordError(Kind::Usage, o.command.front() + ": command not found");
  }
}

void plan_events(const RecordOptions& o, RecordPlan& plan, RecordObserver& observer) {
  const std::vector<traces::EventKind> wanted = o.events.empty() ? default_record_events() : o.events;
  plan.kernel = probe_kernel();
  for (const auto& w : check_record_preflight(plan.kernel, wanted)) observer.warning(w);
  for (const auto k : wanted) {
    const TracepointStatus* ts = plan.kernel.tracepoint(k);
    if (ts != nullptr && ts->present && ts->missing_fields.empty())
      plan.attach.push_back(k);
    else
      plan.missing.push_back(traces::tracepoint_of(k));
  }
}

void check_output_path(const std::string& output, bool overwrite) {
  struct stat st {};
  if (::lstat(output.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      throw RecordError(Kind::Output, output + " is a symbolic link; refusing to write through it",
                        {"remove it or choose another name with -o"});
    if (!S_ISREG(st.st_mode))
      throw RecordError(Kind::Output, output + " exists and is not a regular file", {"choose another name with -o"});
    if (!overwrite)
      throw RecordError(Kind::Output, output + " already exists",
                        {"use -f to overwrite it, or -o to write another file"});
  }
  std::string dir = ".";
  if (const auto slash = output.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : output.substr(0, slash);
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    const int e = errno;
    throw RecordError(Kind::Output, "cannot write to " + dir + ": " + common::errno_text(e),
                      {"choose a writable place with -o FILE"});
  }
}

void collect_facts(const RecordOptions& o, RecordPlan& plan, RecordObserver& observer) {
  plan.facts = collect_system_facts(plan.kernel.tracefs.path);
  for (const auto& w : plan.facts.warnings) observer.warning(w);
  if (o.call_graph) {
    if (auto symbols = KernelSymbols::from_file("/proc/kallsyms")) {
      plan.symbols = std::move(*symbols);
    } else {
      observer.warning("kernel stacks stay unsymbolized: " + symbols.why());
    }
  }
}

void protect_from_oom_killer(RecordObserver& observer) {
  const int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  const char value[] = "-900";
  if (fd < 0 || ::write(fd, value, sizeof value - 1) != static_cast<ssize_t>(sizeof value - 1)) {
    // Worth a warning: the recorder is for squeezes, where the OOM killer runs.
    observer.warning("cannot lower the recorder's oom_score_adj (" + common::errno_text(errno) +
                     "; CAP_SYS_RESOURCE is needed): under memory pressure the OOM killer may end the recording "
                     "(what was written stays readable); a smaller -m makes that less likely");
  }
  if (fd >= 0) ::close(fd);
}

void lock_recorder_memory(bool lock, RecordObserver& observer) {
  if (!lock) return;
  if (::mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
    observer.warning("cannot lock the recorder's memory (mlockall: " + common::errno_text(errno) +
                     "; CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK is needed): under memory pressure the kernel may "
                     "evict its code and it reads it back, adding its own page-cache allocations to the recording");
  }
}

void raise_reader_priority(int nice, int realtime, RecordObserver& observer) {
  // Linux: PRIO_PROCESS with a thread id sets that thread; threads started later inherit it.
  if (nice != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) != 0) {
    observer.debug(1, "cannot set the recorder's niceness: " + common::errno_text(errno));
  }
  if (realtime == 0) return;
  // Only this thread: the snapshot threads started later go back to the normal class (and
  // take the niceness back themselves, SnapshotTask), so a 2-second /proc/kpageflags scan
  // never runs in the real-time class.
  sched_param param{};
  param.sched_priority = realtime;
  if (::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
    observer.debug(1, "cannot make the reader real-time (SCHED_FIFO): " + common::errno_text(errno) +
                          "; it stays at its niceness");
  }
}

CollectorConfig collector_config(const RecordOptions& o, const RecordPlan& plan, RecordObserver& observer) {
  const KernelSupport& ks = plan.kernel;
  CollectorConfig cc;
  cc.kinds = plan.attach;
  cc.ring_bytes = o.buffer_mib << 20;
  cc.wakeup_bytes = std::min(o.wakeup_kib << 10, cc.ring_bytes / 4);
  cc.batch = o.batch;
  cc.target_tgid = o.pid;
  cc.min_order = o.min_order;
  cc.stacks = o.call_graph;
  cc.task_rename = ks.has_task_rename;
  if (ks.preempt.found) {
    cc.preempt_delta = ks.preempt.delta;
    cc.cpu_offset_delta = ks.preempt.cpu_offset_delta;
  }
  cc.rdonly_cast = ks.has_rdonly_cast;
  cc.exact_refusal = ks.tracing_refusal("__isolate_free_page");
  if (cc.exact_refusal.empty()) cc.exact_refusal = ks.tracing_refusal("__putback_isolated_page");
  cc.moves_refusal = ks.tracing_refusal("move_freepages_block");
  cc.zone_counters = o.zone_counters;
  cc.zone_counters_refusal = ks.zone_counters_refusal;
  cc.attach = o.attach;
  cc.page_struct_shift = ks.page_struct_shift;
  for (const auto& t : ks.tracepoints)
    if (t.raw_ok) cc.raw_kinds.push_back(t.spec->kind);
  cc.log = [&observer](int level, std::string_view msg) {
    if (level >= 1) observer.debug(level + 1, msg);  // libbpf info at -vv, debug at -vvv
  };
  return cc;
}

traces::TraceHeader make_header(const RecordOptions& o, RecordPlan& plan, const Collector& collector,
                                RecordObserver& observer) {
  const KernelSupport& ks = plan.kernel;
  traces::TraceHeader header;
  header.tool = "labyrinth";
  header.tool_version = o.tool_version;
  header.source = "record";
  fill_header(header, plan.facts);
  header.clock = "boot";
  header.command = o.command;
  const auto& gone = collector.unrecorded_kinds();
  for (const auto k : plan.attach) {
    if (std::find(gone.begin(), gone.end(), k) != gone.end()) {
      observer.warning("cannot record " + traces::tracepoint_of(k) + " without raw_tp programs; recording without it");
      plan.missing.push_back(traces::tracepoint_of(k));
    } else {
      header.events.push_back(traces::tracepoint_of(k));
    }
  }
  if (collector.pageblock_moves_attached()) header.events.push_back(traces::tracepoint_of(traces::EventKind::PageblockMove));
  if (collector.zone_counters_recorded()) header.events.push_back(traces::tracepoint_of(traces::EventKind::ZoneCounters));
  for (const auto& section : collector.optional_missing()) {
    observer.warning("cannot attach " + section + "; recording without it");
    plan.missing.push_back(section.substr(section.find('/') + 1));
  }
  header.missing_events = plan.missing;
  header.options["events"] = common::join(header.events, ",");
  header.options["pid"] = std::to_string(o.pid);
  header.options["min_order"] = std::to_string(o.min_order);
  header.options["call_graph"] = o.call_graph ? "1" : "0";
  header.options["buffer_mib"] = std::to_string(o.buffer_mib);
  header.options["wakeup_kib"] = std::to_string(o.wakeup_kib);
  header.options["batch"] = std::to_string(o.batch);
  header.options["kpageflags"] = o.kpageflags ? "1" : "0";
  header.options["keyframe_interval_ns"] = std::to_string(o.keyframe_interval.count());
  header.options["keyframe_free_map"] = std::to_string(free_map_every(o, collector));
  header.options["free_map_source"] = collector.can_walk_free_lists() ? "free_lists" : o.kpageflags ? "kpageflags" : "none";
  header.options["exec_context"] = ks.preempt.found ? ks.preempt.via : "unknown";
  header.options["attach"] = collector.attach_summary();
  if (o.duration) header.options["duration_ns"] = std::to_string(o.duration->count());
  header.start_time_unix_ns = realtime_ns();
  header.start_ts_ns = boottime_ns();
  return header;
}

std::uint32_t free_map_every(const RecordOptions& o, const Collector& collector) {
  if (o.keyframe_free_map) return *o.keyframe_free_map;
  return collector.can_walk_free_lists() ? 1 : o.kpageflags ? kKeyframesPerScan : 0;
}

SnapshotOptions map_keyframe_options(const RecordOptions& o, Collector& collector, bool pagetypes) {
  if (collector.can_walk_free_lists()) return SnapshotOptions{false, pagetypes, true, &collector};
  return SnapshotOptions{o.kpageflags, true};
}

}  // namespace labyrinth::ebpf
