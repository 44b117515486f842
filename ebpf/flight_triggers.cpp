#include "flight_triggers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "labyrinth/ebpf/errors.hpp"

namespace labyrinth::ebpf {
namespace {

// "__GFP_HIGH|__GFP_NOWARN" through the kernel's table, or a number ("0x20").
std::optional<std::uint64_t> gfp_bits_of(const std::string& text, const traces::GfpTable& table) {
  if (text.empty()) return 0;
  std::uint64_t v = 0;
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const char* b = text.data() + (hex ? 2 : 0);
  const auto [p, ec] = std::from_chars(b, text.data() + text.size(), v, hex ? 16 : 10);
  if (ec == std::errc() && p == text.data() + text.size()) return v;
  return table.parse(text);
}

}  // namespace

TriggerWatch::TriggerWatch(const std::vector<FlightTrigger>& triggers, const traces::GfpTable& gfp_table)
    : bits_(traces::GfpBits::from(gfp_table)), table_(gfp_table) {
  for (const auto& t : triggers) {
    switch (t.kind) {
      case FlightTrigger::Kind::Failure: {
        const auto bits = gfp_bits_of(t.gfp_flags, gfp_table);
        if (!bits || (*bits == 0 && !t.gfp_flags.empty()))
          throw RecordError(RecordError::Kind::Usage,
                            fmt::format("--trigger {}: '{}' names no GFP flag of this kernel", t.text, t.gfp_flags),
                            {"use the names of /sys/kernel/tracing/events/kmem/mm_page_alloc/format, or a number"});
        failure_.push_back(Failure{&t, *bits});
        break;
      }
      case FlightTrigger::Kind::Signal: signal_ = &t; break;
      case FlightTrigger::Kind::FreeBelow: floors_.push_back(&t); break;
    }
  }
}

void TriggerWatch::check_failure(const traces::PageEvent& e) {
  for (const auto& f : failure_) {
    const FlightTrigger& t = *f.spec;
    if (t.min_order && e.order < *t.min_order) continue;
    if ((e.gfp & f.gfp_bits) != f.gfp_bits) continue;
    const traces::FailureClass cls = traces::classify(e.gfp, e.order, bits_);
    if (!t.classes.empty() && std::find(t.classes.begin(), t.classes.end(), cls) == t.classes.end()) continue;
    hit(t, e.ts_ns,
        fmt::format("order={} gfp=\"{}\" class={} pid={} cpu={}", e.order, table_.format(e.gfp),
                    traces::to_string(cls), e.pid, e.cpu));
    return;
  }
}

void TriggerWatch::on_signal(std::uint64_t ts_ns) {
  if (signal_ != nullptr) hit(*signal_, ts_ns, "signal=SIGUSR1");
}

void TriggerWatch::on_keyframe(const traces::Snapshot& snapshot) {
  const std::size_t zones = snapshot.zones.size();
  if (below_.size() < floors_.size() * zones) below_.resize(floors_.size() * zones, false);
  for (std::size_t i = 0; i < floors_.size(); ++i) {
    const FlightTrigger& t = *floors_[i];
    for (std::size_t z = 0; z < zones; ++z) {
      const auto& zone = snapshot.zones[z];
      if (!t.zone.empty() && zone.zone != t.zone) continue;
      if (zone.managed_pages == 0 && zone.free_pages == 0) continue;  // an empty zone
      const bool below = zone.free_pages < t.free_pages;
      if (below && !below_[i * zones + z])
        hit(t, snapshot.ts_ns, fmt::format("node={} zone={} free_pages={}", zone.node, zone.zone, zone.free_pages));
      below_[i * zones + z] = below;
    }
  }
}

void TriggerWatch::hit(const FlightTrigger& spec, std::uint64_t ts_ns, std::string detail) {
  ++hits_;
  if (!pending_) pending_ = TriggerHit{spec.text, ts_ns, std::move(detail)};
}

std::optional<TriggerHit> TriggerWatch::take() {
  std::optional<TriggerHit> out = std::move(pending_);
  pending_.reset();
  return out;
}

}  // namespace labyrinth::ebpf
