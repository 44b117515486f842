#include "labyrinth/ebpf/system_snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace labyrinth::ebpf {
namespace {

using traces::FreeRun;
using traces::ZoneInfo;

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == ',')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != ',') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool to_u64(std::string_view s, std::uint64_t& out) {
  if (!s.empty() && s.front() == '>') s.remove_prefix(1);  // pagetypeinfo caps counts at ">100000"
  const auto* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end;
}

bool to_int(std::string_view s, int& out) {
  const auto* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
}

std::uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A file's text and the CLOCK_BOOTTIME instant it describes (for /proc files, which the
// kernel writes as they are read): the middle of the read calls, with the open outside them.
struct TimedText {
  std::string text;
  std::uint64_t ts_ns = 0;
};
TimedText read_file_timed(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  TimedText out;
  out.text.resize(std::size_t{64} << 10);
  std::size_t size = 0;
  const std::uint64_t t0 = clock_ns(CLOCK_BOOTTIME);
  for (;;) {
    if (size == out.text.size()) out.text.resize(out.text.size() * 2);
    const ssize_t n = ::read(fd, out.text.data() + size, out.text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  const std::uint64_t t1 = clock_ns(CLOCK_BOOTTIME);
  ::close(fd);
  out.text.resize(size);
  out.ts_ns = t0 + (t1 - t0) / 2;
  return out;
}

std::string read_file(const std::string& path) { return read_file_timed(path).text; }

bool try_read_file(const std::string& path, std::string& out) {
  try {
    out = read_file(path);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Builds runs of KPF_BUDDY pages; a run never crosses the end of a zone.
class RunBuilder {
 public:
  explicit RunBuilder(std::vector<FreeRun>& out) : out_(out) {}
  void page(std::uint64_t pfn, bool buddy) {
    if (buddy) {
      if (open_ && pfn == start_ + len_) {
        ++len_;
        return;
      }
      close();
      open_ = true;
      start_ = pfn;
      len_ = 1;
    } else {
      close();
    }
  }
  void close() {
    if (open_) out_.push_back({start_, len_});
    open_ = false;
  }

 private:
  std::vector<FreeRun>& out_;
  bool open_ = false;
  std::uint64_t start_ = 0, len_ = 0;
};

}  // namespace

std::vector<ZoneInfo> parse_zoneinfo(std::string_view text) {
  std::vector<ZoneInfo> zones;
  ZoneInfo* z = nullptr;
  bool in_pagesets = false;
  int cpu_seen = -1;
  std::uint64_t boost = 0;
  auto finish = [&] {
    if (z == nullptr) return;
    // /proc/zoneinfo prints min/low/high with the current boost added.
    z->boost_pages = boost;
    z->min_pages = z->min_pages >= boost ? z->min_pages - boost : 0;
    z->low_pages = z->low_pages >= boost ? z->low_pages - boost : 0;
    z->high_pages = z->high_pages >= boost ? z->high_pages - boost : 0;
  };
  for_each_line(text, [&](std::string_view line) {
    const auto tok = split_ws(line);
    if (tok.empty()) return;
    if (tok[0] == "Node" && tok.size() >= 4 && tok[2] == "zone") {
      finish();
      zones.emplace_back();
      z = &zones.back();
      to_int(tok[1], z->node);
      z->name = std::string(tok[3]);
      in_pagesets = false;
      cpu_seen = -1;
      boost = 0;
      return;
    }
    if (z == nullptr) return;
    std::uint64_t v = 0;
    const bool has_value = tok.size() >= 2 && to_u64(tok[1], v);
    if (tok[0] == "pages" && tok.size() >= 3 && tok[1] == "free") {
      to_u64(tok[2], z->free_pages);
    } else if (tok[0] == "pagesets") {
      in_pagesets = true;
    } else if (in_pagesets && tok[0] == "cpu:") {
      ++cpu_seen;
    } else if (in_pagesets && tok[0] == "count:" && has_value) {
      z->pcp_count_pages += v;
    } else if (in_pagesets && tok[0] == "high:" && has_value) {
      if (cpu_seen == 0) z->pcp_high = v;
    } else if (in_pagesets && tok[0] == "batch:" && has_value) {
      if (cpu_seen == 0) z->pcp_batch = v;
    } else if (tok[0] == "boost" && has_value) {
      boost = v;
    } else if (tok[0] == "min" && has_value) {
      z->min_pages = v;
    } else if (tok[0] == "low" && has_value) {
      z->low_pages = v;
    } else if (tok[0] == "high" && has_value) {
      z->high_pages = v;
    } else if (tok[0] == "spanned" && has_value) {
      z->spanned_pages = v;
    } else if (tok[0] == "present" && has_value) {
      z->present_pages = v;
    } else if (tok[0] == "managed" && has_value) {
      z->managed_pages = v;
    } else if (tok[0] == "start_pfn:" && has_value) {
      z->start_pfn = v;
    } else if (tok[0] == "protection:") {
      z->lowmem_reserve_pages.clear();
      for (std::size_t i = 1; i < tok.size(); ++i) {
        std::string_view t = tok[i];
        while (!t.empty() && (t.front() == '(')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ')')) t.remove_suffix(1);
        std::uint64_t p = 0;
        if (to_u64(t, p)) z->lowmem_reserve_pages.push_back(p);
      }
    }
  });
  finish();
  return zones;
}

std::vector<BuddyinfoRow> parse_buddyinfo(std::string_view text) {
  std::vector<BuddyinfoRow> rows;
  for_each_line(text, [&](std::string_view line) {
    const auto tok = split_ws(line);
    if (tok.size() < 5 || tok[0] != "Node" || tok[2] != "zone") return;
    BuddyinfoRow row;
    if (!to_int(tok[1], row.node)) return;
    row.zone = std::string(tok[3]);
    for (std::size_t i = 4; i < tok.size(); ++i) {
      std::uint64_t v = 0;
      if (!to_u64(tok[i], v)) return;
      row.free_blocks.push_back(v);
    }
    rows.push_back(std::move(row));
  });
  return rows;
}

PagetypeInfo parse_pagetypeinfo(std::string_view text) {
  PagetypeInfo info;
  enum class Section { None, Free, Blocks, Other } section = Section::None;
  auto zone_of = [&](int node, std::string_view name) -> PagetypeZone& {
    for (auto& z : info.zones)
      if (z.node == node && z.zone == name) return z;
    info.zones.push_back({node, std::string(name), {}, {}});
    return info.zones.back();
  };
  for_each_line(text, [&](std::string_view line) {
    const auto tok = split_ws(line);
    if (tok.empty()) return;
    if (tok.size() >= 4 && tok[0] == "Page" && tok[1] == "block" && tok[2] == "order:") {
      std::uint64_t v = 0;
      if (to_u64(tok[3], v)) info.pageblock_order = static_cast<std::uint32_t>(v);
      return;
    }
    if (tok[0] == "Free" && line.find("migrate type") != std::string_view::npos) {
      section = Section::Free;
      return;
    }
    if (tok[0] == "Number") {
      section = line.find("blocks type") != std::string_view::npos ? Section::Blocks : Section::Other;
      if (section == Section::Blocks && info.migratetype_names.empty()) {
        for (std::size_t i = 3; i < tok.size(); ++i) info.migratetype_names.emplace_back(tok[i]);
      }
      return;
    }
    if (tok[0] != "Node" || tok.size() < 4 || tok[2] != "zone") return;
    int node = 0;
    if (!to_int(tok[1], node)) return;
    if (section == Section::Free && tok.size() >= 6 && tok[4] == "type") {
      auto& z = zone_of(node, tok[3]);
      std::vector<std::uint64_t> counts;
      for (std::size_t i = 6; i < tok.size(); ++i) {
        std::uint64_t v = 0;
        if (!to_u64(tok[i], v)) return;
        counts.push_back(v);
      }
      z.free_blocks.push_back(std::move(counts));
      if (info.zones.size() == 1) {
        // the first zone's rows name every migratetype in enum order
        const std::string name(tok[5]);
        if (std::find(info.migratetype_names.begin(), info.migratetype_names.end(), name) ==
            info.migratetype_names.end())
          info.migratetype_names.push_back(name);
      }
    } else if (section == Section::Blocks) {
      auto& z = zone_of(node, tok[3]);
      z.pageblocks.clear();
      for (std::size_t i = 4; i < tok.size(); ++i) {
        std::uint64_t v = 0;
        if (!to_u64(tok[i], v)) return;
        z.pageblocks.push_back(v);
      }
    }
  });
  return info;
}

std::vector<FreeRun> free_runs_from_flags(const std::uint64_t* flags, std::uint64_t count, std::uint64_t first_pfn,
                                          std::uint64_t zone_end_pfn) {
  std::vector<FreeRun> runs;
  RunBuilder b(runs);
  for (std::uint64_t i = 0; i < count && first_pfn + i < zone_end_pfn; ++i)
    b.page(first_pfn + i, ((flags[i] >> kKpfBuddyBit) & 1u) != 0);
  b.close();
  return runs;
}

std::vector<FreeRun> scan_kpageflags(const std::string& path, const std::vector<ZoneInfo>& zones) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  std::vector<const ZoneInfo*> sorted;
  for (const auto& z : zones)
    if (z.spanned_pages > 0) sorted.push_back(&z);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->start_pfn < b->start_pfn; });

  // 64 Ki pfns per read: a multiple of every MAX_PAGE_ORDER block, 512 KiB of flags.
  constexpr std::uint64_t kChunk = 1u << 16;
  std::vector<std::uint64_t> buf(kChunk);
  std::vector<FreeRun> runs;
  bool eof = false;
  for (const ZoneInfo* z : sorted) {
    RunBuilder b(runs);
    const std::uint64_t end = z->start_pfn + z->spanned_pages;
    for (std::uint64_t pfn = z->start_pfn; pfn < end && !eof;) {
      const std::uint64_t want = std::min(kChunk, end - pfn);
      const auto off = static_cast<off_t>(pfn * sizeof(std::uint64_t));
      const ssize_t got = ::pread(fd, buf.data(), want * sizeof(std::uint64_t), off);
      if (got < 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(path + ": " + std::strerror(err));
      }
      const auto n = static_cast<std::uint64_t>(got) / sizeof(std::uint64_t);
      for (std::uint64_t i = 0; i < n; ++i) b.page(pfn + i, ((buf[i] >> kKpfBuddyBit) & 1u) != 0);
      if (n < want) eof = true;  // the file ends at max_pfn
      pfn += n;
    }
    b.close();
  }
  ::close(fd);
  std::sort(runs.begin(), runs.end(), [](const FreeRun& a, const FreeRun& b) { return a.start_pfn < b.start_pfn; });
  return runs;
}

std::map<std::string, std::string> read_vm_sysctls(const std::string& dir) {
  std::map<std::string, std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    // Reading these does something: stat_refresh folds per-cpu counters on every CPU;
    // drop_caches and compact_memory are write-only.
    if (name == "stat_refresh" || name == "drop_caches" || name == "compact_memory") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::string value;
    if (!try_read_file(path, value)) continue;
    for (char& c : value)
      if (c == '\t' || c == '\n') c = ' ';
    while (!value.empty() && value.back() == ' ') value.pop_back();
    out[name] = value;
  }
  ::closedir(d);
  return out;
}

std::uint32_t possible_cpus() {
  std::string text;
  if (try_read_file("/sys/devices/system/cpu/possible", text)) {
    // "0-3" or "0,2-5": cpu ids are below the largest + 1
    std::uint32_t highest = 0;
    bool any = false;
    std::string num;
    for (const char c : text + ",") {
      if (c >= '0' && c <= '9') {
        num += c;
      } else {
        if (!num.empty()) {
          highest = std::max(highest, static_cast<std::uint32_t>(std::stoul(num)));
          any = true;
        }
        num.clear();
      }
    }
    if (any) return highest + 1;
  }
  const long n = ::sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? static_cast<std::uint32_t>(n) : 1u;
}

std::uint64_t boottime_ns() { return clock_ns(CLOCK_BOOTTIME); }
std::uint64_t realtime_ns() { return clock_ns(CLOCK_REALTIME); }

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

  std::string text;
  if (try_read_file("/proc/buddyinfo", text)) {
    const auto rows = parse_buddyinfo(text);
    if (!rows.empty() && !rows.front().free_blocks.empty())
      f.max_order = static_cast<std::uint32_t>(rows.front().free_blocks.size() - 1);
  } else {
    f.warnings.emplace_back("cannot read /proc/buddyinfo; assuming MAX_PAGE_ORDER 10");
  }
  if (try_read_file("/proc/pagetypeinfo", text)) {
    const auto pti = parse_pagetypeinfo(text);
    if (pti.pageblock_order > 0) f.pageblock_order = pti.pageblock_order;
    f.migratetype_names = pti.migratetype_names;
  } else {
    f.warnings.emplace_back("cannot read /proc/pagetypeinfo; assuming pageblock order 9 and default migratetypes");
  }
  if (f.migratetype_names.empty()) f.migratetype_names = traces::default_migratetype_names();

  if (try_read_file("/proc/zoneinfo", text)) {
    for (auto& z : parse_zoneinfo(text))
      if (z.spanned_pages > 0) f.zones.push_back(std::move(z));
  } else {
    f.warnings.emplace_back("cannot read /proc/zoneinfo; the trace has no zones");
  }

  const std::string format = tracefs + "/events/kmem/mm_page_alloc/format";
  std::string why;
  if (auto table = traces::GfpTable::from_format_file(format, &why)) {
    f.gfp_table = std::move(*table);
    f.gfp_table_source = traces::GfpTableSource::FormatFile;
  } else {
    f.gfp_table = traces::GfpTable::builtin_linux_6_10();
    f.gfp_table_source = traces::GfpTableSource::BuiltIn;
    f.gfp_table_problem = format + ": " + (why.empty() ? std::string("unusable") : why);
    f.warnings.push_back("cannot read the GFP flag table (" + f.gfp_table_problem +
                         "); using the built-in Linux 6.10 table");
  }
  f.vm_sysctls = read_vm_sysctls();
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
  h.vm_sysctls = f.vm_sysctls;
}

traces::Snapshot take_snapshot(const std::vector<ZoneInfo>& header_zones, const SnapshotOptions& options,
                               std::vector<std::string>* warnings) {
  traces::Snapshot snap;
  snap.present = true;
  // buddyinfo first, and ts_ns is when it was read: replay validates the model's free blocks
  // per order against it at that instant. The window is the read alone: the allocator keeps
  // running, and a burst of frees moves hundreds of order-0 pages in a fraction of a ms.
  const TimedText buddyinfo = read_file_timed("/proc/buddyinfo");
  snap.ts_ns = buddyinfo.ts_ns;
  const auto buddy = parse_buddyinfo(buddyinfo.text);
  const auto zones = parse_zoneinfo(read_file("/proc/zoneinfo"));
  PagetypeInfo pti;
  std::string text;
  if (!options.pagetypeinfo) {
    // a keyframe: buddyinfo and zoneinfo only
  } else if (try_read_file("/proc/pagetypeinfo", text)) {
    pti = parse_pagetypeinfo(text);
  } else if (warnings != nullptr) {
    warnings->emplace_back("cannot read /proc/pagetypeinfo; the snapshot has no per-migratetype counts");
  }
  for (const auto& row : buddy) {
    traces::ZoneSnapshot zs;
    zs.node = row.node;
    zs.zone = row.zone;
    zs.buddyinfo = row.free_blocks;
    for (const auto& z : zones) {
      if (z.node != row.node || z.name != row.zone) continue;
      zs.free_pages = z.free_pages;
      zs.pcp_pages = z.pcp_count_pages;
      zs.min_pages = z.min_pages;
      zs.low_pages = z.low_pages;
      zs.high_pages = z.high_pages;
      zs.boost_pages = z.boost_pages;
      zs.managed_pages = z.managed_pages;
    }
    for (const auto& p : pti.zones) {
      if (p.node != row.node || p.zone != row.zone) continue;
      zs.pagetype_free = p.free_blocks;
      zs.pageblocks_by_type = p.pageblocks;
    }
    snap.zones.push_back(std::move(zs));
  }
  if (options.kpageflags) {
    const std::uint64_t t0 = boottime_ns();
    try {
      snap.free_runs = scan_kpageflags("/proc/kpageflags", header_zones.empty() ? zones : header_zones);
    } catch (const std::exception& e) {
      if (warnings != nullptr) warnings->push_back(std::string("no free-page map in the snapshot: ") + e.what());
    }
    snap.kpageflags_scan_ns = boottime_ns() - t0;
  }
  return snap;
}

}  // namespace labyrinth::ebpf
