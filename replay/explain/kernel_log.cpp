// Log normalisation for labyrinth explain. Everything here is a heuristic about how text got
// mangled on its way from printk to the user; each rule names the source it undoes.
#include "labyrinth/explain/kernel_log.hpp"
#include "labyrinth/common/text.hpp"

#include <array>
#include <cctype>

namespace labyrinth::explain {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

using common::trim;
using common::trim_left;

// "[  123.456789]", "[Mon Apr 20 15:08:07 2020]", "[  T123]", "[    C1]": a bracket at the
// start holding only timestamp characters. "[<ffffffff81234567>]" (a frame address) is kept.
bool strip_bracket_stamp(std::string_view& s) {
  if (s.size() < 3 || s.front() != '[' || s[1] == '<') return false;
  const auto close = s.find(']');
  if (close == std::string_view::npos || close > 40 || close < 2) return false;
  const std::string_view inside = s.substr(1, close - 1);
  // "[c07926d4]", "[c000000000235264]": a powerpc frame's stack/pc address, not a stamp (a
  // stamp always holds '.', ':' or a space).
  if (inside.size() == 8 || inside.size() == 16) {
    bool hex = true;
    for (char c : inside) hex = hex && std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (hex) return false;
  }
  bool digit = false;
  for (char c : inside) {
    if (is_digit(c)) digit = true;
    else if (!(is_space(c) || c == '.' || c == ':' || std::isalpha(static_cast<unsigned char>(c)))) return false;
  }
  if (!digit) return false;
  s.remove_prefix(close + 1);
  return true;
}

// "123.456789] text": a timestamp whose opening bracket was lost when the log was pasted
// (seen in a linux-mm report, tests/fixtures/explain/linuxmm_4.1_x86_64_atomic_order0.log).
// Only digits and one '.', then "] ".
bool strip_unopened_stamp(std::string_view& s) {
  std::size_t i = 0;
  bool dot = false;
  while (i < s.size() && i < 20 && (is_digit(s[i]) || (s[i] == '.' && !dot && i > 0))) {
    dot = dot || s[i] == '.';
    ++i;
  }
  if (!dot || i + 1 >= s.size() || s[i] != ']' || s[i + 1] != ' ' || !is_digit(s[i - 1])) return false;
  s.remove_prefix(i + 1);
  return true;
}

// syslog and journalctl: "Mar  1 12:00:00 host kernel: ", "2024-03-01T12:00:00+00:00 host kernel: ".
bool strip_syslog(std::string_view& s) {
  const auto k = s.find(" kernel:");
  if (k == std::string_view::npos || k > 96) return false;
  const std::string_view head = s.substr(0, k);
  // The head must hold a clock (dd:dd:dd) and no spaces-free junk longer than a host name.
  const auto colon = head.find(':');
  if (colon == std::string_view::npos || colon < 2 || colon + 3 >= head.size()) return false;
  if (!is_digit(head[colon - 1]) || !is_digit(head[colon + 1]) || head[colon + 3] != ':') return false;
  s.remove_prefix(k + 8);
  if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return true;
}

// dmesg -x: "kern  :warn  : ".
bool strip_facility(std::string_view& s) {
  static constexpr std::array<std::string_view, 3> kFacilities{"kern", "user", "daemon"};
  for (std::string_view f : kFacilities) {
    if (s.substr(0, f.size()) != f) continue;
    std::string_view rest = trim_left(s.substr(f.size()));
    if (rest.empty() || rest.front() != ':') return false;
    const auto second = rest.find(':', 1);
    if (second == std::string_view::npos || second > 12) return false;
    s = rest.substr(second + 1);
    if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return true;
  }
  return false;
}

// "<4>" console levels (also "<12>" syslog priorities).
bool strip_level(std::string_view& s) {
  if (s.size() < 3 || s.front() != '<' || !is_digit(s[1])) return false;
  std::size_t i = 1;
  while (i < s.size() && i < 4 && is_digit(s[i])) ++i;
  if (i >= s.size() || s[i] != '>') return false;
  s.remove_prefix(i + 1);
  return true;
}

// Android: "(1)[123:kworker/1:1]" after the timestamp.
bool strip_android_tag(std::string_view& s) {
  if (s.size() < 5 || s.front() != '(' || !is_digit(s[1])) return false;
  const auto close = s.find(')');
  if (close == std::string_view::npos || close > 5 || close + 1 >= s.size() || s[close + 1] != '[') return false;
  const auto end = s.find(']', close);
  if (end == std::string_view::npos || end > close + 64) return false;
  s.remove_prefix(end + 1);
  return true;
}

bool is_zone_name(std::string_view w) {
  return w == "DMA" || w == "DMA32" || w == "Normal" || w == "HighMem" || w == "Movable" || w == "Device";
}

// "Node 0 " alone: show_free_areas printed it with KERN_CONT and a logger split it.
bool is_node_fragment(std::string_view s) {
  s = trim(s);
  if (s.substr(0, 5) != "Node ") return false;
  s.remove_prefix(5);
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool all_numbers(std::string_view s) {
  s = trim(s);
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c) && !is_space(c)) return false;
  }
  return true;
}

// Lines that always start a printk line of their own.
bool starts_record(std::string_view s) {
  s = trim_left(s);
  if (s.substr(0, 5) == "Node " || s.substr(0, 14) == "lowmem_reserve" || s.substr(0, 8) == "Mem-Info" ||
      s.substr(0, 4) == "CPU:" || s.substr(0, 10) == "Call Trace" || s.substr(0, 10) == "Call trace" ||
      s.substr(0, 8) == "Hardware" || s.find("page allocation failure") != std::string_view::npos) {
    return true;
  }
  const auto colon = s.find_first_of(": ");
  return colon != std::string_view::npos && is_zone_name(s.substr(0, colon)) &&
         (s.substr(colon, 6) == " free:" || s[colon] == ':');
}

// The zone name of a free-area line ("Node 0 DMA32: 12*4kB ..." or "DMA: ..."), or "".
std::string_view free_area_zone(std::string_view s) {
  s = trim_left(s);
  if (s.substr(0, 5) == "Node ") {
    s.remove_prefix(5);
    while (!s.empty() && is_digit(s.front())) s.remove_prefix(1);
    s = trim_left(s);
  }
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || !is_zone_name(s.substr(0, colon))) return {};
  return s.substr(0, colon);
}

bool free_area_complete(std::string_view s) {
  const auto eq = s.rfind('=');
  if (eq == std::string_view::npos) return false;
  const std::string_view tail = trim(s.substr(eq + 1));
  return tail.size() > 2 && tail.substr(tail.size() - 2) == "kB";
}

bool is_zone_stats(std::string_view s) {
  return s.find(" free:") != std::string_view::npos && s.find(" min:") != std::string_view::npos;
}

// A piece that only continues the previous line: "inactive_file:123kB present:...",
// "all_unreclaimable? no", "free_cma:0kB".
bool looks_like_key_values(std::string_view s) {
  s = trim_left(s);
  std::size_t i = 0;
  while (i < s.size() && (std::islower(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '(' || s[i] == ')')) ++i;
  return i > 0 && i < s.size() && (s[i] == ':' || s[i] == '?');
}

bool should_join(const std::string& prev, std::string_view piece) {
  if (prev.empty()) return false;
  if (is_node_fragment(prev)) return true;
  if (trim(prev).substr(0, 16) == "lowmem_reserve[]" && all_numbers(piece)) return true;
  if (starts_record(piece)) return false;
  if (!free_area_zone(prev).empty() && !free_area_complete(prev) && !is_zone_stats(prev)) {
    const std::string_view p = trim_left(piece);
    return !p.empty() && (is_digit(p.front()) || p.front() == '(' || p.front() == '=');
  }
  if (is_zone_stats(prev) && looks_like_key_values(piece)) return true;
  // "CPU: 2 PID: 0 Comm: x Tainted: G OE" wrapped before the release.
  if (prev.find("ainted") != std::string::npos && prev.find("omm:") != std::string::npos) {
    const auto tainted = prev.find("ainted");
    bool has_release = false;
    for (std::size_t i = tainted; i + 1 < prev.size(); ++i) {
      if (is_digit(prev[i]) && prev[i + 1] == '.') has_release = true;
    }
    const std::string_view p = trim_left(piece);
    if (!has_release && !p.empty() && is_digit(p.front())) return true;
  }
  // A call-trace line wrapped after its address ("[<ffffffff814a9bb9>] ?" and the symbol on the
  // next line, linux-mm quote of bug 107111): the "?" belongs to the symbol that follows.
  {
    const std::string_view p = trim(prev);
    if ((p.size() > 3 && p.substr(p.size() - 3) == "] ?") || (p.size() > 2 && p.substr(p.size() - 2) == ">]")) {
      if (p.find("[<") != std::string_view::npos && p.find('+') == std::string_view::npos) return true;
    }
  }
  // "foo: page allocation failure: order:3," wrapped before "mode:".
  if (prev.find("page allocation failure") != std::string::npos && prev.find("mode:") == std::string::npos) {
    return true;
  }
  return false;
}

}  // namespace

std::string_view strip_log_prefixes(std::string_view s) {
  for (int guard = 0; guard < 16; ++guard) {
    std::string_view t = trim_left(s);
    if (!t.empty() && t.front() == '>') {
      s = t.substr(1);
      continue;
    }
    if (strip_level(t) || strip_syslog(t) || strip_facility(t) || strip_bracket_stamp(t) || strip_android_tag(t) ||
        strip_unopened_stamp(t)) {
      s = t;
      continue;
    }
    break;
  }
  // Keep the indentation of call-trace frames out: nothing below depends on it.
  return trim(s);
}

std::vector<LogLine> normalise_kernel_log(std::string_view text) {
  std::vector<LogLine> out;
  std::size_t number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    // journald escapes the newlines of a multi-line printk as "#012".
    std::size_t piece_start = 0;
    bool first_piece = true;
    while (true) {
      const auto esc = raw.find("#012", piece_start);
      std::string_view piece = raw.substr(piece_start, esc == std::string_view::npos ? std::string_view::npos
                                                                                       : esc - piece_start);
      piece = first_piece ? strip_log_prefixes(piece) : trim(piece);
      first_piece = false;
      if (!piece.empty()) {
        if (!out.empty() && should_join(out.back().text, piece)) {
          std::string& prev = out.back().text;
          if (!prev.empty() && prev.back() != ' ') prev += ' ';
          prev.append(piece);
        } else {
          out.push_back({number, std::string(piece)});
        }
      }
      if (esc == std::string_view::npos) break;
      piece_start = esc + 4;
    }
  }
  return out;
}

}  // namespace labyrinth::explain
