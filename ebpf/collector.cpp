// The only translation unit that includes the generated skeleton (it embeds the whole
// BPF ELF object).
#include "labyrinth/ebpf/collector.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>

#include "labyrinth/ebpf/errors.hpp"
#include "page_recorder.skel.h"
#include "record_convert.hpp"
#include "record_merger.hpp"
#include "labyrinth/common/text.hpp"
#include "labyrinth/procfs/cpus.hpp"
#include "labyrinth/procfs/files.hpp"

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

using common::errno_text;

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
    ring_buffer__free(free_rb);
    page_recorder_bpf__destroy(skel);
  }

  std::vector<EventKind> raw;             // kinds attached through raw_tp (after attach)
  std::vector<EventKind> unrecorded;      // wanted, but only a raw_tp program exists and raw_tp is off
  std::vector<bpf_program*> attached_optional;
  std::vector<std::string> optional_missing;  // optional programs that could not be attached
  std::vector<EventKind> raw_candidates;  // kinds whose raw_tp program was loaded
  std::string raw_problem;

  bpf_program* program_for(EventKind kind) const {
    switch (kind) {
      case EventKind::Alloc: return zone_counters ? skel->progs.handle_mm_page_alloc_zc : skel->progs.handle_mm_page_alloc;
      case EventKind::Free: return skel->progs.handle_mm_page_free;
      case EventKind::FreeBatched: return skel->progs.handle_mm_page_free_batched;
      case EventKind::PcpRefill: return skel->progs.handle_mm_page_alloc_zone_locked;
      case EventKind::PcpDrain: return skel->progs.handle_mm_page_pcpu_drain;
      case EventKind::Extfrag: return skel->progs.handle_mm_page_alloc_extfrag;
      case EventKind::Isolate:  // raw_tp only
      case EventKind::ReclaimBegin:
      case EventKind::ReclaimEnd:
      case EventKind::KswapdWake:
      case EventKind::KswapdSleep:
      case EventKind::PageblockMove: return nullptr;  // fexit, with the extfrag kind
      case EventKind::ZoneCounters: return nullptr;   // read in the alloc programs
    }
    return nullptr;
  }

  // The raw_tp programs of a kind, in the order they must be attached: the page events have a
  // main copy and a stand-in (a raw_tp program interrupted by itself loses the inner event;
  // see page_recorder.bpf.c).
  std::vector<bpf_program*> raw_programs_for(EventKind kind) const {
    auto& p = skel->progs;
    switch (kind) {
      case EventKind::Alloc:
        if (zone_counters) return {p.raw_mm_page_alloc_zc_main, p.raw_mm_page_alloc_zc_standin};
        return {p.raw_mm_page_alloc_main, p.raw_mm_page_alloc_standin};
      case EventKind::Free: return {p.raw_mm_page_free_main, p.raw_mm_page_free_standin};
      case EventKind::FreeBatched: return {p.raw_mm_page_free_batched_main, p.raw_mm_page_free_batched_standin};
      case EventKind::PcpRefill: return {p.raw_mm_page_alloc_zone_locked_main, p.raw_mm_page_alloc_zone_locked_standin};
      case EventKind::PcpDrain: return {p.raw_mm_page_pcpu_drain_main, p.raw_mm_page_pcpu_drain_standin};
      case EventKind::Extfrag: return {};
      case EventKind::Isolate:
        return {p.raw_mm_compaction_isolate_freepages, p.raw_mm_compaction_fast_isolate_freepages};
      case EventKind::ReclaimBegin: return {p.raw_mm_vmscan_direct_reclaim_begin};
      case EventKind::ReclaimEnd: return {p.raw_mm_vmscan_direct_reclaim_end};
      case EventKind::KswapdWake: return {p.raw_mm_vmscan_kswapd_wake};
      case EventKind::KswapdSleep: return {p.raw_mm_vmscan_kswapd_sleep};
      case EventKind::PageblockMove:
      case EventKind::ZoneCounters: return {};
    }
    return {};
  }

  // fentry/fexit programs of the isolate kind: the very blocks taken and given back.
  std::vector<bpf_program*> exact_isolation_programs() const {
    return {skel->progs.isolate_block_exit, skel->progs.putback_block};
  }
  bool exact_isolation = false;  // loaded: attached with the page programs once calibrated
  std::string exact_problem;     // why not, when wanted
  // fexit/move_freepages_block, with the extfrag kind: it needs vmemmap_base and fentry.
  bool pageblock_moves = false;  // loaded
  std::string moves_problem;     // why not, when wanted
  bool moves_attached = false;
  // The zone counters at failed allocations: loaded, why not (when wanted), and whether
  // find_node_data found a node's pglist_data.
  bool zone_counters = false;
  std::string zone_counters_problem;
  bool zone_counters_found = false;
  // The free-list walk: loaded, ready (attach() found the nodes and vmemmap_base), why not,
  // and what the samples of the walk under way brought.
  bool free_walk = false;
  bool free_walk_ready = false;
  std::string free_walk_problem;
  std::uint64_t free_walk_failures = 0;
  ring_buffer* free_rb = nullptr;
  struct WalkSamples {
    std::vector<std::uint64_t> blocks;  // pgrec_free_batch::blocks entries
    bool ended = false;
    pgrec_free_batch end{};  // the last sample's header
  } walk;

  // The walk's blocks as free runs, sorted by pfn. A block that moved from one list to another
  // while the walk read them (merged with its buddy, say) shows twice, overlapping: the runs
  // take the union, pages free at some moment of the walk's milliseconds, as a scan's are.
  static void runs_of(std::vector<std::uint64_t>& blocks, std::vector<traces::FreeRun>& runs) {
    constexpr std::uint64_t kPfnMask = (std::uint64_t{1} << PGREC_FREE_ORDER_SHIFT) - 1;
    std::sort(blocks.begin(), blocks.end(),
              [](std::uint64_t a, std::uint64_t b) { return (a & kPfnMask) < (b & kPfnMask); });
    for (const std::uint64_t b : blocks) {
      const std::uint64_t pfn = b & kPfnMask;
      const std::uint64_t end = pfn + (std::uint64_t{1} << ((b >> PGREC_FREE_ORDER_SHIFT) & 0xf));
      if (!runs.empty() && pfn <= runs.back().start_pfn + runs.back().pages) {
        runs.back().pages = std::max(runs.back().start_pfn + runs.back().pages, end) - runs.back().start_pfn;
      } else {
        runs.push_back(traces::FreeRun{pfn, end - pfn});
      }
    }
  }

  static int on_free_sample(void* ctx, void* data, std::size_t size) {
    auto& d = *static_cast<Impl*>(ctx);
    auto& w = d.walk;
    constexpr std::size_t header = offsetof(pgrec_free_batch, blocks);
    if (size < header) {
      ++d.bad_records;  // reported with the event ring's: "not understood"
      return 0;
    }
    pgrec_free_batch head{};
    std::memcpy(&head, data, header);
    const std::size_t n = std::min<std::size_t>(head.n, (size - header) / sizeof(std::uint64_t));
    const auto* blocks = reinterpret_cast<const unsigned char*>(data) + header;
    const std::size_t at = w.blocks.size();
    w.blocks.resize(at + n);
    std::memcpy(w.blocks.data() + at, blocks, n * sizeof(std::uint64_t));
    if (head.last != 0) {
      w.ended = true;
      w.end = head;
    }
    return 0;
  }

  // One walk, read again while the lists change under it (up to three times).
  bool walk_free_lists(std::vector<traces::FreeRun>& runs, std::string& problem) {
    if (!free_walk_ready) {
      problem = free_walk_problem;
      return false;
    }
    // A list that changed under the walk can end it early (a stray): the lists are read again,
    // a few times.
    for (int attempt = 0; attempt < 3; ++attempt) {
      runs.clear();
      walk = {};
      bpf_test_run_opts opts{};
      opts.sz = sizeof opts;
      if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.walk_free_lists), &opts) != 0) {
        problem = "cannot run the free-list walk: " + errno_text(errno);
        return false;
      }
      ring_buffer__consume(free_rb);
      const auto& last = walk.end;
      if (!walk.ended) {
        problem = "the walk sent no end (" + std::to_string(walk.blocks.size()) + " blocks arrived)";
        return false;
      }
      if (last.lost != 0) {
        problem = fmt::format("{} of {} blocks overflowed the free-list ring buffer ({} MiB)",
                              last.walked - walk.blocks.size(), last.walked, config.free_list_ring_bytes >> 20);
        return false;
      }
      if (last.unfinished != 0) {
        problem = fmt::format("more than {} steps ({} blocks read)", PGREC_FREE_WALK_STEPS, last.walked);
        return false;
      }
      if (last.strays != 0) {
        problem = fmt::format("a free list changed under the walk ({} lists left early)", last.strays);
        continue;
      }
      runs_of(walk.blocks, runs);
      return true;
    }
    runs.clear();
    return false;
  }

  void open_configured(bool tracing, const std::string& refused);

  // The kind and copy (PGREC_COPY_MAIN or _STANDIN) of a page event's raw_tp program.
  std::optional<std::pair<EventKind, int>> copy_of(const bpf_program* p) const {
    for (const auto k : raw) {
      if (!needs_calibration(k)) continue;
      const auto progs = raw_programs_for(k);
      if (const auto it = std::find(progs.begin(), progs.end(), p); it != progs.end())
        return std::pair{k, static_cast<int>(it - progs.begin())};
    }
    return std::nullopt;
  }

  // Only the struct page * programs need vmemmap_base.
  static bool needs_calibration(EventKind kind) {
    return kind != EventKind::Isolate && !traces::is_pageless(kind);
  }

  bool is_raw_candidate(EventKind k) const {
    return std::find(raw_candidates.begin(), raw_candidates.end(), k) != raw_candidates.end();
  }

  // Runs find_node_data over every task once: each node's kswapd gives its pglist_data, which
  // the zone counters and the free-list walk start from. Returns why not ("" when found).
  std::string find_node_data() {
    bpf_link* link = bpf_program__attach_iter(skel->progs.find_node_data, nullptr);
    if (link == nullptr) return "cannot attach the task iterator: " + errno_text(errno);
    const bool ran = run_iterator(link);
    const int err = errno;
    bpf_link__destroy(link);
    if (!ran) return "cannot run the task iterator: " + errno_text(err);
    const auto* nodes = static_cast<const volatile __u64*>(skel->bss->node_pgdat);
    for (std::size_t n = 0; n < PGREC_MAX_NODES; ++n) {
      if (nodes[n] != 0) return "";
    }
    return "no kswapd thread found (its pglist_data is where the zones are)";
  }

  // One pass of an iterator program: it runs as its output is read.
  static bool run_iterator(bpf_link* link) {
    const int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) return false;
    char buf[256];
    ssize_t got = 0;
    while ((got = ::read(fd, buf, sizeof buf)) > 0) {
    }
    const int err = errno;
    ::close(fd);
    errno = err;
    return got == 0;
  }

  // vmemmap_base: touch fresh pages from this thread while `calibrate` watches, and compare
  // the struct page pointers with the pfns of /proc/self/pagemap (which shows pfns only with
  // CAP_SYS_ADMIN). Three pages must agree.
  bool calibrate() {
    auto* bss = skel->bss;
    const long ps = ::sysconf(_SC_PAGESIZE);
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      raw_problem = std::string("/proc/self/pagemap: ") + std::strerror(errno);
      return false;
    }
    auto* tid = static_cast<volatile __u32*>(&bss->calib_tid);
    auto* seen = static_cast<volatile __u64*>(&bss->calib_page);
    *tid = static_cast<std::uint32_t>(::gettid());
    bpf_link* link = bpf_program__attach(skel->progs.calibrate);
    if (link == nullptr) {
      raw_problem = std::string("cannot attach raw_tp/mm_page_alloc: ") + std::strerror(errno);
      ::close(fd);
      *tid = 0;
      return false;
    }
    std::optional<std::uint64_t> base;
    for (int i = 0; i < 3 && raw_problem.empty(); ++i) {
      void* mem = ::mmap(nullptr, static_cast<std::size_t>(ps), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
      if (mem == MAP_FAILED) {
        raw_problem = "mmap failed";
        break;
      }
      ::madvise(mem, static_cast<std::size_t>(ps), MADV_NOHUGEPAGE);
      *seen = 0;
      *static_cast<volatile char*>(mem) = 1;  // the page fault allocates the page here
      const std::uint64_t page = *seen;
      std::uint64_t entry = 0;
      const auto off = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(mem) / static_cast<std::uintptr_t>(ps) * 8);
      const bool read_ok = ::pread(fd, &entry, sizeof entry, off) == static_cast<ssize_t>(sizeof entry);
      ::munmap(mem, static_cast<std::size_t>(ps));
      const std::uint64_t pfn = entry & ((std::uint64_t{1} << 55) - 1);
      if (!read_ok || (entry >> 63) == 0 || pfn == 0) {
        raw_problem = "/proc/self/pagemap shows no pfns (needs CAP_SYS_ADMIN)";
      } else if (page == 0) {
        raw_problem = "the page allocation was not seen";
      } else {
        const std::uint64_t b = page - (pfn << config.page_struct_shift);
        if (base && *base != b) raw_problem = "struct page pointers and pfns disagree (not SPARSEMEM_VMEMMAP?)";
        base = b;
      }
    }
    bpf_link__destroy(link);
    ::close(fd);
    *tid = 0;
    if (!raw_problem.empty() || !base) return false;
    *static_cast<volatile __u64*>(&bss->vmemmap_base) = *base;
    return true;
  }

  std::vector<std::string> warning_lines() const { return {warnings.begin(), warnings.end()}; }

  // A ring-buffer sample is one record or a batch of them, 40 bytes each.
  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size == 0 || size % sizeof(pgrec_event) != 0) {
      ++self->bad_records;
      return 0;
    }
    self->merger.push_sample(static_cast<const unsigned char*>(data), size / sizeof(pgrec_event));
    return 0;
  }

  void dispatch(const pgrec_event& rec, CollectedEventSink& sink) {
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

  std::uint64_t release(std::uint64_t watermark, CollectedEventSink& sink) {
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

// Opens the BPF object and decides which programs load. `tracing` false leaves out the
// fentry/fexit programs (the exact blocks and the pageblock moves), for `refused` (why).
void Collector::Impl::open_configured(bool tracing, const std::string& refused) {
  using Kind = RecordError::Kind;
  auto& d = *this;
  d.kinds.clear();
  d.unrecorded.clear();
  d.raw_candidates.clear();
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
    if (d.config.cpu_offset_delta) {
      ro.cpu_offset_delta = *d.config.cpu_offset_delta;
      ro.have_cpu_offset = 1;
    }
  }
  ro.nr_cpus = procfs::possible_cpus();
  for (const std::uint32_t cpu : procfs::online_cpus(ro.nr_cpus)) {
    if (cpu < PGREC_MAX_CPUS) ro.online_cpus[cpu / 64] |= std::uint64_t{1} << (cpu % 64);
  }
  if (int err = bpf_map__set_max_entries(d.skel->maps.events, d.config.ring_bytes); err != 0) {
    throw RecordError(Kind::Usage, "bad ring buffer size " + std::to_string(d.config.ring_bytes) + ": " + errno_text(err));
  }
  if (d.config.stacks) {
    if (int err = bpf_map__set_max_entries(d.skel->maps.stacks, d.config.stack_entries); err != 0)
      throw RecordError(Kind::Usage, "bad stack map size: " + errno_text(err));
  }
  ro.page_shift = d.config.page_struct_shift;
  const bool page_raw_possible = d.config.attach != AttachMode::Classic && d.config.page_struct_shift != 0;
  if (d.config.attach == AttachMode::Raw && !page_raw_possible)
    throw RecordError(Kind::Unsupported, "raw_tp attach needs the size of struct page from the kernel BTF");
  // The zone counters come with the alloc programs' variant that reads them; the other variant
  // stays out of the kernel.
  const bool allocs =
      std::find(d.config.kinds.begin(), d.config.kinds.end(), EventKind::Alloc) != d.config.kinds.end();
  d.zone_counters_problem = !tracing ? refused : d.config.zone_counters_refusal;
  d.zone_counters = allocs && d.config.zone_counters && d.zone_counters_problem.empty();
  for (bpf_program* p : {d.skel->progs.handle_mm_page_alloc, d.skel->progs.handle_mm_page_alloc_zc,
                         d.skel->progs.raw_mm_page_alloc_main, d.skel->progs.raw_mm_page_alloc_standin,
                         d.skel->progs.raw_mm_page_alloc_zc_main, d.skel->progs.raw_mm_page_alloc_zc_standin}) {
    bpf_program__set_autoload(p, false);
  }
  bool calibrate = false;
  for (const auto& k : {EventKind::Alloc, EventKind::Free, EventKind::FreeBatched, EventKind::PcpRefill,
                        EventKind::PcpDrain, EventKind::Extfrag, EventKind::Isolate, EventKind::ReclaimBegin,
                        EventKind::ReclaimEnd, EventKind::KswapdWake, EventKind::KswapdSleep}) {
    bool want = std::find(d.config.kinds.begin(), d.config.kinds.end(), k) != d.config.kinds.end();
    const std::vector<bpf_program*> raw_progs = d.raw_programs_for(k);
    const bool raw_possible = Impl::needs_calibration(k) ? page_raw_possible : d.config.attach != AttachMode::Classic;
    const bool use_raw = want && raw_possible && !raw_progs.empty() &&
                     std::find(d.config.raw_kinds.begin(), d.config.raw_kinds.end(), k) != d.config.raw_kinds.end();
    if (want && !use_raw && d.program_for(k) == nullptr) {
      d.unrecorded.push_back(k);  // raw_tp only, and raw_tp cannot be used
      want = false;
    }
    // The classic program is loaded too: it takes over if vmemmap_base cannot be measured.
    if (d.program_for(k) != nullptr) bpf_program__set_autoload(d.program_for(k), want && Impl::needs_calibration(k));
    for (bpf_program* p : raw_progs) bpf_program__set_autoload(p, use_raw);
    if (k == EventKind::Isolate) {
      // The exact blocks need vmemmap_base (calibrated with the page programs) and BTF.
      d.exact_problem = tracing ? d.config.exact_refusal : refused;
      d.exact_isolation = use_raw && page_raw_possible && d.exact_problem.empty();
      for (bpf_program* p : d.exact_isolation_programs()) bpf_program__set_autoload(p, d.exact_isolation);
    }
    if (k == EventKind::Extfrag && want) {
      // page_to_pfn needs vmemmap_base, measured with the raw page programs.
      d.pageblock_moves = page_raw_possible;
      d.moves_problem = !page_raw_possible ? "raw_tp page programs are off (no vmemmap_base)"
                        : !tracing         ? refused
                                           : d.config.moves_refusal;
      d.pageblock_moves = d.pageblock_moves && d.moves_problem.empty();
    }
    if (k == EventKind::Extfrag) bpf_program__set_autoload(d.skel->progs.move_block_exit, d.pageblock_moves);
    if (want) d.kinds.push_back(k);
    if (use_raw) d.raw_candidates.push_back(k);
    calibrate |= use_raw && Impl::needs_calibration(k);
  }
  bpf_program__set_autoload(d.skel->progs.calibrate, calibrate);
  // The free-list walk turns list entries into pfns with vmemmap_base, measured with the raw
  // page programs.
  d.free_walk_problem = !d.config.free_lists ? "not asked for"
                        : !tracing           ? refused
                        : !calibrate         ? "no vmemmap_base (raw_tp page programs off)"
                                             : d.config.zone_counters_refusal;
  d.free_walk = d.free_walk_problem.empty();
  bpf_program__set_autoload(d.skel->progs.walk_free_lists, d.free_walk);
  if (d.free_walk) {
    if (int err = bpf_map__set_max_entries(d.skel->maps.free_blocks, d.config.free_list_ring_bytes); err != 0)
      throw RecordError(Kind::Usage, "bad free-list ring size: " + errno_text(err));
  }
  bpf_program__set_autoload(d.skel->progs.find_node_data, d.zone_counters || d.free_walk);
  const bool rename = d.config.comm && d.config.task_rename;
  bpf_program__set_autoload(d.skel->progs.handle_task_rename, rename);
  if (d.kinds.empty()) throw RecordError(Kind::Usage, "no event to record");
}

Collector::Collector(CollectorConfig config) : impl_(std::make_unique<Impl>()) {
  using Kind = RecordError::Kind;
  auto& d = *impl_;
  d.config = std::move(config);
  LogScope scope(d.config.log, d.warnings);
  libbpf_set_print(libbpf_print);

  const int ncpus = libbpf_num_possible_cpus();
  d.possible_cpus = ncpus > 0 ? static_cast<std::uint32_t>(ncpus) : 1u;
  d.cpus = procfs::online_cpus(d.possible_cpus);
  d.merger = detail::RecordMerger(d.possible_cpus);

  d.open_configured(true, "");

  int err = page_recorder_bpf__load(d.skel);
  if (err != 0 && (d.exact_isolation || d.pageblock_moves || d.zone_counters || d.free_walk)) {
    // A tracing program this kernel's verifier refuses (they load only where the kernel allows
    // fentry, which the tests' VM does not) must not cost the recording: again without them,
    // each then named with this reason among the attach points the recording went without.
    const std::string refused = "the kernel refused to load the tracing programs (" + errno_text(err) + ")";
    page_recorder_bpf__destroy(d.skel);
    d.skel = nullptr;
    d.open_configured(false, refused);
    err = page_recorder_bpf__load(d.skel);
  }
  if (err != 0) {
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
    const int ring_err = errno;
    throw RecordError(Kind::Failure, "cannot map the BPF ring buffer: " + errno_text(ring_err), {}, d.warning_lines());
  }
}

Collector::~Collector() = default;

void Collector::attach() {
  using Kind = RecordError::Kind;
  auto& d = *impl_;
  LogScope scope(d.config.log, d.warnings);
  d.programs.clear();
  d.raw.clear();
  const bool page_candidates = std::any_of(d.raw_candidates.begin(), d.raw_candidates.end(), Impl::needs_calibration);
  const bool raw = page_candidates && d.calibrate();
  if (d.config.attach == AttachMode::Raw && !raw)
    throw RecordError(Kind::Unsupported,
                      "cannot attach through raw_tp: " + (d.raw_problem.empty() ? "no raw_tp variant fits" : d.raw_problem));
  std::vector<bpf_program*> optional;  // may be missing on this kernel: attached if possible
  for (const auto k : d.kinds) {
    if (d.is_raw_candidate(k) && (raw || !Impl::needs_calibration(k))) {
      const auto progs = d.raw_programs_for(k);
      d.programs.push_back(progs.front());
      for (std::size_t i = 1; i < progs.size(); ++i) {
        (k == EventKind::Isolate ? optional : d.programs).push_back(progs[i]);
      }
      d.raw.push_back(k);
    } else {
      d.programs.push_back(d.program_for(k));
    }
  }
  if (d.exact_isolation) {
    for (bpf_program* p : d.exact_isolation_programs()) {
      if (raw) {
        optional.push_back(p);
      } else {
        d.optional_missing.emplace_back(bpf_program__section_name(p));  // no vmemmap_base
      }
    }
  } else if (d.is_raw_candidate(EventKind::Isolate)) {
    for (bpf_program* p : d.exact_isolation_programs()) {
      d.optional_missing.push_back(std::string(bpf_program__section_name(p)) +
                                   (d.exact_problem.empty() ? "" : " (" + d.exact_problem + ")") +
                                   ": mirror guesses the blocks of fast isolations and misses page reporting");
    }
  }
  const auto wanted = [&d](EventKind k) { return std::find(d.kinds.begin(), d.kinds.end(), k) != d.kinds.end(); };
  if (d.pageblock_moves && raw) {
    optional.push_back(d.skel->progs.move_block_exit);
  } else if (wanted(EventKind::Extfrag)) {
    d.optional_missing.push_back(std::string(bpf_program__section_name(d.skel->progs.move_block_exit)) + " (" +
                                 (d.moves_problem.empty() ? "no vmemmap_base" : d.moves_problem) +
                                 "): mirror guesses the highatomic reserve's reservations and give-backs");
  }
  const std::string node_problem = d.zone_counters || d.free_walk ? d.find_node_data() : "not loaded";
  if (d.zone_counters) {
    d.zone_counters_found = node_problem.empty();
    if (!d.zone_counters_found) d.zone_counters_problem = node_problem;
  } else if (wanted(EventKind::Alloc) && d.config.zone_counters) {
    d.zone_counters_problem = d.zone_counters_problem.empty() ? "not loaded" : d.zone_counters_problem;
  }
  if (d.free_walk) {
    d.free_walk_problem = !raw ? "no vmemmap_base (" + (d.raw_problem.empty() ? "not measured" : d.raw_problem) + ")"
                               : node_problem;
    if (d.free_walk_problem.empty()) {
      d.free_rb = ring_buffer__new(bpf_map__fd(d.skel->maps.free_blocks), &Impl::on_free_sample, &d, nullptr);
      if (d.free_rb == nullptr) d.free_walk_problem = "cannot map the free-list ring buffer: " + errno_text(errno);
    }
    d.free_walk_ready = d.free_walk_problem.empty();
  }
  if (wanted(EventKind::Alloc) && d.config.zone_counters && !d.zone_counters_found) {
    d.optional_missing.push_back("bpf/zone_counters (" + d.zone_counters_problem +
                                 "): failures are explained from the model's state alone");
  }
  optional.push_back(d.skel->progs.raw_mm_setup_per_zone_wmarks);
  for (bpf_program* p : optional) {
    if (bpf_link* link = bpf_program__attach(p); link != nullptr) {
      d.links.push_back(link);
      d.attached_optional.push_back(p);
      d.moves_attached = d.moves_attached || p == d.skel->progs.move_block_exit;
    } else {
      d.optional_missing.emplace_back(bpf_program__section_name(p));
    }
  }
  if (d.config.comm && d.config.task_rename) d.programs.push_back(d.skel->progs.handle_task_rename);
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

std::uint64_t Collector::sync(CollectedEventSink& sink) {
  auto& d = *impl_;
  // Everything stamped before this moment is, once every CPU's batch was pushed out, in
  // the ring buffer: a tracepoint program takes the batch before it reads the clock.
  const std::uint64_t watermark = procfs::boottime_ns();
  d.flush_all();
  d.take_ring();
  return d.release(watermark, sink);
}

std::uint64_t Collector::finish(CollectedEventSink& sink) {
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
  std::array<std::uint64_t, PGREC_NR_KINDS_POW2> stood_in{};
  for (const auto& s : d.read_cpu_state()) {
    for (std::size_t k = 0; k < PGREC_NR_KINDS; ++k) c.seen[k] += s.seen[k];
    for (std::size_t k = 0; k < stood_in.size(); ++k) stood_in[k] += s.stood_in[k];
    c.drops += s.drops;
    c.comm_drops += s.comm_drops;
    c.stack_errors += s.stack_errors;
    c.bypass += s.bypass;
  }
  // The kernel counts a miss for every raw_tp program it skips. A page event is lost only when
  // it skipped both copies: the skips of the main copy less the events the stand-in sent in
  // its place (a skipped stand-in loses nothing while the main copy ran).
  std::array<std::uint64_t, PGREC_NR_KINDS_POW2> main_misses{};
  std::vector<bpf_program*> all = d.programs;
  all.insert(all.end(), d.attached_optional.begin(), d.attached_optional.end());
  for (bpf_program* p : all) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
      if (const auto copy = d.copy_of(p)) {
        if (copy->second == PGREC_COPY_MAIN) main_misses[static_cast<std::size_t>(copy->first)] += info.recursion_misses;
      } else {
        c.recursion_misses += info.recursion_misses;
      }
      c.kernel_recursion_misses += info.recursion_misses;
      if (info.recursion_misses != 0) c.misses_by_program.emplace_back(bpf_program__name(p), info.recursion_misses);
      c.run_time_ns += info.run_time_ns;
      c.run_count += info.run_cnt;
    }
  }
  for (std::size_t k = 0; k < main_misses.size(); ++k) {
    if (main_misses[k] > stood_in[k]) c.recursion_misses += main_misses[k] - stood_in[k];
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

std::string Collector::attach_summary() const {
  const auto& d = *impl_;
  std::string raw, classic;
  for (const auto k : d.kinds) {
    std::string& list = std::find(d.raw.begin(), d.raw.end(), k) != d.raw.end() ? raw : classic;
    if (!list.empty()) list += ",";
    list += traces::to_string(k);
  }
  std::string out;
  if (!raw.empty()) {
    out.append("raw_tp:");
    out.append(raw);
  }
  if (!classic.empty()) {
    if (!out.empty()) out.push_back(' ');
    out.append("tracepoint:");
    out.append(classic);
  }
  return out;
}

const std::string& Collector::raw_problem() const { return impl_->raw_problem; }

std::uint64_t Collector::watermark_changes() const {
  return *static_cast<const volatile __u64*>(&impl_->skel->bss->watermark_changes);
}
const std::vector<EventKind>& Collector::unrecorded_kinds() const { return impl_->unrecorded; }
const std::vector<std::string>& Collector::optional_missing() const { return impl_->optional_missing; }
bool Collector::pageblock_moves_attached() const { return impl_->moves_attached; }
bool Collector::zone_counters_recorded() const { return impl_->zone_counters_found; }
bool Collector::can_walk_free_lists() const { return impl_->free_walk_ready; }

std::uint64_t Collector::free_list_failures() const { return impl_->free_walk_failures; }

bool Collector::walk_free_lists(std::vector<traces::FreeRun>& runs, std::string& problem, std::uint64_t* started_ns) {
  auto& d = *impl_;
  const bool ok = d.walk_free_lists(runs, problem);
  if (!ok) ++d.free_walk_failures;
  if (ok && started_ns != nullptr) *started_ns = d.walk.end.ts_start;
  return ok;
}


}  // namespace labyrinth::ebpf
