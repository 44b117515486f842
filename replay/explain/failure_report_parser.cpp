// Parsing warn_alloc() reports out of normalised kernel lines (mm/page_alloc.c:warn_alloc,
// lib/show_mem.c / mm/show_mem.c:show_free_areas, the arch's dump_stack). Formats of 2.6 to 7.x:
// "page allocation failure. order:0, mode:0x20" (2.6), ": order:3, mode:0x820(GFP_ATOMIC),
// nodemask=(null)" (4.x+); "Pid: 0, comm: x Not tainted 2.6.32" and "CPU: 1 PID: 2 Comm: x
// Tainted: G W 5.15.0" (and 6.11's "CPU: 1 UID: 0 PID: 2 ..."); zone lines with or without
// "Node N", boost (5.0+), reserved_highatomic (4.x+), migratetype letters (3.x+).
#include <charconv>
#include <cctype>

#include "labyrinth/explain/failure_report.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::explain {
namespace {

// Anything larger is not a number a kernel printed for memory (64 PiB in kB).
constexpr std::int64_t kMaxValue = std::int64_t{1} << 46;
constexpr std::size_t kMaxOrders = 16;
constexpr std::size_t kMaxFrames = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Blanks around a value, and the commas that end a list item.
std::string_view trim(std::string_view s) { return common::trim_right(common::trim_left(s), " \t\r\n,"); }

// A leading decimal number; advances `s`.
std::optional<std::int64_t> take_number(std::string_view& s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr == s.data() || v < 0 || v > kMaxValue) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return v;
}

std::optional<std::uint64_t> take_hex(std::string_view& s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc{} || ptr == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return v;
}

bool is_zone_name(std::string_view w) {
  return w == "DMA" || w == "DMA32" || w == "Normal" || w == "HighMem" || w == "Movable" || w == "Device";
}

// "Node 3 Normal..." -> node 3, rest "Normal..."; without "Node" the node is 0.
std::string_view take_node(std::string_view s, int& node) {
  node = 0;
  if (s.substr(0, 5) == "Node ") {
    std::string_view rest = s.substr(5);
    if (const auto n = take_number(rest); n && *n < 4096) {
      node = static_cast<int>(*n);
      return trim(rest);
    }
  }
  return s;
}

// An index, not a reference: adding a zone moves the others.
std::size_t zone_of(FailureReport& r, int node, std::string_view name) {
  for (std::size_t i = 0; i < r.zones.size(); ++i) {
    if (r.zones[i].node == node && r.zones[i].name == name) return i;
  }
  ZoneLines z;
  z.node = node;
  z.name = std::string(name);
  r.zones.push_back(std::move(z));
  return r.zones.size() - 1;
}

void parse_failure_line(std::string_view text, FailureReport& r) {
  const auto at = text.find("page allocation failure");
  std::string_view comm = trim(text.substr(0, at));
  if (!comm.empty() && comm.back() == ':') comm.remove_suffix(1);
  r.comm = std::string(trim(comm));
  std::string_view rest = text.substr(at);
  if (const auto o = rest.find("order:"); o != std::string_view::npos) {
    std::string_view n = rest.substr(o + 6);
    if (const auto v = take_number(n); v && *v < 64) r.order = static_cast<unsigned>(*v);
  }
  if (const auto m = rest.find("mode:"); m != std::string_view::npos) {
    std::string_view h = rest.substr(m + 5);
    r.gfp = take_hex(h);
    if (r.gfp && !h.empty() && h.front() == '(') {
      const auto close = h.find(')');
      if (close != std::string_view::npos) r.gfp_names = std::string(h.substr(1, close - 1));
    }
  }
  if (const auto n = rest.find("nodemask="); n != std::string_view::npos) {
    std::string_view v = rest.substr(n + 9);
    r.nodemask = std::string(v.substr(0, v.find_first_of(", ")));
  }
}

// "CPU: 1 PID: 123 Comm: foo Not tainted 5.15.0-91-generic #101" and older forms.
bool parse_cpu_line(std::string_view text, FailureReport& r) {
  if (text.find("omm:") == std::string_view::npos) return false;
  auto t = text.find("ainted");
  if (t == std::string_view::npos) return false;
  std::string_view rest = text.substr(t + 6);
  if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);
  while (!rest.empty()) {
    rest = trim(rest);
    const auto sp = rest.find(' ');
    const std::string_view token = rest.substr(0, sp);
    if (!token.empty() && is_digit(token.front())) {
      if (auto v = traces::parse_kernel_version(token)) {
        r.version = v;
        r.release = std::string(token);
        return true;
      }
    }
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  return true;
}

bool identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$'; }

// The number of hex digits in a leading "[c07926d4]", or 0.
std::size_t bracketed_hex(std::string_view s) {
  if (s.size() < 3 || s.front() != '[') return 0;
  std::size_t i = 1;
  while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i >= s.size() || s[i] != ']' || (i - 1 != 8 && i - 1 != 16)) return 0;
  return i - 1;
}

// One call-trace line; false if it is not a frame.
bool parse_frame(std::string_view s, FailureReport& r) {
  bool reliable = true;
  // Drop "<IRQ>", "[<ffffffff81234567>]" and "?" tokens in front of the symbol.
  while (!s.empty()) {
    s = trim(s);
    if (s.substr(0, 2) == "[<") {
      const auto close = s.find(">]");
      if (close == std::string_view::npos) return false;
      if (close >= 18) r.wide_addresses = true;
      if (close == 10) r.narrow_addresses = true;
      s.remove_prefix(close + 2);
    } else if (const std::size_t hex = bracketed_hex(s); hex > 0) {
      // powerpc: "[c1c65940] [c07926d4] dump_stack_lvl+0x80/0xac (unreliable)", stack then pc.
      if (hex == 16) r.wide_addresses = true;
      if (hex == 8) r.narrow_addresses = true;
      s.remove_prefix(hex + 2);
    } else if (!s.empty() && s.front() == '<') {
      const auto close = s.find('>');
      if (close == std::string_view::npos) return false;
      s.remove_prefix(close + 1);
    } else if (!s.empty() && s.front() == '?') {
      reliable = false;
      s.remove_prefix(1);
    } else {
      break;
    }
  }
  if (!s.empty() && s.front() == '(') s.remove_prefix(1);  // arm: "(show_stack+0x10/0x14) from"
  std::size_t n = 0;
  while (n < s.size() && identifier_char(s[n])) ++n;
  if (n == 0 || n >= s.size() || s[n] != '+') return false;
  if (r.frames.size() < kMaxFrames) r.frames.push_back({std::string(s.substr(0, n)), reliable});
  return true;
}

// "Node 0 Normal free:1234kB boost:0kB min:... managed:...kB free_cma:0kB".
void parse_zone_stats(std::string_view s, ZoneLines& z) {
  z.has_stats = true;
  while (!s.empty()) {
    s = trim(s);
    const auto sp = s.find(' ');
    std::string_view token = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
    const auto colon = token.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = token.substr(0, colon);
    std::string_view value = token.substr(colon + 1);
    const auto v = take_number(value);
    if (!v) continue;
    if (key == "free") z.free_kb = v;
    else if (key == "min") z.min_kb = v;
    else if (key == "low") z.low_kb = v;
    else if (key == "high") z.high_kb = v;
    else if (key == "boost") z.boost_kb = v;
    else if (key == "reserved_highatomic") z.reserved_highatomic_kb = v;
    else if (key == "free_highatomic") z.free_highatomic_kb = v;
    else if (key == "present") z.present_kb = v;
    else if (key == "managed") z.managed_kb = v;
    else if (key == "free_cma") z.free_cma_kb = v;
    else if (key == "free_pcp") z.free_pcp_kb = v;
  }
}

// "12*4kB (UME) 3*8kB (M) 0*16kB ... = 1234kB"; "12_4kB" where markdown ate the stars.
void parse_free_area(std::string_view s, ZoneLines& z) {
  z.has_free_area = true;
  while (!s.empty()) {
    s = trim(s);
    if (s.empty()) break;
    if (s.front() == '=') {
      s.remove_prefix(1);
      s = trim(s);
      if (auto total = take_number(s); total && s.substr(0, 2) == "kB") {
        z.free_area_total_kb = total;
        z.free_area_complete = true;
      }
      break;
    }
    if (s.front() == '(') {
      const auto close = s.find(')');
      if (close == std::string_view::npos) break;
      if (!z.types.empty()) {
        z.types.back() = std::string(s.substr(1, close - 1));
        z.types_printed = true;
      }
      s.remove_prefix(close + 1);
      continue;
    }
    const auto count = take_number(s);
    if (!count || s.empty() || (s.front() != '*' && s.front() != '_')) break;
    s.remove_prefix(1);
    const auto size = take_number(s);
    if (!size || s.substr(0, 2) != "kB") break;
    s.remove_prefix(2);
    if (z.blocks.empty()) z.page_kb = *size;
    if (z.blocks.size() >= kMaxOrders) break;
    z.blocks.push_back(static_cast<std::uint64_t>(*count));
    z.types.emplace_back();
  }
}

// The rest of a line after a leading "<EOI>", "<IRQ>", "</IRQ>", "<TASK>" stack marker.
std::string_view after_stack_marker(std::string_view s) {
  if (s.size() < 3 || s.front() != '<') return {};
  std::size_t i = 1;
  if (s[i] == '/') ++i;
  const std::size_t start = i;
  while (i < s.size() && std::isupper(static_cast<unsigned char>(s[i]))) ++i;
  if (i == start || i >= s.size() || s[i] != '>') return {};
  return trim(s.substr(i + 1));
}

// A zone line of either kind; returns false if `text` is neither.
// last_stats: the zone whose stats line came last (a lowmem_reserve[] line follows it), or kNoZone.
constexpr std::size_t kNoZone = ~std::size_t{0};

bool parse_zone_line(std::string_view text, FailureReport& r, std::size_t& last_stats) {
  int node = 0;
  std::string_view s = take_node(text, node);
  std::size_t n = 0;
  while (n < s.size() && std::isalnum(static_cast<unsigned char>(s[n]))) ++n;
  const std::string_view name = s.substr(0, n);
  if (!is_zone_name(name) || n >= s.size()) return false;
  std::string_view rest = s.substr(n);
  if (rest.front() == ':') {
    ZoneLines& z = r.zones[zone_of(r, node, name)];
    if (!z.has_free_area) parse_free_area(rest.substr(1), z);
    return true;
  }
  if (rest.substr(0, 6) == " free:") {
    const std::size_t i = zone_of(r, node, name);
    if (!r.zones[i].has_stats) {
      parse_zone_stats(rest, r.zones[i]);
      last_stats = i;
    } else {
      last_stats = kNoZone;
    }
    return true;
  }
  return false;
}

}  // namespace

std::vector<FailureReport> parse_failure_reports(const std::vector<LogLine>& lines) {
  std::vector<FailureReport> reports;
  FailureReport* cur = nullptr;
  bool in_trace = false;
  bool closed = false;  // a second Mem-Info or an OOM report: stop taking lines
  std::size_t trace_lines = 0;
  std::size_t last_stats = kNoZone;  // the zone a lowmem_reserve[] line belongs to
  for (const LogLine& line : lines) {
    const std::string_view text = line.text;
    if (text.find("page allocation failure") != std::string_view::npos) {
      reports.emplace_back();
      cur = &reports.back();
      cur->line = line.number;
      parse_failure_line(text, *cur);
      in_trace = false;
      closed = false;
      last_stats = kNoZone;
      continue;
    }
    if (cur == nullptr || closed) continue;
    if (text.find("invoked oom-killer") != std::string_view::npos) {
      closed = true;
      continue;
    }
    if (text.substr(0, 10) == "Call Trace" || text.substr(0, 10) == "Call trace" || text == "Backtrace:") {
      cur->saw_call_trace = true;
      in_trace = !cur->saw_mem_info;
      trace_lines = 0;
      continue;
    }
    // "<EOI> Mem-Info:": show_mem printed right after an interrupt stack's end marker, on its
    // line (linux-mm, tests/fixtures/explain/linuxmm_4.2_x86_64_atomic_order1_bug107111.log).
    if (text.substr(0, 8) == "Mem-Info" || text.substr(0, 8) == "Mem-info" || after_stack_marker(text) == "Mem-Info:") {
      if (cur->saw_mem_info) {
        closed = true;
        continue;
      }
      cur->saw_mem_info = true;
      in_trace = false;
      continue;
    }
    if (!cur->version && parse_cpu_line(text, *cur)) continue;
    if (in_trace) {
      if (++trace_lines > 200) in_trace = false;
      else if (parse_frame(text, *cur)) continue;
    }
    if (!cur->saw_mem_info) continue;
    if (text.substr(0, 16) == "lowmem_reserve[]") {
      if (last_stats < cur->zones.size() && !cur->zones[last_stats].has_lowmem_reserve) {
        ZoneLines& z = cur->zones[last_stats];
        z.has_lowmem_reserve = true;
        std::string_view v = text.substr(16);
        if (!v.empty() && v.front() == ':') v.remove_prefix(1);
        while (true) {
          v = trim(v);
          const auto n = take_number(v);
          if (!n || z.lowmem_reserve.size() >= 8) break;
          z.lowmem_reserve.push_back(*n);
        }
      }
      last_stats = kNoZone;
      continue;
    }
    (void)parse_zone_line(text, *cur, last_stats);
  }
  return reports;
}

}  // namespace labyrinth::explain
