#include "recorded_ledger.hpp"

#include "labyrinth/replay/validation.hpp"

namespace labyrinth::replay::detail {

using traces::EventKind;
using traces::IsolateSource;

RecordedLedger::RecordedLedger(const traces::TraceHeader& header, const ModelSetup& setup,
                               const traces::Snapshot& start)
    : header_(header), setup_(setup), max_order_(header.max_order) {
  for (std::size_t mz = 0; mz < setup.config.zones.size(); ++mz) {
    const auto& zc = setup.config.zones[mz];
    Zone z;
    z.start_pfn = zc.start_pfn.value;
    z.end_pfn = zc.start_pfn.value + zc.spanned_pages;
    if (const traces::ZoneSnapshot* s = snapshot_zone(start, setup, header, static_cast<std::uint16_t>(mz))) {
      z.known = true;
      z.start_pages = static_cast<std::int64_t>(snapshot_free_pages(*s) + s->pcp_pages);
      // Older snapshots do not carry it: the header's.
      z.start_managed = s->managed_pages != 0 ? s->managed_pages : header.zones[setup.header_zone_of_model[mz]].managed_pages;
    }
    zones_.push_back(z);
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

std::optional<std::int64_t> RecordedLedger::taken_without_events(const traces::Snapshot& keyframe,
                                                                 std::uint16_t zone) const {
  const traces::ZoneSnapshot* k = snapshot_zone(keyframe, setup_, header_, zone);
  if (k == nullptr || zone >= zones_.size() || !zones_[zone].known) return std::nullopt;
  const Zone& z = zones_[zone];
  const std::int64_t grown = k->managed_pages != 0 && z.start_managed != 0
                                 ? static_cast<std::int64_t>(k->managed_pages) - static_cast<std::int64_t>(z.start_managed)
                                 : 0;
  const std::int64_t expected = z.start_pages + z.net + grown;
  return expected - static_cast<std::int64_t>(snapshot_free_pages(*k) + k->pcp_pages);
}

}  // namespace labyrinth::replay::detail
