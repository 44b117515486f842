// What this kernel and this process can do for `labyrinth record`: capabilities, tracefs,
// BTF, lockdown, the kmem tracepoints and their fields. Used by record (before touching
// libbpf, so errors say what to do) and by `labyrinth info`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/ebpf/kernel_btf.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::ebpf {

// The tracepoints the recorder knows.
struct TracepointSpec {
  traces::EventKind kind;
  const char* name;          // "mm_page_alloc" (category kmem)
  const char* btf_struct;    // "trace_event_raw_mm_page_alloc"
  const char* short_name;    // for -e: "alloc"
  bool required;             // record refuses to run without it
  bool default_on;           // recorded unless -e says otherwise
  std::vector<const char*> fields;           // must exist
  std::vector<const char*> optional_fields;  // used when present
  std::size_t raw_args = 0;  // arguments the raw_tp variant reads (0: no raw variant)
  const char* category = "kmem";
  bool raw_page_first = true;  // the raw_tp variant's first argument is a struct page *
};
const std::vector<TracepointSpec>& tracepoint_specs();
const TracepointSpec* find_tracepoint(traces::EventKind kind);
// Accepts "alloc", "mm_page_alloc" or "kmem:mm_page_alloc".
const TracepointSpec* find_tracepoint(const std::string& name);

struct Capabilities {
  bool read_ok = false;  // capget worked
  unsigned euid = 0;
  bool sys_admin = false, bpf = false, perfmon = false, dac_read_search = false, dac_override = false,
       syslog = false;
  // Capabilities record needs that this process lacks ("CAP_BPF", ...); empty = enough.
  [[nodiscard]] std::vector<std::string> missing_for_record() const;
};
Capabilities read_capabilities();

struct TracefsStatus {
  std::string path;        // the events root libbpf will use ("/sys/kernel/tracing")
  bool mounted = false;    // a tracefs answers at path
  bool accessible = false; // events/kmem/mm_page_alloc/id can be read
  std::string problem;     // what is wrong, if anything
};
TracefsStatus probe_tracefs();

struct TracepointStatus {
  const TracepointSpec* spec = nullptr;
  bool present = false;                     // tracefs has events/kmem/<name>
  bool btf_known = false;                   // BTF struct found, fields below are meaningful
  std::vector<std::string> missing_fields;  // required fields absent (the program cannot load)
  std::vector<std::string> missing_optional_fields;
  std::string format_path;                  // tracefs format file
  bool raw_ok = false;                      // the raw_tp variant fits this kernel's arguments
};

// A kernel function the recorder attaches a tracing program (fentry/fexit) to, where the
// kernel allows: what it records, and why not here.
struct TracingAttach {
  const char* function;  // "move_freepages_block"
  const char* records;   // what the recording has with it
  std::string refusal;   // "" when the kernel loads an fentry program on it
};

struct KernelSupport {
  std::string release;
  std::string machine;
  bool btf_present = false;
  std::string btf_problem;
  std::string lockdown;                     // "none", "integrity", "confidentiality", "" = no LSM file
  TracefsStatus tracefs;
  Capabilities caps;
  std::vector<TracepointStatus> tracepoints;
  PreemptCountLocation preempt;
  bool has_task_rename = false;             // process names follow exec/prctl renames
  bool has_rdonly_cast = false;             // bpf_rdonly_cast kfunc: cheap preempt counter reads
  std::vector<TracingAttach> tracing;       // each tracing program's function, loadable or why not
  std::string zone_counters_refusal = "not probed";  // "" when the zone counters at failures can be read
  std::uint32_t page_struct_shift = 0;      // log2(sizeof(struct page)); 0 = unknown or not a power of 2
  bool kpageflags_readable = false;
  bool pagetypeinfo_readable = false;
  std::optional<int> perf_event_paranoid;
  std::optional<int> unprivileged_bpf_disabled;
  std::optional<int> kptr_restrict;

  [[nodiscard]] const TracepointStatus* tracepoint(traces::EventKind kind) const;
  // TracingAttach::refusal of `function` ("not probed" when it was not).
  [[nodiscard]] std::string tracing_refusal(std::string_view function) const;
};
KernelSupport probe_kernel();

// Throws RecordError (NoPermission / Unsupported) when record cannot run with `wanted`
// event kinds; returns the warnings for optional things that are missing.
std::vector<std::string> check_record_preflight(const KernelSupport& support,
                                                const std::vector<traces::EventKind>& wanted);

}  // namespace labyrinth::ebpf
