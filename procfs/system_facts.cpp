#include "labyrinth/procfs/system_facts.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include "labyrinth/procfs/cpus.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/free_blocks.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"

namespace labyrinth::procfs {

SystemFacts collect_system_facts(const std::string& tracefs) {
  SystemFacts f;
  struct utsname u {};
  if (::uname(&u) == 0) {
    f.kernel_release = u.release;
    f.machine = u.machine;
    f.hostname = u.nodename;
  }
  const long ps = ::sysconf(_SC_PAGESIZE);
  if (ps > 0) f.page_size = static_cast<std::uint32_t>(ps);
  f.nr_cpus = possible_cpus();

  if (const auto text = try_read_file("/proc/buddyinfo")) {
    const auto rows = parse_buddyinfo(*text);
    if (!rows.empty() && !rows.front().free_blocks.empty())
      f.max_order = static_cast<std::uint32_t>(rows.front().free_blocks.size() - 1);
  } else {
    f.warnings.emplace_back("cannot read /proc/buddyinfo; assuming MAX_PAGE_ORDER 10");
  }
  if (const auto text = try_read_file("/proc/pagetypeinfo")) {
    const auto pti = parse_pagetypeinfo(*text);
    if (pti.pageblock_order > 0) f.pageblock_order = pti.pageblock_order;
    f.migratetype_names = pti.migratetype_names;
  } else {
    f.warnings.emplace_back("cannot read /proc/pagetypeinfo; assuming pageblock order 9 and default migratetypes");
  }
  if (f.migratetype_names.empty()) f.migratetype_names = traces::default_migratetype_names();

  if (const auto text = try_read_file("/proc/zoneinfo")) {
    const auto all = parse_zoneinfo(*text);
    f.zones = populated_zones(all);
    for (const auto& z : all) {
      if (z.node == 0) f.node_zone_names.push_back(z.name);
    }
  } else {
    f.warnings.emplace_back("cannot read /proc/zoneinfo; the trace has no zones");
  }

  const std::string format = tracefs + "/events/kmem/mm_page_alloc/format";
  if (auto table = traces::GfpTable::from_format_file(format)) {
    f.gfp_table = std::move(*table);
    f.gfp_table_source = traces::GfpTableSource::FormatFile;
  } else {
    f.gfp_table = traces::GfpTable::builtin_linux_6_10();
    f.gfp_table_source = traces::GfpTableSource::BuiltIn;
    f.gfp_table_problem = table.why();  // names the file
    f.warnings.push_back("cannot read the GFP flag table (" + f.gfp_table_problem +
                         "); using the built-in Linux 6.10 table");
  }
  f.vm_sysctls = read_vm_sysctls();
  f.kernel_params = read_kernel_params();
  return f;
}

void fill_header(traces::TraceHeader& h, const SystemFacts& f) {
  h.kernel_release = f.kernel_release;
  h.machine = f.machine;
  h.hostname = f.hostname;
  h.page_size = f.page_size;
  h.max_order = f.max_order;
  h.pageblock_order = f.pageblock_order;
  h.nr_cpus = f.nr_cpus;
  h.gfp_table = f.gfp_table;
  h.gfp_table_source = f.gfp_table_source;
  h.migratetype_names = f.migratetype_names;
  h.zones = f.zones;
  h.node_zone_names = f.node_zone_names;
  h.vm_sysctls = f.vm_sysctls;
  h.kernel_params = f.kernel_params;
}

}  // namespace labyrinth::procfs
