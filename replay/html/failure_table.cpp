// Failures: totals by class and cause, and the first failures with their forensics (the
// markers of the timeline carry the same text on hover).
#include <algorithm>

#include "palette.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

void failure_section(Markup& m, const ReportContext& c) {
  const auto& r = c.replay;
  const auto& log = r.failures;
  m.raw("<section id=\"failures\"><h2>Failures</h2>\n");
  if (log.total() == 0) {
    m.put("<p>{}</p></section>\n", r.mode == replay::ReplayMode::Mirror ? "The kernel failed no allocation in this trace."
                                                                        : "The model predicts no failure.");
    return;
  }
  m.put("<p>{} failed allocation requests ({} pages){}. Class: who asked (atomic callers cannot reclaim; opportunistic "
        "ones have a fallback). Cause: why the allocator said no.</p>\n",
        log.total(), r.counters.failed_pages,
        r.mode == replay::ReplayMode::Mirror ? ", the kernel's own, explained from the reconstructed state"
                                             : ", predicted by the model under the what-if settings");
  m.raw("<table class=\"matrix\"><thead><tr><th>class \\ cause</th>");
  for (int k = 0; k < replay::kFailureCauseCount; ++k) m.put("<th>{}</th>", replay::to_string(static_cast<replay::FailureCause>(k)));
  m.raw("<th>total</th></tr></thead><tbody>");
  for (int j = 0; j < replay::kFailureClassCount; ++j) {
    const auto cls = static_cast<replay::FailureClass>(j);
    if (log.by_class(cls) == 0) continue;
    m.put("<tr><th>{}</th>", replay::to_string(cls));
    for (int k = 0; k < replay::kFailureCauseCount; ++k) {
      m.put("<td>{}</td>", log.by_class_cause()[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)]);
    }
    m.put("<td>{}</td></tr>", log.by_class(cls));
  }
  m.raw("</tbody></table>\n");

  const auto& records = log.records();
  const std::size_t shown = std::min(records.size(), c.options.failures_listed);
  m.put("<h3>The first {} failures</h3>\n", shown);
  m.raw("<table class=\"failures\"><thead><tr><th>time (s)</th><th>zone</th><th>order</th><th>GFP</th><th>context</th>"
        "<th>process</th><th>class</th><th>cause</th><th>free pages</th><th>effective min</th><th>largest free order</th>"
        "<th>unusable index</th><th>call site / evidence</th></tr></thead><tbody>\n");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& f = records[i];
    const auto& s = f.state;
    const bool predicted = r.mode == replay::ReplayMode::Simulate && !f.kernel_failed;
    m.put("<tr{}><td>{:.6f}</td><td>", predicted ? " class=\"predicted\"" : "", c.seconds(f.ts_ns));
    m.text(c.zone_label(s.zone));
    m.put("</td><td>{}</td><td>", f.order);
    m.text(r.header.gfp_table.format(f.gfp));
    m.put("</td><td>{}</td><td>", traces::to_string(f.context));
    m.text(fmt::format("{} [{}]", c.comm(f.comm_id), f.pid));
    m.put("</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>", replay::to_string(f.cls),
          replay::to_string(f.cause), predicted ? " (predicted)" : "", s.free_pages, s.effective_min_pages,
          s.largest_free_order, s.unusable_index / 1000.0);
    std::string site = c.callsite(f.stack_id);
    if (!f.evidence.empty()) site += (site.empty() ? "" : "; ") + f.evidence;
    m.text(site);
    m.raw("</td></tr>\n");
  }
  m.raw("</tbody></table>\n");
  if (log.total() > shown) {
    m.put("<p class=\"note\">{} more failures are not listed here; <code>labyrinth replay --json</code> lists up to "
          "<code>--max-failures</code> of them.</p>\n",
          log.total() - shown);
  }
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
