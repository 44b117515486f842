// Data quality: every counter of the replay with its severity, non-zero ones first, so that
// a reader sees what the results may miss before trusting them.
#include <algorithm>

#include "report_context.hpp"

namespace labyrinth::html {

void quality_section(Markup& m, const ReportContext& c) {
  const auto& q = c.replay.quality;
  m.raw("<section id=\"data-quality\"><h2>Data quality</h2>\n");
  m.put("<p class=\"{}\">{}</p>\n", q.lossy() ? "warn" : "ok",
        q.lossy() ? fmt::format("{} events or states were lost or inconsistent: the results below are approximate where "
                                "they depend on them.",
                                q.losses())
                  : std::string("No data loss: every event the kernel emitted is in the trace."));
  std::vector<replay::DataQuality> order;
  for (std::size_t i = 0; i < replay::kDataQualityCount; ++i) order.push_back(static_cast<replay::DataQuality>(i));
  std::stable_partition(order.begin(), order.end(), [&q](replay::DataQuality d) { return q.get(d) != 0; });
  m.raw("<table class=\"quality\"><thead><tr><th>counter</th><th>severity</th><th>count</th><th>what it means</th></tr>"
        "</thead><tbody>\n");
  for (const replay::DataQuality d : order) {
    const replay::DataQualityInfo& i = replay::info(d);
    const std::uint64_t v = q.get(d);
    m.put("<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>", v == 0 ? "zero" : replay::to_string(i.severity),
          i.name, replay::to_string(i.severity), v);
    m.text(i.description);
    m.raw("</td></tr>\n");
  }
  m.raw("</tbody></table>\n");
  const auto& losses = c.replay.footer.losses;
  if (losses.stacks_lost != 0) m.put("<p class=\"note\">{} kernel stacks could not be captured.</p>\n", losses.stacks_lost);
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
