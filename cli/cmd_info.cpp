// `labyrinth info`: what this kernel supports for recording and what is missing, the GFP
// flag table, the zones and their watermarks.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/system_facts.hpp"
#include "labyrinth/version.hpp"
#include "log.hpp"

#ifdef LABYRINTH_WITH_BPF
#include "labyrinth/ebpf/preflight.hpp"
#include "labyrinth/ebpf/record_session.hpp"
#include "labyrinth/ebpf/system_snapshot.hpp"
#endif

namespace labyrinth::cli {
namespace {

struct InfoOptions {
  std::string json;  // "" = text, "-" = stdout, else a file
  bool kpageflags = false;
};

using nlohmann::ordered_json;

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

#ifdef LABYRINTH_WITH_BPF
using KernelSupport = ebpf::KernelSupport;
#else
struct KernelSupport {};  // what the recorder's preflight finds; nothing without it
#endif

struct FreeMap {
  bool scanned = false;
  std::string problem;
  double seconds = 0;
  std::vector<traces::FreeRun> runs;
  std::uint64_t pages_read = 0;  // pfns whose flags were read (holes left out)
  unsigned threads = 0;
};

// Whether `labyrinth record` can run here; in a build without the recorder, that it cannot.
struct RecordReadiness {
  bool ready = false;
  std::string problem;
};

#ifdef LABYRINTH_WITH_BPF
void kernel_support_json(ordered_json& j, const ebpf::KernelSupport& ks) {
  j["btf"] = {{"present", ks.btf_present}, {"path", "/sys/kernel/btf/vmlinux"}, {"problem", ks.btf_problem}};
  j["tracefs"] = {{"path", ks.tracefs.path},
                  {"mounted", ks.tracefs.mounted},
                  {"accessible", ks.tracefs.accessible},
                  {"problem", ks.tracefs.problem}};
  j["lockdown"] = ks.lockdown.empty() ? "unknown" : ks.lockdown;
  const auto& c = ks.caps;
  j["privileges"] = {{"euid", c.euid},
                     {"cap_sys_admin", c.sys_admin},
                     {"cap_bpf", c.bpf},
                     {"cap_perfmon", c.perfmon},
                     {"cap_dac_read_search", c.dac_read_search},
                     {"cap_dac_override", c.dac_override},
                     {"cap_syslog", c.syslog},
                     {"missing_for_record", c.missing_for_record()}};
  ordered_json tps = ordered_json::array();
  for (const auto& t : ks.tracepoints) {
    tps.push_back({{"name", std::string(t.spec->category) + ":" + t.spec->name},
                   {"kind", std::string(traces::to_string(t.spec->kind))},
                   {"required", t.spec->required},
                   {"recorded_by_default", t.spec->default_on},
                   {"present", t.present},
                   {"raw_tp", t.raw_ok && ks.page_struct_shift != 0},
                   {"missing_fields", t.missing_fields},
                   {"missing_optional_fields", t.missing_optional_fields}});
  }
  j["tracepoints"] = tps;
  ordered_json tracing = ordered_json::array();
  for (const auto& t : ks.tracing) {
    tracing.push_back({{"function", t.function},
                       {"records", t.records},
                       {"available", t.refusal.empty()},
                       {"problem", t.refusal.empty() ? ordered_json(nullptr) : ordered_json(t.refusal)}});
  }
  j["tracing_programs"] = tracing;
  j["zone_counters"] = {{"available", ks.zone_counters_refusal.empty()},
                        {"problem", ks.zone_counters_refusal.empty() ? ordered_json(nullptr)
                                                                     : ordered_json(ks.zone_counters_refusal)}};
  j["execution_context"] = {{"available", ks.preempt.found},
                            {"via", ks.preempt.via},
                            {"delta_from_runqueues", ks.preempt.delta},
                            {"problem", ks.preempt.reason}};
  j["process_renames"] = ks.has_task_rename;
  j["kpageflags_readable"] = ks.kpageflags_readable;
  j["pagetypeinfo_readable"] = ks.pagetypeinfo_readable;
  j["sysctl"] = {{"perf_event_paranoid", ks.perf_event_paranoid ? ordered_json(*ks.perf_event_paranoid) : ordered_json()},
                 {"unprivileged_bpf_disabled",
                  ks.unprivileged_bpf_disabled ? ordered_json(*ks.unprivileged_bpf_disabled) : ordered_json()},
                 {"kptr_restrict", ks.kptr_restrict ? ordered_json(*ks.kptr_restrict) : ordered_json()}};
}
#endif

ordered_json memory_json(const procfs::SystemFacts& f, const std::vector<procfs::BuddyinfoRow>& buddy,
                         const FreeMap& fm) {
  ordered_json j;
  j["memory"] = {{"page_size", f.page_size},
                 {"max_order", f.max_order},
                 {"pageblock_order", f.pageblock_order},
                 {"nr_cpus", f.nr_cpus},
                 {"migratetypes", f.migratetype_names}};
  ordered_json gfp = ordered_json::array();
  for (const auto& e : f.gfp_table.entries()) gfp.push_back({{"name", e.name}, {"mask", e.mask}});
  j["gfp_table"] = {{"source", std::string(traces::to_string(f.gfp_table_source))},
                    {"problem", f.gfp_table_problem},
                    {"flags", gfp}};
  ordered_json zones = ordered_json::array();
  for (const auto& z : f.zones) {
    ordered_json zj = {{"node", z.node},
                       {"zone", z.name},
                       {"start_pfn", z.start_pfn},
                       {"spanned_pages", z.spanned_pages},
                       {"present_pages", z.present_pages},
                       {"managed_pages", z.managed_pages},
                       {"free_pages", z.free_pages},
                       {"min_pages", z.min_pages},
                       {"low_pages", z.low_pages},
                       {"high_pages", z.high_pages},
                       {"boost_pages", z.boost_pages},
                       {"lowmem_reserve_pages", z.lowmem_reserve_pages},
                       {"pcp_high_pages", z.pcp_high},
                       {"pcp_batch_pages", z.pcp_batch},
                       {"pcp_count_pages", z.pcp_count_pages}};
    for (const auto& b : buddy)
      if (b.node == z.node && b.zone == z.name) zj["buddyinfo_blocks"] = b.free_blocks;
    if (fm.scanned) {
      zj["kpageflags_blocks"] = traces::decompose_free_runs(fm.runs, f.max_order, z.start_pfn,
                                                          z.start_pfn + z.spanned_pages);
    }
    zones.push_back(zj);
  }
  j["zones"] = zones;
  if (fm.scanned || !fm.problem.empty()) {
    std::uint64_t pages = 0;
    for (const auto& r : fm.runs) pages += r.pages;
    j["kpageflags"] = {{"scanned", fm.scanned},
                       {"problem", fm.problem},
                       {"scan_seconds", fm.seconds},
                       {"pages_read", fm.pages_read},
                       {"threads", fm.threads},
                       {"free_runs", fm.runs.size()},
                       {"free_pages", pages}};
  }
  j["vm_sysctls"] = f.vm_sysctls;
  return j;
}

ordered_json to_json(const KernelSupport* ks, const procfs::SystemFacts& f,
                     const std::vector<procfs::BuddyinfoRow>& buddy, const FreeMap& fm, const RecordReadiness& record) {
  ordered_json j;
  j["schema_version"] = 1;
  j["tool"] = {{"name", "labyrinth"}, {"version", LABYRINTH_VERSION}};
  j["kernel"] = {{"release", f.kernel_release}, {"machine", f.machine}, {"hostname", f.hostname}};
#ifdef LABYRINTH_WITH_BPF
  if (ks != nullptr) kernel_support_json(j, *ks);
#else
  (void)ks;
#endif
  j["record"] = {{"ready", record.ready}, {"problem", record.problem}};
  j.update(memory_json(f, buddy, fm));
  return j;
}

void print_line(std::string_view key, const std::string& value) { fmt::print("{:<17}{}\n", key, value); }

#ifdef LABYRINTH_WITH_BPF
std::string yes_no(bool b) { return b ? "yes" : "no"; }

void print_kernel_support(const ebpf::KernelSupport& ks) {
  auto line = print_line;
  line("BTF", ks.btf_present ? "/sys/kernel/btf/vmlinux" : "MISSING: " + ks.btf_problem);
  line("tracefs", ks.tracefs.accessible ? ks.tracefs.path
                  : ks.tracefs.mounted  ? ks.tracefs.path + " (" + ks.tracefs.problem + ")"
                                        : "NOT MOUNTED (mount -t tracefs nodev /sys/kernel/tracing)");
  line("lockdown", ks.lockdown.empty() ? "unknown (no /sys/kernel/security/lockdown)" : ks.lockdown);
  const auto& c = ks.caps;
  const auto missing = c.missing_for_record();
  line("privileges", fmt::format("euid {}; CAP_BPF {}, CAP_PERFMON {}, CAP_DAC_READ_SEARCH {}, CAP_SYS_ADMIN {}, "
                                 "CAP_SYSLOG {}",
                                 c.euid, yes_no(c.bpf), yes_no(c.perfmon), yes_no(c.dac_read_search),
                                 yes_no(c.sys_admin), yes_no(c.syslog)));
  line("exec context", ks.preempt.found
                           ? fmt::format("task/softirq/hardirq/NMI via {} (runqueues{:+})", ks.preempt.via,
                                         ks.preempt.delta)
                           : "unknown: " + ks.preempt.reason);
  line("process names", ks.has_task_rename ? "thread names, following renames (task:task_rename)"
                                           : "first name seen only (no task:task_rename)");
  line("free-page map", ks.kpageflags_readable ? "/proc/kpageflags" : "/proc/kpageflags not readable (needs root)");
  line("hooks", ks.page_struct_shift != 0
                    ? "raw_tp where marked (cheaper; needs CAP_SYS_ADMIN to map struct page to pfn), else tracepoint"
                    : "classic tracepoints (no struct page size in BTF)");
  fmt::print("tracepoints\n");
  std::size_t width = 0;  // the longest "category:name"
  for (const auto& t : ks.tracepoints) width = std::max(width, std::strlen(t.spec->category) + 1 + std::strlen(t.spec->name));
  for (const auto& t : ks.tracepoints) {
    std::string state = t.present ? "present" : "MISSING";
    if (!t.missing_fields.empty()) {
      state += " (fields missing:";
      for (const auto& m : t.missing_fields) state += " " + m;
      state += ")";
    }
    if (!t.missing_optional_fields.empty()) {
      state += " (no";
      for (const auto& m : t.missing_optional_fields) state += " " + m;
      state += ")";
    }
    const char* role = t.spec->required ? "required" : t.spec->default_on ? "default" : "optional, -e";
    const char* hook = t.raw_ok && (!t.spec->raw_page_first || ks.page_struct_shift != 0) ? "raw_tp" : "tracepoint";
    fmt::print("  {:<{}} {:<9} {:<11} {}\n", std::string(t.spec->category) + ":" + t.spec->name, width, state, hook, role);
  }
  fmt::print("tracing programs (fentry/fexit, where the kernel allows them)\n");
  for (const auto& t : ks.tracing) {
    fmt::print("  {:<{}} {}: {}\n", t.function, width, t.refusal.empty() ? "yes" : "no", t.refusal.empty() ? t.records : t.refusal);
  }
  fmt::print("zone counters at failures (task iterator, bpf_loop): {}\n",
             ks.zone_counters_refusal.empty() ? "yes" : "no: " + ks.zone_counters_refusal);
}
#endif

void print_memory(const procfs::SystemFacts& f, const std::vector<procfs::BuddyinfoRow>& buddy, const FreeMap& fm,
                  const std::string& tracefs) {
  auto line = print_line;
  fmt::print("\nmemory           MAX_PAGE_ORDER {}, pageblock order {}\n", f.max_order, f.pageblock_order);
  std::string mts;
  for (std::size_t i = 0; i < f.migratetype_names.size(); ++i)
    mts += fmt::format("{}{}={}", i == 0 ? "" : " ", i, f.migratetype_names[i]);
  line("migratetypes", mts);
  fmt::print("\nzones (pages; watermarks without boost)\n");
  fmt::print("  {:>4} {:<8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>6}  {}\n", "node", "zone", "start_pfn",
             "spanned", "managed", "free", "pcp", "min", "low", "high", "boost", "lowmem_reserve");
  for (const auto& z : f.zones) {
    std::string prot;
    for (const auto p : z.lowmem_reserve_pages) {
      if (!prot.empty()) prot.push_back(',');
      prot.append(std::to_string(p));
    }
    fmt::print("  {:>4} {:<8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>6}  ({})\n", z.node, z.name,
               hex(z.start_pfn), z.spanned_pages, z.managed_pages, z.free_pages, z.pcp_count_pages, z.min_pages,
               z.low_pages, z.high_pages, z.boost_pages, prot);
  }
  if (!buddy.empty()) {
    fmt::print("\nfree blocks per order (/proc/buddyinfo{})\n", fm.scanned ? "; kpageflags decomposition below" : "");
    for (const auto& b : buddy) {
      std::string row;
      for (const auto v : b.free_blocks) row += fmt::format(" {:>6}", v);
      fmt::print("  {:>4} {:<8}{}\n", b.node, b.zone, row);
      if (!fm.scanned) continue;
      for (const auto& z : f.zones) {
        if (z.node != b.node || z.name != b.zone) continue;
        const auto blocks = traces::decompose_free_runs(fm.runs, f.max_order, z.start_pfn, z.start_pfn + z.spanned_pages);
        std::string krow;
        for (const auto v : blocks) krow += fmt::format(" {:>6}", v);
        fmt::print("  {:>4} {:<8}{}  (kpageflags)\n", "", "", krow);
      }
    }
  }
  if (fm.scanned)
    fmt::print("  kpageflags scan: {} free runs in {:.3f} s ({} pages read on {} threads, {:.1f} M pages/s)\n",
               fm.runs.size(), fm.seconds, fm.pages_read, fm.threads,
               fm.seconds > 0 ? static_cast<double>(fm.pages_read) / fm.seconds / 1e6 : 0.0);
  if (!fm.problem.empty()) fmt::print("  kpageflags scan: {}\n", fm.problem);

  fmt::print("\nvm sysctls       ");
  bool first = true;
  for (const char* key : {"min_free_kbytes", "watermark_scale_factor", "watermark_boost_factor",
                          "lowmem_reserve_ratio", "percpu_pagelist_high_fraction", "extfrag_threshold"}) {
    auto it = f.vm_sysctls.find(key);
    if (it == f.vm_sysctls.end()) continue;
    fmt::print("{}{}={}", first ? "" : "  ", key, it->second);
    first = false;
  }
  fmt::print("\n\nGFP flags ({}{})\n", traces::to_string(f.gfp_table_source),
             f.gfp_table_source == traces::GfpTableSource::FormatFile
                 ? ", " + tracefs + "/events/kmem/mm_page_alloc/format"
                 : "; " + f.gfp_table_problem);
  for (const auto& e : f.gfp_table.entries()) fmt::print("  {:#010x}  {}\n", e.mask, e.name);
}

int run(const InfoOptions& o) {
  std::string tracefs = "/sys/kernel/tracing";
  RecordReadiness record;
  FreeMap fm;
#ifdef LABYRINTH_WITH_BPF
  const auto ks = ebpf::probe_kernel();
  const KernelSupport* support = &ks;
  tracefs = ks.tracefs.path;
  try {
    (void)ebpf::check_record_preflight(ks, ebpf::default_record_events());
    record.ready = true;
  } catch (const ebpf::RecordError& e) {
    record.problem = e.what();
  }
#else
  const KernelSupport* support = nullptr;
  record.problem = "this labyrinth was built without the eBPF recorder (LABYRINTH_WITH_BPF=OFF)";
#endif
  const auto facts = procfs::collect_system_facts(tracefs);
  const auto buddy = procfs::parse_buddyinfo(procfs::try_read_file("/proc/buddyinfo").value_or(""));
  if (o.kpageflags) {
#ifdef LABYRINTH_WITH_BPF
    const auto t0 = procfs::boottime_ns();
    try {
      auto scan = ebpf::scan_kpageflags("/proc/kpageflags", facts.zones);
      fm.runs = std::move(scan.runs);
      fm.pages_read = scan.pages_read;
      fm.threads = scan.threads;
      fm.scanned = true;
    } catch (const std::exception& e) {
      fm.problem = e.what();
    }
    fm.seconds = static_cast<double>(procfs::boottime_ns() - t0) / 1e9;
#else
    fm.problem = "the /proc/kpageflags scan comes with the eBPF recorder, which this labyrinth was built without";
#endif
  }
  if (!o.json.empty()) {
    const std::string text = to_json(support, facts, buddy, fm, record).dump(2) + "\n";
    if (o.json == "-") {
      fmt::print("{}", text);
    } else {
      try {
        common::write_file(o.json, text, common::OutputPolicy{.overwrite = true});
      } catch (const common::OutputError& e) {
        error("{}", e.what());
        return kExitFailure;
      }
    }
    return kExitOk;
  }
  print_line("kernel", fmt::format("{} ({}), {} possible CPUs, page size {}", facts.kernel_release, facts.machine,
                                   facts.nr_cpus, facts.page_size));
#ifdef LABYRINTH_WITH_BPF
  print_kernel_support(ks);
#endif
  print_line("record", record.ready ? "ready" : "NOT READY: " + record.problem);
  print_memory(facts, buddy, fm, tracefs);
  for (const auto& w : facts.warnings) debug(1, "{}", w);
  return kExitOk;
}



}  // namespace

void setup_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "What this kernel supports for recording, the GFP flags, zones and watermarks");
  cmd->add_option("--json", opts->json, "Write JSON to FILE ('-' for stdout)");
  cmd->add_flag("--kpageflags", opts->kpageflags,
                "Also scan /proc/kpageflags and compare its free blocks with /proc/buddyinfo (root)");
  cmd->callback([opts] {
    const int rc = run(*opts);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
