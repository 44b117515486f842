// Data quality: every counter of the replay with its severity, non-zero ones first, so that
// a reader sees what the results may miss before trusting them.
#include <algorithm>

#include "labyrinth/replay/missing_attach_points.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

void quality_section(Markup& m, const ReportContext& c) {
  const auto& q = c.replay.quality;
  m.raw("<section id=\"data-quality\"><h2>Data quality</h2>\n");
  const auto missing = replay::missing_attach_points(c.replay.header);
  m.put("<p class=\"{}\">{}</p>\n", q.lossy() || !missing.empty() ? "warn" : "ok",
        q.lossy() ? fmt::format("{} events or states were lost or inconsistent: the results below are approximate where "
                                "they depend on them.",
                                q.losses())
        : !missing.empty()
            ? std::string("No event was lost, but the recorder went without some attach points (listed below): the "
                          "results are approximate where they depend on them.")
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
  if (!missing.empty()) {
    // What the recording went without, and what each costs (missing_attach_points above).
    m.raw("<p class=\"note\">Attach points the recorder went without:</p>\n<ul class=\"missing\">\n");
    for (const auto& point : missing) {
      m.raw("<li><code>");
      m.text(point.name);
      m.raw("</code>");
      if (!point.reason.empty()) {
        m.raw(" (");
        m.text(point.reason);
        m.raw(")");
      }
      m.raw(": ");
      m.text(point.cost);
      m.raw("</li>\n");
    }
    m.raw("</ul>\n");
  }
  const auto& losses = c.replay.footer.losses;
  if (losses.stacks_lost != 0) m.put("<p class=\"note\">{} kernel stacks could not be captured.</p>\n", losses.stacks_lost);
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
