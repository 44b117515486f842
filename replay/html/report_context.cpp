#include "report_context.hpp"

#include <algorithm>

#include "labyrinth/allocator/config.hpp"

namespace labyrinth::html {

ReportContext::ReportContext(const replay::ReplayResult& r, const replay::StatResult& s, const ReportOptions& o)
    : replay(r), stat(s), options(o) {
  t0_ns = r.first_ts_ns != 0 ? r.first_ts_ns : s.first_ts_ns;
  if (r.header.start_ts_ns != 0 && r.header.start_ts_ns < t0_ns) t0_ns = r.header.start_ts_ns;
  for (const auto& [id, name] : r.comms) comms_[id] = name;
  for (const auto& [id, name] : r.callsites) callsites_[id] = name;
  std::vector<std::uint16_t> zones;
  for (std::uint16_t z = 0; z < r.model_config.zones.size() && z < r.timeline.size(); ++z) {
    if (r.model_config.zones[z].managed_pages != 0 && !r.timeline[z].samples.empty()) zones.push_back(z);
  }
  std::stable_sort(zones.begin(), zones.end(), [&r](std::uint16_t a, std::uint16_t b) {
    return r.model_config.zones[a].managed_pages > r.model_config.zones[b].managed_pages;
  });
  if (zones.size() > o.max_zones) zones.resize(o.max_zones);
  std::sort(zones.begin(), zones.end());
  charted_ = std::move(zones);
}

std::string ReportContext::comm(std::uint32_t comm_id) const {
  const auto it = comms_.find(comm_id);
  return it == comms_.end() || it->second.empty() ? std::string("[unknown]") : it->second;
}

std::string ReportContext::callsite(std::uint32_t stack_id) const {
  if (stack_id == traces::kNoStack) return {};
  const auto it = callsites_.find(stack_id);
  return it == callsites_.end() ? std::string("[stack lost]") : it->second;
}

std::string ReportContext::zone_label(std::optional<std::uint16_t> zone) const {
  if (!zone || *zone >= replay.model_config.zones.size()) return "no zone";
  const auto& z = replay.model_config.zones[*zone];
  return fmt::format("node {} {}", z.node, allocator::zone_type_name(z.type));
}

std::string ReportContext::migratetype_name(int type) const {
  if (type < 0) return "unknown";
  const auto i = static_cast<std::size_t>(type);
  return i < replay.header.migratetype_names.size() ? replay.header.migratetype_names[i] : fmt::format("type {}", type);
}

std::string ReportContext::pages(std::uint64_t n) const {
  return fmt::format("{} pages ({})", n, pages_as_bytes(n, replay.header.page_size));
}

std::string failure_summary(const ReportContext& c, const replay::FailureRecord& f) {
  const replay::ZoneState& s = f.state;
  std::string text = fmt::format(
      "{:.6f} s: order {} {} in {}, {} [{}] on CPU {}{}\n{} failure, cause {}{}\nzone {}: {} free, {} unusable to "
      "it, effective min {}; largest free block order {}; unusable index {:.3f}, fragmentation index {:.3f} at order {}",
      c.seconds(f.ts_ns), f.order, c.replay.header.gfp_table.format(f.gfp), traces::to_string(f.context), c.comm(f.comm_id),
      f.pid, f.cpu, f.migratetype >= 0 ? ", " + c.migratetype_name(f.migratetype) : std::string(),
      replay::to_string(f.cls), replay::to_string(f.cause),
      c.replay.mode != replay::ReplayMode::Simulate ? ""
      : f.model_served                             ? " (missed: the model served it; the cause is the kernel's counters')"
      : f.kernel_failed                            ? " (the kernel failed it too)"
                                                   : " (predicted: the kernel served it)",
      c.zone_label(s.zone), c.pages(static_cast<std::uint64_t>(std::max<std::int64_t>(s.free_pages, 0))),
      s.unusable_pages, s.effective_min_pages, s.largest_free_order, s.unusable_index / 1000.0,
      s.fragmentation_index / 1000.0, f.order);
  if (const std::string site = c.callsite(f.stack_id); !site.empty()) text += "\ncall site " + site;
  if (!f.evidence.empty()) text += "\n" + f.evidence;
  return text;
}

}  // namespace labyrinth::html
