#include "flight_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "units.hpp"

namespace labyrinth::cli {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t next = text.find(sep, pos);
    out.push_back(text.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

bool parse_number(std::string_view text, std::uint64_t& out) {
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

bool looks_like_size(std::string_view part) {
  if (part.empty()) return false;
  const char last = part.back();
  return last == 'K' || last == 'M' || last == 'G' || last == 'T' || last == 'B';
}

std::string parse_failure_filter(std::string_view f, ebpf::FlightTrigger& out) {
  if (const auto cls = traces::failure_class_from_name(f)) {
    out.classes.push_back(*cls);
    return {};
  }
  if (f.substr(0, 7) == "order>=") {
    std::uint64_t n = 0;
    if (!parse_number(f.substr(7), n) || n > 15) return fmt::format("'{}': the order must be 0..15", f);
    out.min_order = static_cast<std::uint32_t>(n);
    return {};
  }
  if (f.substr(0, 4) == "gfp=") {
    out.gfp_flags = std::string(f.substr(4));
    if (out.gfp_flags.empty()) return "gfp= needs flag names (gfp=__GFP_HIGH|__GFP_NOWARN) or a number";
    return {};
  }
  return fmt::format("unknown failure filter '{}' (use atomic, opportunistic, costly, other, order>=N or gfp=FLAGS)", f);
}

}  // namespace

std::string parse_flight_spec(std::string_view text, ebpf::FlightOptions& out) {
  bool have_size = false;
  for (const auto part : split(text, ',')) {
    if (looks_like_size(part)) {
      const ParsedUnit s = parse_size(part);
      if (!s.ok()) return s.error;
      if (s.value < (1u << 20) || s.value > (64ull << 30)) return fmt::format("'{}': the ring must be 1M..64G", part);
      out.ring_bytes = s.value;
      have_size = true;
    } else {
      const ParsedUnit d = parse_duration(part);
      if (!d.ok()) return fmt::format("{} (a size needs an upper-case unit: 64M, 1G)", d.error);
      if (d.value == 0 || d.value > 366ull * 24 * 3600 * 1'000'000'000) return fmt::format("'{}': the window must be positive", part);
      out.window = std::chrono::nanoseconds(d.value);
    }
  }
  if (!have_size && !out.window) return "give a duration (2m) or a size (64M)";
  return {};
}

std::string parse_trigger(std::string_view text, ebpf::FlightTrigger& out) {
  out = ebpf::FlightTrigger{};
  out.text = std::string(text);
  if (text == "sigusr1" || text == "SIGUSR1" || text == "usr1") {
    out.kind = ebpf::FlightTrigger::Kind::Signal;
    return {};
  }
  if (text.substr(0, 5) == "free<") {
    out.kind = ebpf::FlightTrigger::Kind::FreeBelow;
    const auto parts = split(text.substr(5), ':');
    if (parts.size() > 2 || !parse_number(parts[0], out.free_pages) || out.free_pages == 0)
      return fmt::format("'{}': use free<PAGES or free<PAGES:ZONE (free<20000:Normal)", text);
    if (parts.size() == 2) out.zone = std::string(parts[1]);
    return {};
  }
  const auto parts = split(text, ':');
  if (parts[0] != "failure") return fmt::format("unknown trigger '{}' (use failure[:FILTER...], sigusr1 or free<PAGES)", text);
  out.kind = ebpf::FlightTrigger::Kind::Failure;
  for (std::size_t i = 1; i < parts.size(); ++i)
    if (std::string why = parse_failure_filter(parts[i], out); !why.empty()) return why;
  return {};
}

}  // namespace labyrinth::cli
