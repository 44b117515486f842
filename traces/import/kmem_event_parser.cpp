#include "labyrinth/traces/import/kmem_event_parser.hpp"

#include <algorithm>
#include <charconv>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces::import {
namespace {

bool parse_unsigned(std::string_view s, std::uint64_t& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

bool parse_signed(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

bool null_pointer(std::string_view page) {
  if (page == "(nil)" || page == "(null)" || page == "0x0" || page == "0") return true;
  if (page.size() != 8 && page.size() != 16) return false;
  for (char c : page) {
    if (c != '0') return false;
  }
  return true;
}

struct Fields {
  std::string_view page, pfn, order, migratetype, gfp_flags, percpu_refill;
  std::string_view alloc_order, fallback_order, alloc_migratetype, fallback_migratetype, change_ownership;
  std::string_view nr_reclaimed;
  std::string_view nid;
};

void split_fields(std::string_view text, Fields& f) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    const std::string_view token = text.substr(start, i - start);
    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = token.substr(0, eq);
    const std::string_view value = token.substr(eq + 1);
    switch (key.size()) {
      case 3:
        if (key == "pfn") f.pfn = value;
        else if (key == "nid") f.nid = value;
        break;
      case 4:
        if (key == "page") f.page = value;
        break;
      case 5:
        if (key == "order") f.order = value;
        break;
      case 9:
        if (key == "gfp_flags") f.gfp_flags = value;
        break;
      case 11:
        if (key == "migratetype") f.migratetype = value;
        else if (key == "alloc_order") f.alloc_order = value;
        break;
      case 12:
        if (key == "nr_reclaimed") f.nr_reclaimed = value;
        break;
      case 13:
        if (key == "percpu_refill") f.percpu_refill = value;
        break;
      case 14:
        if (key == "fallback_order") f.fallback_order = value;
        break;
      case 16:
        if (key == "change_ownership") f.change_ownership = value;
        break;
      case 17:
        if (key == "alloc_migratetype") f.alloc_migratetype = value;
        break;
      case 20:
        if (key == "fallback_migratetype") f.fallback_migratetype = value;
        break;
      default: break;
    }
  }
}

const char* parse_order(std::string_view text, const char* missing, std::uint8_t& out) {
  if (text.empty()) return missing;
  std::uint64_t value = 0;
  if (!parse_unsigned(text, value)) return "order is not a number";
  if (value > static_cast<std::uint64_t>(kMaxSupportedOrder)) return "order above 15, the largest supported";
  out = static_cast<std::uint8_t>(value);
  return nullptr;
}

const char* parse_migratetype(std::string_view text, std::int8_t& out) {
  if (text.empty()) return nullptr;  // absent: stays unknown (-1)
  std::int64_t value = 0;
  if (!parse_signed(text, value) || value < -128 || value > 127) return "migratetype is not a small integer";
  out = static_cast<std::int8_t>(value);
  return nullptr;
}

const char* parse_flag(std::string_view text, bool& out) {
  if (text.empty()) return nullptr;
  std::int64_t value = 0;
  if (!parse_signed(text, value)) return "a 0/1 field is not a number";
  out = value != 0;
  return nullptr;
}

const char* parse_gfp(std::string_view text, GfpDecoder& gfp, std::uint64_t& out, KmemParseResult& result) {
  if (text.empty()) return "no gfp_flags= field";
  const GfpDecodeResult& decoded = gfp.decode(text);
  out = decoded.bits;
  result.unknown_gfp_name_count = decoded.unknown_names;
  result.unknown_gfp_names = decoded.first_unknown;
  return nullptr;
}

// "order=0 gfp_flags=GFP_KERNEL" and "nr_reclaimed=32": no page, so no pfn.
KmemParseResult parse_reclaim_fields(const Fields& f, GfpDecoder& gfp, PageEvent& event) {
  KmemParseResult result;
  event.migratetype = -1;
  const char* error = nullptr;
  if (event.kind == EventKind::ReclaimBegin) {
    error = parse_order(f.order, "no order= field", event.order);
    if (error == nullptr) error = parse_gfp(f.gfp_flags, gfp, event.gfp, result);
  } else {
    std::uint64_t pages = 0;
    if (f.nr_reclaimed.empty()) {
      error = "no nr_reclaimed= field";
    } else if (!parse_unsigned(f.nr_reclaimed, pages)) {
      error = "nr_reclaimed is not a number";
    } else {
      event.reclaimed_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(pages, 0xffffffffu));
    }
  }
  result.error = error;
  result.ok = error == nullptr;
  return result;
}

// kswapd's "nid=0 order=3" (wake) and "nid=0" (sleep): no page; the node rides in gfp.
KmemParseResult parse_kswapd_fields(const Fields& f, PageEvent& event) {
  KmemParseResult result;
  event.migratetype = -1;
  const char* error = nullptr;
  if (f.nid.empty()) {
    error = "no nid= field";
  } else if (!parse_unsigned(f.nid, event.gfp)) {
    error = "nid is not a number";
  } else if (event.kind == EventKind::KswapdWake) {
    error = parse_order(f.order, "no order= field", event.order);
  }
  result.error = error;
  result.ok = error == nullptr;
  return result;
}

}  // namespace

std::optional<EventKind> kmem_event_kind(std::string_view name) {
  // Compaction's isolate events carry what no text capture's importer reads: not imported.
  // A pageblock move is a function's exit, which no text capture holds.
  for (int k = 0; k < kEventKindCount; ++k) {
    const auto kind = static_cast<EventKind>(k);
    if (kind != EventKind::Isolate && kind != EventKind::PageblockMove && tracepoint_name(kind) == name) return kind;
  }
  return std::nullopt;
}

const GfpDecodeResult& GfpDecoder::decode(std::string_view text) {
  if (auto it = cache_.find(text); it != cache_.end()) return it->second;
  const std::string& key = keys_.emplace_back(text);
  GfpDecodeResult result;
  std::string_view rest = key;
  if (rest != "none") {
    while (!rest.empty()) {
      const std::size_t bar = rest.find('|');
      const std::string_view name = rest.substr(0, bar);
      rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
      if (name.empty()) continue;
      std::uint64_t value = 0;
      if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X') && parse_unsigned(name, value)) {
        result.bits |= value;  // bits the kernel's table had no name for
        continue;
      }
      const std::uint64_t mask = table_.bits_of(name);
      if (mask == 0) {
        if (result.unknown_names++ == 0) result.first_unknown = name;
        continue;
      }
      result.bits |= mask;
    }
  }
  return cache_.emplace(std::string_view(key), result).first->second;
}

KmemParseResult parse_kmem_fields(EventKind kind, std::string_view text, GfpDecoder& gfp, PageEvent& event) {
  KmemParseResult result;
  Fields f;
  split_fields(text, f);
  event.kind = kind;
  if (is_reclaim(kind)) return parse_reclaim_fields(f, gfp, event);
  if (is_kswapd(kind)) return parse_kswapd_fields(f, event);
  if (f.pfn.empty()) {
    result.error = "no pfn= field";
    return result;
  }
  if (!parse_unsigned(f.pfn, event.pfn)) {
    result.error = "pfn is not a number";
    return result;
  }
  const bool null_page = !f.page.empty() && null_pointer(f.page);
  if (null_page) {
    if (kind != EventKind::Alloc) {
      result.error = "NULL page in an event that cannot fail";
      return result;
    }
    event.pfn = kFailedPfn;
  }
  const char* error = nullptr;
  switch (kind) {
    case EventKind::Alloc: {
      error = parse_order(f.order, "no order= field", event.order);
      if (error == nullptr) error = parse_migratetype(f.migratetype, event.migratetype);
      if (error == nullptr) error = parse_gfp(f.gfp_flags, gfp, event.gfp, result);
      break;
    }
    case EventKind::Free:
    case EventKind::FreeBatched:
      // mm_page_free_batched prints "order=0" for every folio; older kernels print no order.
      error = f.order.empty() && kind == EventKind::FreeBatched ? nullptr
                                                                 : parse_order(f.order, "no order= field", event.order);
      break;
    case EventKind::PcpRefill:
      error = parse_order(f.order, "no order= field", event.order);
      if (error == nullptr) error = parse_migratetype(f.migratetype, event.migratetype);
      if (error == nullptr) error = parse_flag(f.percpu_refill, event.percpu_refill);
      break;
    case EventKind::PcpDrain:
      error = parse_order(f.order, "no order= field", event.order);
      if (error == nullptr) error = parse_migratetype(f.migratetype, event.migratetype);
      break;
    case EventKind::Extfrag:
      error = parse_order(f.alloc_order, "no alloc_order= field", event.order);
      if (error == nullptr) error = parse_order(f.fallback_order, "no fallback_order= field", event.fallback_order);
      if (error == nullptr) error = parse_migratetype(f.alloc_migratetype, event.migratetype);
      if (error == nullptr) error = parse_migratetype(f.fallback_migratetype, event.fallback_migratetype);
      if (error == nullptr) error = parse_flag(f.change_ownership, event.change_ownership);
      break;
    case EventKind::Isolate:  // never named by kmem_event_kind
    case EventKind::PageblockMove:
    case EventKind::ZoneCounters:
    case EventKind::ReclaimBegin:
    case EventKind::ReclaimEnd:
    case EventKind::KswapdWake:
    case EventKind::KswapdSleep:
      break;
  }
  if (error != nullptr) {
    result.error = error;
    return result;
  }
  result.ok = true;
  return result;
}

}  // namespace labyrinth::traces::import
