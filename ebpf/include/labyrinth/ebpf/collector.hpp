// The BPF side of record: loads page_recorder.bpf.o (CO-RE), attaches one tracepoint
// program per wanted event kind, and hands the ring buffer's records out as PageEvents.
// No libbpf type crosses this header.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::ebpf {

// How the kmem tracepoints are hooked: raw_tp programs (cheaper: no perf trace record is
// filled; needs vmemmap_base, measured at attach through /proc/self/pagemap, so
// CAP_SYS_ADMIN), or classic tracepoint programs.
enum class AttachMode { Auto, Classic, Raw };

struct CollectorConfig {
  std::vector<traces::EventKind> kinds;       // tracepoints to attach
  AttachMode attach = AttachMode::Auto;
  std::vector<traces::EventKind> raw_kinds;   // kinds whose raw_tp variant fits this kernel
  std::uint32_t page_struct_shift = 0;        // log2(sizeof(struct page)); 0 = no raw_tp
  std::uint32_t ring_bytes = 32u << 20;       // power of two, >= page size
  std::uint32_t wakeup_bytes = 256u << 10;    // wake the consumer at this much unread data; 0 = per sample
  std::uint32_t batch = 64;                   // records per sample, 1..64
  std::uint32_t target_tgid = 0;              // 0 = every process
  std::uint32_t min_order = 0;
  bool stacks = false;                        // kernel call stacks (-g)
  std::uint32_t stack_entries = 16384;        // distinct stacks kept
  bool comm = true;                           // thread names
  bool task_rename = true;                    // follow renames (exec, prctl)
  std::optional<std::int64_t> preempt_delta;  // from KernelBtf::locate_preempt_count()
  std::optional<std::int64_t> cpu_offset_delta;  // the same: the zone records' vmstat diffs
  bool rdonly_cast = false;                   // kernel has the bpf_rdonly_cast kfunc (6.2+)
  // Why the tracing programs cannot load here (KernelSupport::tracing), "" when they can: the
  // exact blocks (__isolate_free_page, __putback_isolated_page) and the pageblock moves.
  std::string exact_refusal = "not probed";
  std::string moves_refusal = "not probed";
  // Read each zone's counters at a failed allocation (traces::EventKind::ZoneCounters), and why
  // this kernel cannot (KernelSupport::zone_counters_refusal), "" when it can.
  bool zone_counters = true;
  std::string zone_counters_refusal = "not probed";
  // Read free-page maps from the zones' free lists (Collector::walk_free_lists): same kernel
  // needs as the zone counters, and vmemmap_base. free_list_ring_bytes holds the blocks of one
  // walk (8 bytes each, in samples of ~4 KiB).
  bool free_lists = true;
  std::uint32_t free_list_ring_bytes = 4u << 20;
  // libbpf's messages: level 0 warning, 1 info, 2 debug.
  std::function<void(int level, std::string_view message)> log;
};

struct CollectorCounters {
  std::array<std::uint64_t, traces::kEventKindCount> seen{};  // passed the filters, per kind
  std::uint64_t drops = 0;             // records lost to a full ring buffer
  std::uint64_t comm_drops = 0;        // thread names lost to a full ring buffer
  std::uint64_t stack_errors = 0;      // events recorded without their stack
  std::uint64_t recursion_misses = 0;  // events lost: the kernel skipped every program that could take them
  std::uint64_t kernel_recursion_misses = 0;  // the kernel's count: every program run it skipped
  std::vector<std::pair<std::string, std::uint64_t>> misses_by_program;  // the programs that had any
  std::uint64_t bypass = 0;            // records sent outside a batch (a flush held it)
  std::uint64_t late = 0;              // records that arrived after their time was released
  std::uint64_t bad_records = 0;       // samples or records user space did not understand
  // With kernel.bpf_stats_enabled=1 (or BPF_ENABLE_STATS): time spent in the programs.
  std::uint64_t run_time_ns = 0;
  std::uint64_t run_count = 0;
  [[nodiscard]] std::uint64_t seen_total() const;
};

class CollectedEventSink {
 public:
  virtual ~CollectedEventSink() = default;
  virtual void on_event(const traces::PageEvent& event) = 0;
  // A thread's name from this time on; tgid 0 when unknown.
  virtual void on_comm(std::uint32_t tid, std::uint32_t tgid, std::string_view comm) = 0;
};

// Records come out of the kernel in per-CPU batches; the collector queues them and hands
// them to a sink in time order, up to the moment of the last sync().
class Collector {
 public:
  // Opens and loads the BPF object. Throws RecordError.
  explicit Collector(CollectorConfig config);
  ~Collector();  // detaches and unloads
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  void attach();  // throws RecordError
  void detach();  // no new events after this; the ring and the batches keep what they have

  // Waits up to timeout_ms for the wake-up threshold, then takes everything in the ring
  // buffer (also below the threshold) into the queues. Returns the records taken; 0 on
  // timeout or signal.
  int poll(int timeout_ms);
  // How often the kernel recomputed its watermarks since attach (0 when the kernel has no
  // kmem:mm_setup_per_zone_wmarks); read from memory, no system call.
  [[nodiscard]] std::uint64_t watermark_changes() const;
  // Pushes out every CPU's partial batch, takes the ring buffer, and gives the sink, in
  // time order, every record stamped before the sync started. Returns the records given.
  std::uint64_t sync(CollectedEventSink& sink);
  // After detach(): gives the sink everything that is left, in time order.
  std::uint64_t finish(CollectedEventSink& sink);

  [[nodiscard]] CollectorCounters counters() const;
  // The kernel frames (innermost first) of a stack id as found in PageEvent::stack_id.
  [[nodiscard]] bool stack(std::uint32_t stack_id, std::vector<std::uint64_t>& addresses) const;
  [[nodiscard]] const std::vector<traces::EventKind>& attached_kinds() const;
  // How each kind is hooked ("raw_tp" or "tracepoint"), valid after attach(); and why raw_tp
  // was not used, if it was wanted.
  [[nodiscard]] std::string attach_summary() const;
  [[nodiscard]] const std::string& raw_problem() const;
  // Wanted kinds that could not be recorded (raw_tp-only with raw_tp off), and optional
  // programs that did not attach (e.g. a tracepoint this kernel lacks), by section name.
  [[nodiscard]] const std::vector<traces::EventKind>& unrecorded_kinds() const;
  [[nodiscard]] const std::vector<std::string>& optional_missing() const;
  // Whether fexit/move_freepages_block attached (after attach()): every pageblock move
  // (traces::EventKind::PageblockMove) is recorded.
  [[nodiscard]] bool pageblock_moves_attached() const;
  // Whether failed allocations carry the kernel's zone counters (after attach()).
  [[nodiscard]] bool zone_counters_recorded() const;
  // A free-page map read from every zone's free lists by a BPF program, in milliseconds where
  // a scan of /proc/kpageflags takes ~0.2 s of CPU for 24 GiB (after attach(); callable from
  // another thread than poll() and sync()). false, with why in `problem`, when this kernel or
  // configuration cannot, or the lists kept changing under the walk or overflowed its ring.
  // `started_ns`: when the walk that gave the map began (boot clock).
  bool walk_free_lists(std::vector<traces::FreeRun>& runs, std::string& problem, std::uint64_t* started_ns = nullptr);
  [[nodiscard]] bool can_walk_free_lists() const;
  // Walks that failed so far.
  [[nodiscard]] std::uint64_t free_list_failures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::ebpf
