#include "recorded_ledger.hpp"

#include "labyrinth/replay/validation.hpp"

namespace labyrinth::replay::detail {

using traces::EventKind;
using traces::IsolateSource;

RecordedLedger::RecordedLedger(const traces::TraceHeader& header, const traces::Snapshot& start)
    : max_order_(header.max_order) {
  for (const traces::ZoneInfo& h : header.zones) {
    Zone z;
    z.node = h.node;
    z.name = h.name;
    z.start_pfn = h.start_pfn;
    z.end_pfn = h.start_pfn + h.spanned_pages;
    for (const traces::ZoneSnapshot& s : start.zones) {
      if (s.node != h.node || s.zone != h.name) continue;
      z.known = true;
      z.start_pages = static_cast<std::int64_t>(snapshot_free_pages(s) + s.pcp_pages);
      z.start_managed = s.managed_pages != 0 ? s.managed_pages : h.managed_pages;  // older snapshots: the header's
    }
    zones_.push_back(std::move(z));
  }
}

RecordedLedger::Zone* RecordedLedger::zone_of(std::uint64_t pfn) {
  for (Zone& z : zones_) {
    if (pfn >= z.start_pfn && pfn < z.end_pfn) return &z;
  }
  return nullptr;
}

void RecordedLedger::add(std::span<const traces::PageEvent> events) {
  for (const traces::PageEvent& e : events) {
    std::int64_t pages = 0;
    switch (e.kind) {
      case EventKind::Alloc:
        if (e.failed()) continue;
        pages = -(std::int64_t{1} << e.order);
        break;
      case EventKind::Free: pages = std::int64_t{1} << e.order; break;
      case EventKind::Isolate:
        if (e.isolate_source == IsolateSource::Block || e.isolate_source == IsolateSource::Putback) {
          exact_blocks_ = true;
          pages = e.isolate_source == IsolateSource::Block ? -(std::int64_t{1} << e.order) : std::int64_t{1} << e.order;
        } else if (!exact_blocks_) {
          pages = -static_cast<std::int64_t>(e.taken_pages);
        }
        break;
      default: continue;  // the rest move pages between lists, or none
    }
    if (pages == 0 || e.order > max_order_) continue;
    if (Zone* z = zone_of(e.pfn)) z->net += pages;
  }
}

std::optional<std::int64_t> RecordedLedger::taken_without_events(const traces::ZoneSnapshot& k) const {
  for (const Zone& z : zones_) {
    if (z.node != k.node || z.name != k.zone || !z.known) continue;
    const std::int64_t grown = k.managed_pages != 0 && z.start_managed != 0
                                   ? static_cast<std::int64_t>(k.managed_pages) - static_cast<std::int64_t>(z.start_managed)
                                   : 0;
    const std::int64_t expected = z.start_pages + z.net + grown;
    return expected - static_cast<std::int64_t>(snapshot_free_pages(k) + k.pcp_pages);
  }
  return std::nullopt;
}

}  // namespace labyrinth::replay::detail
