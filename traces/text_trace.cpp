#include "labyrinth/traces/text_trace.hpp"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <charconv>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <sstream>
#include <unordered_set>

#include "labyrinth/common/text.hpp"
#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth::traces {
namespace {

// ---- small lexical helpers -------------------------------------------------------------

std::vector<std::string_view> split_ws(std::string_view line) { return common::split_words(line, " \t"); }
std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  for (const auto item : common::split_words(list, ",")) out.emplace_back(item);
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = text.find(sep, start);
    out.push_back(text.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// Decimal, or hex with 0x.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_i64(std::string_view s) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 10);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '\\' || c == '=' || c == ';') {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xfu];
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 4 > s.size() || s[i + 1] != 'x') return std::nullopt;
    const auto v = parse_u64(std::string("0x") + std::string(s.substr(i + 2, 2)));
    if (!v) return std::nullopt;
    out += static_cast<char>(*v);
    i += 3;
  }
  return out;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  (void)ec;
  return "0x" + std::string(buf, end);
}

// ---- the parser ----------------------------------------------------------------------

class TextParser {
 public:
  TextParser(std::string input_name, std::string out_path, WriterOptions options)
      : input_(std::move(input_name)), out_path_(std::move(out_path)), options_(options) {
    header_.source = "text";
    header_.clock = "text";
    header_.migratetype_names = default_migratetype_names();
  }

  TextConvertResult run(std::istream& in) {
    std::string line;
    while (std::getline(in, line)) {
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      const std::string_view text = std::string_view(line).substr(first);
      if (text[0] == '!') {
        directive(text.substr(1));
      } else {
        event(text);
      }
    }
    if (in.bad()) fail("read error");
    start_writer();
    for (const Snapshot& k : keyframes_) writer_->write_keyframe(k);
    writer_->finish(end_, footer_);
    result_.lines = line_no_;
    return result_;
  }

  [[nodiscard]] bool created_output() const { return writer_ != nullptr; }
  void close_output() { writer_.reset(); }

  [[noreturn]] void fail(const std::string& message) const {
    throw TraceError(TraceError::Kind::BadInput, input_ + ":" + std::to_string(line_no_) + ": " + message);
  }

 private:
  using Fields = std::vector<std::pair<std::string_view, std::string_view>>;

  Fields key_values(std::span<const std::string_view> tokens) const {
    Fields out;
    for (const auto token : tokens) {
      const auto eq = token.find('=');
      if (eq == std::string_view::npos || eq == 0) fail("expected key=value, got '" + std::string(token) + "'");
      out.emplace_back(token.substr(0, eq), token.substr(eq + 1));
    }
    return out;
  }

  std::uint64_t number(std::string_view key, std::string_view value) const {
    const auto v = parse_u64(value);
    if (!v) fail("bad number for " + std::string(key) + ": '" + std::string(value) + "'");
    return *v;
  }

  std::vector<std::uint64_t> numbers(std::string_view key, std::string_view value) const {
    std::vector<std::uint64_t> out;
    for (const auto part : split(value, ',')) out.push_back(number(key, part));
    return out;
  }

  void require_before_events(std::string_view name) const {
    if (writer_) fail("directive !" + std::string(name) + " must come before the first event");
  }

  void directive(std::string_view text) {
    const auto tokens = split_ws(text);
    if (tokens.empty()) fail("empty directive");
    const std::string_view name = tokens[0];
    const auto args = std::span<const std::string_view>(tokens).subspan(1);
    auto one = [&]() -> std::string_view {
      if (args.size() != 1) fail("!" + std::string(name) + " takes one value");
      return args[0];
    };
    if (name == "labyrinth-text") {
      if (one() != "1") fail("unsupported text trace version " + std::string(args[0]));
    } else if (name == "source") {
      require_before_events(name);
      header_.source = std::string(one());
    } else if (name == "kernel") {
      require_before_events(name);
      header_.kernel_release = std::string(one());
    } else if (name == "clock") {
      require_before_events(name);
      header_.clock = std::string(one());
    } else if (name == "page_size" || name == "max_order" || name == "pageblock_order" || name == "cpus") {
      require_before_events(name);
      const std::uint64_t wide = number(name, one());
      if (wide > UINT32_MAX) fail("!" + std::string(name) + " " + std::to_string(wide) + " is out of range");
      const auto v = static_cast<std::uint32_t>(wide);
      if (name == "page_size") header_.page_size = v;
      if (name == "max_order") header_.max_order = v;
      if (name == "pageblock_order") header_.pageblock_order = v;
      if (name == "cpus") header_.nr_cpus = v;
    } else if (name == "sysctl") {
      require_before_events(name);
      for (const auto& [k, v] : key_values(args)) header_.vm_sysctls[std::string(k)] = std::string(v);
    } else if (name == "param") {
      require_before_events(name);
      for (const auto& [k, v] : key_values(args)) header_.kernel_params[std::string(k)] = std::string(v);
    } else if (name == "option") {
      require_before_events(name);
      for (const auto& [k, v] : key_values(args)) {
        header_.options[std::string(k)] = std::string(v);
        if (k == "events") header_.events = split_list(v);  // the recorder's list of what it captured
      }
    } else if (name == "missing") {
      require_before_events(name);
      for (const auto a : args) {
        auto entry = unescape(a);
        if (!entry) fail("bad escape in !missing");
        header_.missing_events.push_back(*entry);
      }
    } else if (name == "command") {
      require_before_events(name);
      for (const auto a : args) header_.command.emplace_back(a);
    } else if (name == "gfp") {
      require_before_events(name);
      if (args.size() != 2) fail("!gfp takes MASK NAME");
      gfp_entries_.push_back({number("gfp", args[0]), std::string(args[1])});
    } else if (name == "migratetypes") {
      require_before_events(name);
      header_.migratetype_names.clear();
      for (const auto part : split(one(), ',')) header_.migratetype_names.emplace_back(part);
    } else if (name == "node_zones") {
      require_before_events(name);
      header_.node_zone_names.clear();
      for (const auto part : split(one(), ',')) header_.node_zone_names.emplace_back(part);
    } else if (name == "zone") {
      require_before_events(name);
      header_.zones.push_back(zone(args));
    } else if (name == "start_ts") {
      require_before_events(name);
      start_.ts_ns = number(name, one());
      start_.present = true;
    } else if (name == "start_free" || name == "end_free") {
      if (name == "start_free") require_before_events(name);
      Snapshot& snap = name == "start_free" ? start_ : end_;
      for (const auto run : args) snap.free_runs.push_back(free_run(run, snap));
      snap.present = true;
    } else if (name == "start_zone" || name == "end_zone") {
      if (name == "start_zone") require_before_events(name);
      Snapshot& snap = name == "start_zone" ? start_ : end_;
      snap.zones.push_back(zone_snapshot(args));
      snap.present = true;
    } else if (name == "start_vmstat" || name == "end_vmstat") {
      if (name == "start_vmstat") require_before_events(name);
      vmstat(name == "start_vmstat" ? start_ : end_, args);
    } else if (name == "end_ts") {
      end_.ts_ns = number(name, one());
      end_.present = true;
    } else if (name == "keyframe_ts") {
      keyframes_.emplace_back();
      keyframes_.back().ts_ns = number(name, one());
      keyframes_.back().present = true;
    } else if (name == "keyframe_zone") {
      if (keyframes_.empty()) fail("!keyframe_zone before any !keyframe_ts");
      keyframes_.back().zones.push_back(zone_snapshot(args));
    } else if (name == "keyframe_vmstat") {
      if (keyframes_.empty()) fail("!keyframe_vmstat before any !keyframe_ts");
      vmstat(keyframes_.back(), args);
    } else if (name == "keyframe_free") {
      if (keyframes_.empty()) fail("!keyframe_free before any !keyframe_ts");
      for (const auto run : args) keyframes_.back().free_runs.push_back(free_run(run, keyframes_.back()));
    } else if (name == "stack") {
      if (args.size() < 1) fail("!stack takes ID FRAME;FRAME;...");
      StackTrace stack;
      stack.id = static_cast<std::uint32_t>(number("stack", args[0]));
      if (args.size() > 1) {
        for (const auto frame : split(args[1], ';')) {
          auto f = unescape(frame);
          if (!f) fail("bad escape in stack frame");
          stack.frames.push_back(*f);
        }
      }
      pending_stacks_.push_back(std::move(stack));
    } else if (name == "losses") {
      CaptureLosses& l = footer_.losses;
      for (const auto& [k, v] : key_values(args)) {
        const std::uint64_t n = number(k, v);
        if (k == "ringbuf_drops") l.ringbuf_drops = n;
        else if (k == "recursion_misses") l.recursion_misses = n;
        else if (k == "lost_events") l.lost_events = n;
        else if (k == "lines_skipped") l.lines_skipped = n;
        else if (k == "lines_other_events") l.lines_other_events = n;
        else if (k == "stacks_lost") l.stacks_lost = n;
        else fail("unknown loss counter '" + std::string(k) + "'");
      }
    } else if (name == "stop_reason") {
      footer_.stop_reason = std::string(one());
    } else if (name == "exit_status") {
      const auto v = parse_i64(one());
      if (!v) fail("bad exit status");
      footer_.exit_status = static_cast<int>(*v);
    } else if (name == "end_time_unix_ns") {
      footer_.end_time_unix_ns = number(name, one());
    } else if (name == "start_time_unix_ns") {
      require_before_events(name);
      header_.start_time_unix_ns = number(name, one());
    } else {
      fail("unknown directive !" + std::string(name));
    }
  }

  // ts=NS and the counters of a !start_vmstat, !end_vmstat or !keyframe_vmstat line.
  void vmstat(Snapshot& snap, std::span<const std::string_view> args) const {
    for (const auto& [k, v] : key_values(args)) {
      if (k == "ts") snap.vmstat_ts_ns = number(k, v);
      else snap.vmstat[std::string(k)] = number(k, v);
    }
  }

  ZoneInfo zone(std::span<const std::string_view> args) const {
    ZoneInfo z;
    bool have_present = false;
    for (const auto& [k, v] : key_values(args)) {
      if (k == "node") z.node = static_cast<int>(number(k, v));
      else if (k == "name") z.name = std::string(v);
      else if (k == "start_pfn") z.start_pfn = number(k, v);
      else if (k == "spanned") z.spanned_pages = number(k, v);
      else if (k == "present") z.present_pages = number(k, v), have_present = true;
      else if (k == "managed") z.managed_pages = number(k, v);
      else if (k == "min") z.min_pages = number(k, v);
      else if (k == "low") z.low_pages = number(k, v);
      else if (k == "high") z.high_pages = number(k, v);
      else if (k == "boost") z.boost_pages = number(k, v);
      else if (k == "protection") z.lowmem_reserve_pages = numbers(k, v);
      else if (k == "pcp_high") z.pcp_high = number(k, v);
      else if (k == "pcp_batch") z.pcp_batch = number(k, v);
      else if (k == "pcp_count") z.pcp_count_pages = number(k, v);
      else if (k == "free") z.free_pages = number(k, v);
      else fail("unknown zone key '" + std::string(k) + "'");
    }
    if (z.name.empty()) fail("!zone needs name=");
    if (!have_present) z.present_pages = z.spanned_pages;
    return z;
  }

  ZoneSnapshot zone_snapshot(std::span<const std::string_view> args) const {
    ZoneSnapshot z;
    for (const auto& [k, v] : key_values(args)) {
      if (k == "node") z.node = static_cast<int>(number(k, v));
      else if (k == "name") z.zone = std::string(v);
      else if (k == "buddyinfo") z.buddyinfo = numbers(k, v);
      else if (k == "free") z.free_pages = number(k, v);
      else if (k == "pcp") z.pcp_pages = number(k, v);
      else if (k == "min") z.min_pages = number(k, v);
      else if (k == "low") z.low_pages = number(k, v);
      else if (k == "high") z.high_pages = number(k, v);
      else if (k == "boost") z.boost_pages = number(k, v);
      else if (k == "managed") z.managed_pages = number(k, v);
      else if (k == "protection") z.lowmem_reserve_pages = numbers(k, v);
      else if (k == "pageblocks") z.pageblocks_by_type = numbers(k, v);
      else fail("unknown snapshot zone key '" + std::string(k) + "'");
    }
    return z;
  }

  FreeRun free_run(std::string_view text, const Snapshot& snap) const {
    const auto plus = text.find('+');
    if (plus == std::string_view::npos) fail("a free run is PFN+PAGES, got '" + std::string(text) + "'");
    FreeRun run{number("pfn", text.substr(0, plus)), number("pages", text.substr(plus + 1))};
    if (run.pages == 0) fail("a free run needs at least one page");
    if (run.pages > ~std::uint64_t{0} - run.start_pfn) fail("a free run cannot end past the last pfn");
    if (!snap.free_runs.empty()) {
      const FreeRun& prev = snap.free_runs.back();
      if (run.start_pfn < prev.start_pfn + prev.pages) fail("free runs must be sorted and disjoint");
    }
    return run;
  }

  void start_writer() {
    if (writer_) return;
    header_.gfp_table = gfp_entries_.empty() ? GfpTable::builtin_linux_6_10() : GfpTable(gfp_entries_);
    header_.gfp_table_source = gfp_entries_.empty() ? GfpTableSource::BuiltIn : GfpTableSource::Trace;
    if (header_.nr_cpus == 0) header_.nr_cpus = 1;
    writer_ = std::make_unique<TraceWriter>(out_path_, header_, options_);
    if (start_.present) writer_->write_start_snapshot(start_);
  }

  void event(std::string_view text) {
    start_writer();
    for (auto& stack : pending_stacks_) writer_->define_stack(stack.id, std::move(stack.frames));
    pending_stacks_.clear();
    const auto tokens = split_ws(text);
    if (tokens.size() < 2) fail("an event line is TS KIND key=value...");
    PageEvent e;
    const auto ts = parse_u64(tokens[0]);
    if (!ts) fail("bad timestamp '" + std::string(tokens[0]) + "'");
    e.ts_ns = *ts;
    if (!parse_event_kind(tokens[1], e.kind)) fail("unknown event kind '" + std::string(tokens[1]) + "'");
    if (e.kind == EventKind::ZoneCounters) {
      zone_counters(e.ts_ns, std::span<const std::string_view>(tokens).subspan(2));
      return;
    }
    bool have_pfn = false, have_tid = false;
    for (const auto& [k, v] : key_values(std::span<const std::string_view>(tokens).subspan(2))) {
      if (k == "pfn") {
        have_pfn = true;
        e.pfn = (v == "failed" || v == "-1") ? kFailedPfn : number(k, v);
      } else if (k == "order") {
        const auto order = number(k, v);
        if (order > header_.max_order) fail("order " + std::to_string(order) + " is above max_order");
        e.order = static_cast<std::uint8_t>(order);
      } else if (k == "mt") {
        e.migratetype = migratetype(v);
      } else if (k == "gfp") {
        const auto bits = writer_gfp().parse(v);
        if (!bits) fail("unknown GFP flags '" + std::string(v) + "'");
        e.gfp = *bits;
      } else if (k == "cpu") {
        const auto cpu = number(k, v);
        if (cpu > 65535) fail("cpu out of range");
        e.cpu = static_cast<std::uint16_t>(cpu);
      } else if (k == "pid") {
        e.pid = static_cast<std::uint32_t>(number(k, v));
      } else if (k == "tid") {
        e.tid = static_cast<std::uint32_t>(number(k, v));
        have_tid = true;
      } else if (k == "comm") {
        auto comm = unescape(v);
        if (!comm) fail("bad escape in comm");
        e.comm_id = writer_->intern_comm(*comm);
      } else if (k == "ctx") {
        if (!parse_exec_context(v, e.ctx)) fail("unknown context '" + std::string(v) + "'");
      } else if (k == "task") {
        if (!parse_task_state(v, e.task_state)) fail("unknown task state '" + std::string(v) + "'");
      } else if (k == "fb_order") {
        e.fallback_order = static_cast<std::uint8_t>(number(k, v) & 0xfu);
      } else if (k == "fb_mt") {
        e.fallback_migratetype = migratetype(v);
      } else if (k == "owner") {
        e.change_ownership = number(k, v) != 0;
      } else if (k == "refill") {
        e.percpu_refill = number(k, v) != 0;
      } else if (k == "range") {
        e.range_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(number(k, v), 0xffffffffu));
      } else if (k == "taken") {
        e.taken_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(number(k, v), 0xffffffffu));
      } else if (k == "fast") {
        if (number(k, v) != 0) e.isolate_source = IsolateSource::FastScan;
      } else if (k == "exact") {
        const std::uint64_t x = number(k, v);
        if (x == 1) e.isolate_source = IsolateSource::Block;
        if (x == 2) e.isolate_source = IsolateSource::Putback;
      } else if (k == "reclaimed") {
        e.reclaimed_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(number(k, v), 0xffffffffu));
      } else if (k == "node") {
        if (!is_kswapd(e.kind)) fail("node= belongs to kswapd events");
        e.gfp = number(k, v);
      } else if (k == "stack") {
        e.stack_id = static_cast<std::uint32_t>(number(k, v));
      } else {
        fail("unknown event key '" + std::string(k) + "'");
      }
    }
    if (!have_pfn && !is_pageless(e.kind)) fail("event without pfn=");
    if (have_pfn && is_pageless(e.kind)) fail(std::string("a ") + (is_kswapd(e.kind) ? "kswapd" : "reclaim") + " event has no pfn=");
    if (e.pfn == kFailedPfn && e.kind != EventKind::Alloc) fail("only an alloc can fail (pfn=failed)");
    if (e.task_state != 0 && e.kind != EventKind::Alloc) fail("task= belongs to alloc events");
    if (!have_tid) e.tid = e.pid;
    writer_->append(e);
    ++result_.events;
  }

  void zone_counters(std::uint64_t ts, std::span<const std::string_view> fields) {
    ZoneCounters c;
    std::uint16_t cpu = 0;
    auto u32 = [&](std::string_view k, std::string_view v) {
      const std::uint64_t n = number(k, v);
      if (n > 0xffffffffu) fail(std::string(k) + " out of range");
      return static_cast<std::uint32_t>(n);
    };
    for (const auto& [k, v] : key_values(fields)) {
      if (k == "node") {
        const auto n = number(k, v);
        if (n > 127) fail("node out of range");
        c.node = static_cast<int>(n);
      } else if (k == "zone") {
        const auto n = number(k, v);
        if (n > 15) fail("zone index out of range");
        c.zone_index = static_cast<unsigned>(n);
      } else if (k == "free") {
        c.free_pages = number(k, v);
      } else if (k == "highatomic_free") {
        c.highatomic_free = u32(k, v);
      } else if (k == "highatomic_reserved") {
        c.highatomic_reserved = u32(k, v);
      } else if (k == "boost") {
        c.boost = u32(k, v);
      } else if (k == "lists") {
        c.lists = number(k, v);
      } else if (k == "diffs") {
        const bool negative = v.starts_with('-');
        const std::uint64_t n = number(k, negative ? v.substr(1) : v);
        if (n > 0x7fffffffu) fail("diffs out of range");
        c.free_diffs = negative ? -static_cast<std::int32_t>(n) : static_cast<std::int32_t>(n);
      } else if (k == "cpu") {
        const auto n = number(k, v);
        if (n > 65535) fail("cpu out of range");
        cpu = static_cast<std::uint16_t>(n);
      } else {
        fail("unknown zone_counters key '" + std::string(k) + "'");
      }
    }
    writer_->append(zone_counters_event(ts, cpu, c));
  }

  const GfpTable& writer_gfp() const { return header_.gfp_table; }

  std::int8_t migratetype(std::string_view v) const {
    const auto n = parse_i64(v);
    if (n) {
      if (*n < -1 || *n > 14) fail("migratetype out of range");
      return static_cast<std::int8_t>(*n);
    }
    for (std::size_t i = 0; i < header_.migratetype_names.size(); ++i) {
      if (header_.migratetype_names[i] == v) return static_cast<std::int8_t>(i);
    }
    fail("unknown migratetype '" + std::string(v) + "'");
  }

  std::string input_;
  std::string out_path_;
  WriterOptions options_;
  std::uint64_t line_no_ = 0;
  TraceHeader header_;
  std::vector<GfpFlagName> gfp_entries_;
  Snapshot start_;
  Snapshot end_;
  std::vector<Snapshot> keyframes_;
  TraceFooter footer_;
  std::vector<StackTrace> pending_stacks_;
  std::unique_ptr<TraceWriter> writer_;
  TextConvertResult result_;
};

void write_snapshot_text(std::ostream& out, const Snapshot& snap, std::string_view prefix) {
  if (!snap.present) return;
  out << '!' << prefix << "_ts " << snap.ts_ns << '\n';
  for (const auto& z : snap.zones) {
    out << '!' << prefix << "_zone node=" << z.node << " name=" << z.zone << " free=" << z.free_pages
        << " pcp=" << z.pcp_pages << " min=" << z.min_pages << " low=" << z.low_pages << " high=" << z.high_pages
        << " boost=" << z.boost_pages;
    if (z.managed_pages != 0) out << " managed=" << z.managed_pages;
    if (!z.lowmem_reserve_pages.empty()) out << " protection=" << common::join(z.lowmem_reserve_pages, ",");
    if (!z.buddyinfo.empty()) out << " buddyinfo=" << common::join(z.buddyinfo, ",");
    if (!z.pageblocks_by_type.empty()) out << " pageblocks=" << common::join(z.pageblocks_by_type, ",");
    out << '\n';
  }
  // Counters eight to a line, the first line with the instant they were read.
  std::size_t n = 0;
  for (const auto& [name, value] : snap.vmstat) {
    if (n % 8 == 0) out << (n == 0 ? "" : "\n") << '!' << prefix << "_vmstat" << (n == 0 ? " ts=" + std::to_string(snap.vmstat_ts_ns) : "");
    out << ' ' << name << '=' << value;
    ++n;
  }
  if (n != 0) out << '\n';
  // Runs eight to a line keep a 24 GiB snapshot readable.
  for (std::size_t i = 0; i < snap.free_runs.size(); i += 8) {
    out << '!' << prefix << "_free";
    for (std::size_t k = i; k < std::min(i + 8, snap.free_runs.size()); ++k) {
      out << ' ' << hex(snap.free_runs[k].start_pfn) << '+' << snap.free_runs[k].pages;
    }
    out << '\n';
  }
}

}  // namespace

TextConvertResult convert_text_to_trace(std::istream& in, const std::string& input_name, const std::string& out_path,
                                        const WriterOptions& options) {
  TextParser parser(input_name, out_path, options);
  try {
    return parser.run(in);
  } catch (const TraceError&) {
    // Never leave a partial output behind, but never remove a file this parser did not create.
    if (parser.created_output()) {
      parser.close_output();
      ::unlink(out_path.c_str());
    }
    throw;
  }
}

std::string format_event_line(const PageEvent& e, const TraceReader* names, const GfpTable& gfp) {
  std::string line = std::to_string(e.ts_ns);
  line += ' ';
  line += to_string(e.kind);
  if (e.zone_counters()) {
    const ZoneCounters c = zone_counters_of(e);
    return line + " node=" + std::to_string(c.node) + " zone=" + std::to_string(c.zone_index) +
           " free=" + std::to_string(c.free_pages) + " highatomic_free=" + std::to_string(c.highatomic_free) +
           " highatomic_reserved=" + std::to_string(c.highatomic_reserved) + " boost=" + std::to_string(c.boost) +
           " lists=" + hex(c.lists) + (c.free_diffs ? " diffs=" + std::to_string(*c.free_diffs) : std::string()) +
           " cpu=" + std::to_string(e.cpu);
  }
  if (!is_pageless(e.kind)) {
    line += " pfn=";
    line += e.pfn == kFailedPfn ? std::string("failed") : hex(e.pfn);
  }
  if (is_kswapd(e.kind)) line += " node=" + std::to_string(e.gfp);
  if (e.kind != EventKind::ReclaimEnd && e.kind != EventKind::KswapdSleep) line += " order=" + std::to_string(e.order);
  if (!is_pageless(e.kind) && (e.migratetype >= 0 || e.kind != EventKind::Free)) {
    line += " mt=" + std::to_string(e.migratetype);
  }
  if (e.kind == EventKind::Alloc || e.kind == EventKind::ReclaimBegin) line += " gfp=" + gfp.format(e.gfp);
  if (e.kind == EventKind::ReclaimEnd) line += " reclaimed=" + std::to_string(e.reclaimed_pages);
  if (e.kind == EventKind::Extfrag) {
    line += " fb_order=" + std::to_string(e.fallback_order) + " fb_mt=" + std::to_string(e.fallback_migratetype) +
            " owner=" + (e.change_ownership ? "1" : "0");
  }
  if (e.kind == EventKind::PageblockMove) line += " fb_mt=" + std::to_string(e.fallback_migratetype);
  if (e.kind == EventKind::PcpRefill) line += std::string(" refill=") + (e.percpu_refill ? "1" : "0");
  if (e.kind == EventKind::Isolate) {
    line += " range=" + std::to_string(e.range_pages) + " taken=" + std::to_string(e.taken_pages) +
            " fast=" + (e.isolate_source == IsolateSource::FastScan ? "1" : "0");
    if (e.isolate_source == IsolateSource::Block) line += " exact=1";
    if (e.isolate_source == IsolateSource::Putback) line += " exact=2";
  }
  line += " cpu=" + std::to_string(e.cpu) + " pid=" + std::to_string(e.pid);
  if (e.tid != e.pid) line += " tid=" + std::to_string(e.tid);
  if (names != nullptr && e.comm_id != kUnknownComm) line += " comm=" + escape(names->comm(e.comm_id));
  line += " ctx=";
  line += to_string(e.ctx);
  if (e.kind == EventKind::Alloc && e.task_state != 0) line += " task=" + task_state_names(e.task_state);
  if (e.stack_id != kNoStack) line += " stack=" + std::to_string(e.stack_id);
  return line;
}

std::uint64_t write_text_trace(TraceReader& reader, std::ostream& out) {
  const TraceHeader& h = reader.header();
  out << "!labyrinth-text 1\n";
  out << "# " << (h.source.empty() ? "trace" : h.source) << " of " << h.kernel_release << " (" << h.hostname << ")\n";
  out << "!source " << (h.source.empty() ? "trace" : h.source) << '\n';
  if (!h.kernel_release.empty()) out << "!kernel " << h.kernel_release << '\n';
  out << "!clock " << h.clock << '\n';
  out << "!page_size " << h.page_size << "\n!max_order " << h.max_order << "\n!pageblock_order " << h.pageblock_order
      << "\n!cpus " << h.nr_cpus << '\n';
  if (h.start_time_unix_ns != 0) out << "!start_time_unix_ns " << h.start_time_unix_ns << '\n';
  if (!h.command.empty()) {
    out << "!command";
    for (const auto& a : h.command) out << ' ' << escape(a);
    out << '\n';
  }
  for (const auto& [k, v] : h.options) out << "!option " << k << '=' << escape(v) << '\n';
  if (!h.missing_events.empty()) {
    out << "!missing";
    for (const auto& m : h.missing_events) out << ' ' << escape(m);
    out << '\n';
  }
  for (const auto& [k, v] : h.vm_sysctls) out << "!sysctl " << k << '=' << escape(v) << '\n';
  for (const auto& [k, v] : h.kernel_params) out << "!param " << k << '=' << escape(v) << '\n';
  out << "!migratetypes " << common::join(h.migratetype_names, ",") << '\n';
  if (!h.node_zone_names.empty()) out << "!node_zones " << common::join(h.node_zone_names, ",") << '\n';
  for (const auto& g : h.gfp_table.entries()) out << "!gfp " << hex(g.mask) << ' ' << g.name << '\n';
  for (const auto& z : h.zones) {
    out << "!zone node=" << z.node << " name=" << z.name << " start_pfn=" << hex(z.start_pfn)
        << " spanned=" << z.spanned_pages << " present=" << z.present_pages << " managed=" << z.managed_pages
        << " min=" << z.min_pages << " low=" << z.low_pages << " high=" << z.high_pages << " boost=" << z.boost_pages;
    if (!z.lowmem_reserve_pages.empty()) out << " protection=" << common::join(z.lowmem_reserve_pages, ",");
    out << " pcp_high=" << z.pcp_high << " pcp_batch=" << z.pcp_batch << " pcp_count=" << z.pcp_count_pages
        << " free=" << z.free_pages << '\n';
  }
  write_snapshot_text(out, reader.start_snapshot(), "start");

  std::uint64_t written = 0;
  std::span<const PageEvent> chunk;
  std::unordered_set<std::uint32_t> stacks_printed;
  // Each failure's zone counters go right before it (same ts and cpu), as they were recorded.
  std::deque<PageEvent> counters;
  auto print_counters_until = [&](const PageEvent* e) {
    while (!counters.empty() &&
           (e == nullptr || counters.front().ts_ns < e->ts_ns ||
            (counters.front().ts_ns == e->ts_ns && counters.front().cpu == e->cpu))) {
      out << format_event_line(counters.front(), &reader, h.gfp_table) << '\n';
      counters.pop_front();
    }
  };
  while (reader.next(chunk)) {
    for (PageEvent& c : reader.take_zone_counters()) counters.push_back(c);
    for (const PageEvent& e : chunk) {
      print_counters_until(&e);
      if (e.stack_id != kNoStack && stacks_printed.insert(e.stack_id).second) {
        if (const StackTrace* s = reader.stack(e.stack_id)) {  // defined before first use
          out << "!stack " << e.stack_id << ' ';
          for (std::size_t f = 0; f < s->frames.size(); ++f) out << (f ? ";" : "") << escape(s->frames[f]);
          out << '\n';
        }
      }
      out << format_event_line(e, &reader, h.gfp_table) << '\n';
      ++written;
    }
  }
  for (PageEvent& c : reader.take_zone_counters()) counters.push_back(c);
  print_counters_until(nullptr);
  for (std::size_t i = 0; i < reader.keyframes().size(); ++i) {
    Snapshot k = reader.keyframes()[i];
    if (k.free_map_in_file) reader.keyframe_free_map(i, k.free_runs);
    write_snapshot_text(out, k, "keyframe");
  }
  write_snapshot_text(out, reader.end_snapshot(), "end");
  const TraceFooter& f = reader.footer();
  if (f.present) {
    const CaptureLosses& l = f.losses;
    out << "!losses ringbuf_drops=" << l.ringbuf_drops << " recursion_misses=" << l.recursion_misses
        << " lost_events=" << l.lost_events << " lines_skipped=" << l.lines_skipped
        << " lines_other_events=" << l.lines_other_events << " stacks_lost=" << l.stacks_lost << '\n';
    if (!f.stop_reason.empty()) out << "!stop_reason " << f.stop_reason << '\n';
    out << "!exit_status " << f.exit_status << '\n';
    if (f.end_time_unix_ns != 0) out << "!end_time_unix_ns " << f.end_time_unix_ns << '\n';
  }
  if (reader.damage().any()) out << "# damaged: " << reader.damage().message << '\n';
  return written;
}

}  // namespace labyrinth::traces
