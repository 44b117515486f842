// The only translation unit that includes the generated skeleton (it embeds the whole
// BPF ELF object).
#include "labyrinth/ebpf/collector.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

#include "labyrinth/ebpf/errors.hpp"
#include "page_recorder.skel.h"
#include "record_convert.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::EventKind;

// libbpf has one global print hook: route it to the collector being set up.
std::mutex g_log_mutex;
std::function<void(int, std::string_view)>* g_log = nullptr;
std::deque<std::string>* g_warnings = nullptr;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(buf, sizeof buf, format, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string_view msg(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  std::lock_guard lock(g_log_mutex);
  const int lvl = level == LIBBPF_WARN ? 0 : level == LIBBPF_INFO ? 1 : 2;
  if (lvl == 0 && g_warnings != nullptr) {
    g_warnings->emplace_back(msg);
    if (g_warnings->size() > 40) g_warnings->pop_front();
  }
  if (g_log != nullptr && *g_log) (*g_log)(lvl, msg);
  return n;
}
#pragma GCC diagnostic pop

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace

std::uint64_t CollectorCounters::seen_total() const {
  std::uint64_t n = 0;
  for (const auto v : seen) n += v;
  return n;
}

struct Collector::Impl {
  CollectorConfig config;
  page_recorder_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  std::vector<bpf_link*> links;
  std::vector<bpf_program*> programs;  // loaded ones
  std::vector<EventKind> kinds;
  std::deque<std::string> warnings;
  EventSink* sink = nullptr;
  std::uint64_t unknown_records = 0;

  ~Impl() {
    for (auto* l : links) bpf_link__destroy(l);
    ring_buffer__free(rb);
    page_recorder_bpf__destroy(skel);
  }

  bpf_program* program_for(EventKind kind) const {
    switch (kind) {
      case EventKind::Alloc: return skel->progs.handle_mm_page_alloc;
      case EventKind::Free: return skel->progs.handle_mm_page_free;
      case EventKind::FreeBatched: return skel->progs.handle_mm_page_free_batched;
      case EventKind::PcpRefill: return skel->progs.handle_mm_page_alloc_zone_locked;
      case EventKind::PcpDrain: return skel->progs.handle_mm_page_pcpu_drain;
      case EventKind::Extfrag: return skel->progs.handle_mm_page_alloc_extfrag;
    }
    return nullptr;
  }

  std::vector<std::string> warning_lines() const { return {warnings.begin(), warnings.end()}; }

  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size == sizeof(pgrec_event)) {
      pgrec_event rec;
      std::memcpy(&rec, data, sizeof rec);
      traces::PageEvent event;
      if (detail::to_page_event(rec, event)) {
        self->sink->on_event(event);
      } else {
        ++self->unknown_records;
      }
    } else if (size == sizeof(pgrec_comm)) {
      pgrec_comm rec;
      std::memcpy(&rec, data, sizeof rec);
      const std::size_t len = strnlen(rec.comm, sizeof rec.comm);
      self->sink->on_comm(rec.tid, rec.tgid, std::string_view(rec.comm, len));
    } else {
      ++self->unknown_records;
    }
    return 0;
  }
};

Collector::Collector(CollectorConfig config) : impl_(std::make_unique<Impl>()) {
  using Kind = RecordError::Kind;
  auto& d = *impl_;
  d.config = std::move(config);
  {
    std::lock_guard lock(g_log_mutex);
    g_log = &d.config.log;
    g_warnings = &d.warnings;
  }
  libbpf_set_print(libbpf_print);
  struct Unhook {
    ~Unhook() {
      std::lock_guard lock(g_log_mutex);
      g_log = nullptr;
      g_warnings = nullptr;
    }
  } unhook;

  d.skel = page_recorder_bpf__open();
  if (d.skel == nullptr) {
    const int err = errno;
    throw RecordError(Kind::Failure, "cannot open the BPF object: " + errno_text(err), {}, d.warning_lines());
  }
  auto& ro = *d.skel->rodata;
  ro.target_tgid = d.config.target_tgid;
  ro.min_order = d.config.min_order;
  ro.wakeup_bytes = d.config.wakeup_bytes;
  ro.want_stacks = d.config.stacks ? 1 : 0;
  ro.want_comm = d.config.comm ? 1 : 0;
  if (d.config.preempt_delta) {
    ro.preempt_delta = *d.config.preempt_delta;
    ro.have_preempt = 1;
  }
  if (int err = bpf_map__set_max_entries(d.skel->maps.events, d.config.ring_bytes); err != 0) {
    throw RecordError(Kind::Usage, "bad ring buffer size " + std::to_string(d.config.ring_bytes) + ": " + errno_text(err));
  }
  if (d.config.stacks) {
    if (int err = bpf_map__set_max_entries(d.skel->maps.stacks, d.config.stack_entries); err != 0)
      throw RecordError(Kind::Usage, "bad stack map size: " + errno_text(err));
  }
  for (const auto& k : {EventKind::Alloc, EventKind::Free, EventKind::FreeBatched, EventKind::PcpRefill,
                        EventKind::PcpDrain, EventKind::Extfrag}) {
    const bool want = std::find(d.config.kinds.begin(), d.config.kinds.end(), k) != d.config.kinds.end();
    bpf_program__set_autoload(d.program_for(k), want);
    if (want) {
      d.kinds.push_back(k);
      d.programs.push_back(d.program_for(k));
    }
  }
  const bool rename = d.config.comm && d.config.task_rename;
  bpf_program__set_autoload(d.skel->progs.handle_task_rename, rename);
  if (rename) d.programs.push_back(d.skel->progs.handle_task_rename);
  if (d.kinds.empty()) throw RecordError(Kind::Usage, "no event to record");

  if (int err = page_recorder_bpf__load(d.skel); err != 0) {
    if (err == -EPERM || err == -EACCES) {
      throw RecordError(Kind::NoPermission,
                        "the kernel refused to load the BPF program (" + errno_text(err) + ")",
                        {"labyrinth record needs root, or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH"},
                        d.warning_lines());
    }
    throw RecordError(Kind::Failure, "cannot load the BPF program: " + errno_text(err),
                      {"run with -vv to see libbpf's log", "check the kernel's BPF support with: labyrinth info"},
                      d.warning_lines());
  }
  d.rb = ring_buffer__new(bpf_map__fd(d.skel->maps.events), &Impl::on_sample, &d, nullptr);
  if (d.rb == nullptr) {
    const int err = errno;
    throw RecordError(Kind::Failure, "cannot map the BPF ring buffer: " + errno_text(err), {}, d.warning_lines());
  }
}

Collector::~Collector() = default;

void Collector::attach() {
  using Kind = RecordError::Kind;
  auto& d = *impl_;
  {
    std::lock_guard lock(g_log_mutex);
    g_log = &d.config.log;
    g_warnings = &d.warnings;
  }
  struct Unhook {
    ~Unhook() {
      std::lock_guard lock(g_log_mutex);
      g_log = nullptr;
      g_warnings = nullptr;
    }
  } unhook;
  for (bpf_program* p : d.programs) {
    bpf_link* link = bpf_program__attach(p);
    if (link == nullptr) {
      const int err = errno;
      const std::string what = std::string("cannot attach ") + bpf_program__section_name(p) + ": " + errno_text(err);
      if (err == EACCES || err == EPERM)
        throw RecordError(Kind::NoPermission, what,
                          {"tracefs is readable only by root; run as root or grant CAP_DAC_READ_SEARCH"},
                          d.warning_lines());
      if (err == ENOENT)
        throw RecordError(Kind::Unsupported, what,
                          {"is tracefs mounted? mount -t tracefs nodev /sys/kernel/tracing"}, d.warning_lines());
      throw RecordError(Kind::Failure, what, {}, d.warning_lines());
    }
    d.links.push_back(link);
  }
}

void Collector::detach() {
  for (auto* l : impl_->links) bpf_link__destroy(l);
  impl_->links.clear();
}

int Collector::poll(int timeout_ms, EventSink& sink) {
  impl_->sink = &sink;
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  if (n < 0) n = 0;  // -EINTR: a signal; the caller looks at its flags
  // Records below the wake-up threshold never wake us: take them now.
  const int more = ring_buffer__consume(impl_->rb);
  return n + (more > 0 ? more : 0);
}

int Collector::drain(EventSink& sink) {
  impl_->sink = &sink;
  const int n = ring_buffer__consume(impl_->rb);
  return n > 0 ? n : 0;
}

CollectorCounters Collector::counters() const {
  CollectorCounters c;
  const auto& d = *impl_;
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus > 0) {
    std::vector<pgrec_cpu_state> per_cpu(static_cast<std::size_t>(ncpus));
    const std::uint32_t key = 0;
    if (bpf_map__lookup_elem(d.skel->maps.cpu_state, &key, sizeof key, per_cpu.data(),
                             per_cpu.size() * sizeof(pgrec_cpu_state), 0) == 0) {
      for (const auto& s : per_cpu) {
        for (std::size_t k = 0; k < c.seen.size(); ++k) c.seen[k] += s.seen[k];
        c.drops += s.drops;
        c.comm_drops += s.comm_drops;
        c.stack_errors += s.stack_errors;
      }
    }
  }
  for (bpf_program* p : d.programs) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) c.recursion_misses += info.recursion_misses;
  }
  return c;
}

bool Collector::stack(std::uint32_t stack_id, std::vector<std::uint64_t>& addresses) const {
  addresses.clear();
  if (stack_id == traces::kNoStack || !impl_->config.stacks) return false;
  std::array<std::uint64_t, PGREC_STACK_DEPTH> ips{};
  const std::uint32_t key = stack_id - 1;
  if (bpf_map__lookup_elem(impl_->skel->maps.stacks, &key, sizeof key, ips.data(), sizeof ips, 0) != 0) return false;
  for (const auto ip : ips) {
    if (ip == 0) break;
    addresses.push_back(ip);
  }
  return !addresses.empty();
}

const std::vector<EventKind>& Collector::attached_kinds() const { return impl_->kinds; }

}  // namespace labyrinth::ebpf
