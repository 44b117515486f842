// Everything a trace header says about the machine, read from uname, /proc, /sys and the
// tracefs format file of kmem:mm_page_alloc (the GFP flag names).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::procfs {

struct SystemFacts {
  std::string kernel_release, machine, hostname;
  std::uint32_t page_size = 4096;
  std::uint32_t max_order = 10;
  std::uint32_t pageblock_order = 9;
  std::uint32_t nr_cpus = 0;  // possible CPUs (cpu ids are below this)
  traces::GfpTable gfp_table;
  traces::GfpTableSource gfp_table_source = traces::GfpTableSource::BuiltIn;
  std::string gfp_table_problem;  // why the format file could not be used
  std::vector<std::string> migratetype_names;
  std::vector<traces::ZoneInfo> zones;  // those with spanned_pages > 0
  std::vector<std::string> node_zone_names;  // node 0's zones, populated or not, in node_zones[] order
  std::map<std::string, std::string> vm_sysctls;
  std::map<std::string, std::string> kernel_params;
  std::vector<std::string> warnings;    // things that fell back to defaults
};

// `tracefs` is the events root ("/sys/kernel/tracing") for the GFP table. What cannot be
// read falls back to a default, with a warning.
SystemFacts collect_system_facts(const std::string& tracefs);
void fill_header(traces::TraceHeader& header, const SystemFacts& facts);

}  // namespace labyrinth::procfs
