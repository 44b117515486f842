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
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>

#include "labyrinth/ebpf/errors.hpp"
#include "page_recorder.skel.h"
#include "record_convert.hpp"
#include "record_merger.hpp"

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

// Routes libbpf's messages to one collector for the lifetime of a scope.
class LogScope {
 public:
  LogScope(std::function<void(int, std::string_view)>& log, std::deque<std::string>& warnings) {
    std::lock_guard lock(g_log_mutex);
    g_log = &log;
    g_warnings = &warnings;
  }
  ~LogScope() {
    std::lock_guard lock(g_log_mutex);
    g_log = nullptr;
    g_warnings = nullptr;
  }
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;
};

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

std::uint64_t boottime_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// "0-3,5" -> {0,1,2,3,5}
std::vector<std::uint32_t> parse_cpu_list(const std::string& text) {
  std::vector<std::uint32_t> cpus;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty() || item[0] < '0' || item[0] > '9') continue;
    const auto dash = item.find('-');
    try {
      const auto lo = static_cast<std::uint32_t>(std::stoul(item.substr(0, dash)));
      const auto hi = dash == std::string::npos ? lo : static_cast<std::uint32_t>(std::stoul(item.substr(dash + 1)));
      for (std::uint32_t c = lo; c <= hi && c < 65536; ++c) cpus.push_back(c);
    } catch (const std::exception&) {
    }
  }
  return cpus;
}

std::vector<std::uint32_t> online_cpus(std::uint32_t possible) {
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string line;
  std::vector<std::uint32_t> cpus;
  if (std::getline(in, line)) cpus = parse_cpu_list(line);
  if (cpus.empty())
    for (std::uint32_t c = 0; c < possible; ++c) cpus.push_back(c);
  return cpus;
}

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
  std::vector<bpf_program*> programs;  // attached ones
  std::vector<EventKind> kinds;
  std::deque<std::string> warnings;
  std::uint32_t possible_cpus = 1;
  std::vector<std::uint32_t> cpus;     // online, for flushes
  detail::RecordMerger merger{1};
  std::uint64_t bad_records = 0;

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

  // A ring-buffer sample is one record or a batch of them, 40 bytes each.
  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size == 0 || size % sizeof(pgrec_event) != 0) {
      ++self->bad_records;
      return 0;
    }
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t off = 0; off < size; off += sizeof(pgrec_event)) {
      pgrec_event rec;
      std::memcpy(&rec, bytes + off, sizeof rec);
      self->merger.push(rec);
    }
    return 0;
  }

  void dispatch(const pgrec_event& rec, EventSink& sink) {
    if (rec.kind == PGREC_COMM) {
      pgrec_comm c;
      std::memcpy(&c, &rec, sizeof c);
      sink.on_comm(c.tid, c.tgid, detail::comm_of(c));
      return;
    }
    traces::PageEvent event;
    if (detail::to_page_event(rec, event))
      sink.on_event(event);
    else
      ++bad_records;
  }

  void take_ring() { ring_buffer__consume(rb); }

  // Runs flush_batches on every online CPU; retries a CPU whose batch a tracepoint
  // program holds (it lets go within a microsecond).
  void flush_all() {
    const int fd = bpf_program__fd(skel->progs.flush_batches);
    for (const std::uint32_t cpu : cpus) {
      for (int attempt = 0; attempt < 1000; ++attempt) {
        bpf_test_run_opts opts{};
        opts.sz = sizeof opts;
        opts.flags = BPF_F_TEST_RUN_ON_CPU;
        opts.cpu = cpu;
        if (bpf_prog_test_run_opts(fd, &opts) != 0) break;  // offline CPU: nothing to flush
        if (opts.retval == 0) break;
      }
    }
  }

  std::uint64_t release(std::uint64_t watermark, EventSink& sink) {
    std::uint64_t n = 0;
    merger.release(watermark, [&](const pgrec_event& r) {
      dispatch(r, sink);
      ++n;
    });
    return n;
  }

  // Per-CPU state of every possible CPU, as one array.
  std::vector<pgrec_cpu_state> read_cpu_state() const {
    std::vector<pgrec_cpu_state> per_cpu(possible_cpus);
    const std::uint32_t key = 0;
    if (bpf_map__lookup_elem(skel->maps.cpu_state, &key, sizeof key, per_cpu.data(),
                             per_cpu.size() * sizeof(pgrec_cpu_state), 0) != 0)
      per_cpu.clear();
    return per_cpu;
  }
};

Collector::Collector(CollectorConfig config) : impl_(std::make_unique<Impl>()) {
  using Kind = RecordError::Kind;
  auto& d = *impl_;
  d.config = std::move(config);
  LogScope scope(d.config.log, d.warnings);
  libbpf_set_print(libbpf_print);

  const int ncpus = libbpf_num_possible_cpus();
  d.possible_cpus = ncpus > 0 ? static_cast<std::uint32_t>(ncpus) : 1u;
  d.cpus = online_cpus(d.possible_cpus);
  d.merger = detail::RecordMerger(d.possible_cpus);

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
  ro.batch_max = std::clamp<std::uint32_t>(d.config.batch, 1, PGREC_BATCH);
  if (d.config.preempt_delta) {
    ro.preempt_delta = *d.config.preempt_delta;
    ro.have_preempt = 1;
    ro.have_rdonly_cast = d.config.rdonly_cast ? 1 : 0;
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
  LogScope scope(d.config.log, d.warnings);
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

int Collector::poll(int timeout_ms) {
  auto& d = *impl_;
  const std::size_t before = d.merger.queued();
  ring_buffer__poll(d.rb, timeout_ms);  // -EINTR on a signal: the caller looks at its flags
  // Samples below the wake-up threshold never wake us: take them now.
  d.take_ring();
  return static_cast<int>(d.merger.queued() - std::min(before, d.merger.queued()));
}

std::uint64_t Collector::sync(EventSink& sink) {
  auto& d = *impl_;
  // Everything stamped before this moment is, once every CPU's batch was pushed out, in
  // the ring buffer: a tracepoint program takes the batch before it reads the clock.
  const std::uint64_t watermark = boottime_now();
  d.flush_all();
  d.take_ring();
  return d.release(watermark, sink);
}

std::uint64_t Collector::finish(EventSink& sink) {
  auto& d = *impl_;
  d.flush_all();
  d.take_ring();
  // Batches of CPUs that went offline (or could not be flushed) are still in the map.
  for (const auto& st : d.read_cpu_state()) {
    for (std::uint32_t i = 0; i < std::min<std::uint32_t>(st.n, PGREC_BATCH); ++i) d.merger.push(st.batch[i]);
  }
  std::uint64_t n = 0;
  d.merger.release_all([&](const pgrec_event& r) {
    d.dispatch(r, sink);
    ++n;
  });
  return n;
}

CollectorCounters Collector::counters() const {
  CollectorCounters c;
  const auto& d = *impl_;
  for (const auto& s : d.read_cpu_state()) {
    for (std::size_t k = 0; k < c.seen.size(); ++k) c.seen[k] += s.seen[k];
    c.drops += s.drops;
    c.comm_drops += s.comm_drops;
    c.stack_errors += s.stack_errors;
    c.bypass += s.bypass;
  }
  for (bpf_program* p : d.programs) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
      c.recursion_misses += info.recursion_misses;
      c.run_time_ns += info.run_time_ns;
      c.run_count += info.run_cnt;
    }
  }
  c.late = d.merger.late();
  c.bad_records = d.bad_records;
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
