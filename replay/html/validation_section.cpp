// Validation of a mirror replay: the model's end state against the kernel's end snapshot
// per zone and order, and the same check at every keyframe as a chart over time with the
// worst keyframes in a table.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "palette.hpp"
#include "plot.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

namespace {

void end_state_tables(Markup& m, const ReportContext& c) {
  const replay::Validation& v = c.replay.validation;
  m.put("<p class=\"{}\">End state: the model has {} free pages, the kernel {} ({:.3f}% apart; within {}%: {}); "
        "orders with at least {} blocks within {}%: {}.</p>\n",
        v.passed ? "ok" : "warn", v.model_free_pages, v.kernel_free_pages, 100 * v.free_relative_error,
        100 * replay::kFreePagesTolerance, v.free_within ? "yes" : "no", replay::kOrderMinBlocks,
        100 * replay::kOrderTolerance, v.orders_within ? "yes" : "no");
  unsigned orders = 0;
  for (const auto& z : v.zones) orders = std::max<unsigned>(orders, static_cast<unsigned>(z.orders.size()));
  m.raw("<table class=\"validation\"><thead><tr><th>zone</th><th>free pages model / kernel</th><th>error</th>");
  for (unsigned o = 0; o < orders; ++o) m.put("<th>order {}</th>", o);
  m.raw("</tr></thead><tbody>\n");
  for (const auto& z : v.zones) {
    m.raw("<tr><td>");
    m.text(fmt::format("node {} {}", z.node, z.zone));
    m.put("</td><td>{} / {}</td><td class=\"{}\">{:.3f}%</td>", z.model_free_pages, z.kernel_free_pages,
          z.free_within ? "ok" : "warn", 100 * z.free_relative_error);
    for (const auto& o : z.orders) {
      m.put("<td class=\"{}\" title=\"model / kernel blocks\">{} / {}{}</td>", !o.checked ? "unchecked" : o.within ? "ok" : "warn",
            o.model_blocks, o.kernel_blocks, o.checked ? fmt::format(" ({:.1f}%)", 100 * o.relative_error) : "");
    }
    m.raw("</tr>\n");
  }
  m.raw("</tbody></table>\n");
  if (v.free_map_pages_compared != 0) {
    m.put("<p class=\"note\">Page by page against the kernel's free-page map: {} pages free in both, {} free only in "
          "the model, {} free only in the kernel.</p>\n",
          v.free_both_pages, v.free_only_model_pages, v.free_only_kernel_pages);
  }
  const replay::KernelCounterCheck& k = v.kernel_counters;
  if (k.available) {
    m.put("<table class=\"kernel-counters\"><thead><tr><th>over {:.3f} s</th><th>the kernel counted (/proc/vmstat)</th>"
          "<th>the trace holds</th><th>with no event</th></tr></thead><tbody>\n"
          "<tr><td>pages allocated</td><td>{}</td><td>{}</td><td>{}</td></tr>\n"
          "<tr><td>pages freed</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</tbody></table>\n",
          static_cast<double>(k.ns) / 1e9, k.kernel_allocated_pages, k.trace_allocated_pages,
          k.untraced_allocated_pages(), k.kernel_freed_pages, k.trace_freed_pages, k.untraced_freed_pages());
    m.put("<p class=\"note\">Freed pages with no event are the recorder's blind spots, unannounced losses and frees no "
          "tracepoint reports. pgalloc also counts alloc_pages_bulk's pages, which have no event, and not the blocks "
          "direct compaction captured for its caller (negative: the trace holds more). Compaction over the same span: "
          "{} direct stalls ({} succeeded, {} failed), {} pages isolated.</p>\n",
          k.compact_stall, k.compact_success, k.compact_fail, k.compact_isolated);
  }
}

void keyframe_chart(Markup& m, const ReportContext& c) {
  const auto& k = c.replay.keyframes;
  double top = 0.02;
  for (const auto& kc : k) top = std::max({top, kc.free_relative_error, kc.worst_order_error});
  top = std::min(top, 10.0);  // a few wild keyframes must not flatten the rest
  const Frame f{72, 34, 860, 150};
  const double first = c.seconds(k.front().ts_ns), last = std::max(c.seconds(k.back().ts_ns), first + 1e-3);
  const Scale x{std::min(first, 0.0), last, f.x, f.right()};
  const Scale y{0, nice_ceiling(top * 100 * 1.05, 5), f.bottom(), f.y};
  open_svg(m, 960, f.bottom() + 42, "keyframes", "Validation at every keyframe over time");
  y_axis(m, f, y, "error (%)", [](double v) { return fmt::format("{:g}", v); });
  x_axis(m, f, x, "time since the start of the trace (s)", seconds_label);
  const std::size_t step = std::max<std::size_t>(1, k.size() / c.options.timeline_columns);
  std::string free_pts, order_pts;
  for (std::size_t i = 0; i < k.size(); i += step) {
    const double xv = x(c.seconds(k[i].ts_ns));
    free_pts += px(xv) + "," + px(y(std::min(k[i].free_relative_error, top) * 100)) + " ";
    order_pts += px(xv) + "," + px(y(std::min(k[i].worst_order_error, top) * 100)) + " ";
  }
  m.put("<polyline class=\"series kf-free\" fill=\"none\" stroke=\"#1f3a93\" stroke-width=\"1.6\" points=\"{}\"/>", free_pts);
  m.put("<polyline class=\"series kf-order\" fill=\"none\" stroke=\"#e67e22\" stroke-width=\"1.6\" points=\"{}\"/>",
        order_pts);
  std::size_t resyncs = 0;
  for (const auto& kc : k) {
    if (!kc.resynced || resyncs++ >= c.options.failure_markers) continue;
    m.put("<path class=\"resync\" d=\"M{} {}l5 -9l5 9z\" fill=\"{}\"><title>{:.3f} s: resynchronised from the keyframe's "
          "free-page map</title></path>",
          px(x(c.seconds(kc.ts_ns)) - 5), px(f.bottom()), kFailureColour, c.seconds(kc.ts_ns));
  }
  legend(m, f.x, 16, f.w,
         {{"free pages error", "#1f3a93", LegendItem::Shape::Line},
          {"worst order error (orders with >= 100 blocks)", "#e67e22", LegendItem::Shape::Line},
          {"resynchronised", kFailureColour, LegendItem::Shape::Triangle}});
  close_svg(m);
}

void keyframe_table(Markup& m, const ReportContext& c) {
  std::vector<const replay::KeyframeCheck*> worst;
  for (const auto& kc : c.replay.keyframes) worst.push_back(&kc);
  std::stable_sort(worst.begin(), worst.end(), [](const auto* a, const auto* b) {
    return std::max(a->free_relative_error, a->worst_order_error) > std::max(b->free_relative_error, b->worst_order_error);
  });
  if (worst.size() > c.options.keyframes_listed) worst.resize(c.options.keyframes_listed);
  std::sort(worst.begin(), worst.end(), [](const auto* a, const auto* b) { return a->ts_ns < b->ts_ns; });
  m.put("<table class=\"keyframes\"><caption>{} keyframes{}</caption><thead><tr><th>time (s)</th><th>free pages model / "
        "kernel</th><th>error</th><th>worst order</th><th>passed</th><th>resynchronised</th><th>pages corrected</th>"
        "</tr></thead><tbody>\n",
        c.replay.keyframes.size(), worst.size() < c.replay.keyframes.size() ? fmt::format(", the {} worst", worst.size()) : "");
  for (const auto* kc : worst) {
    m.put("<tr><td>{:.3f}</td><td>{} / {}</td><td>{:.3f}%</td><td>", c.seconds(kc->ts_ns), kc->model_free_pages,
          kc->kernel_free_pages, 100 * kc->free_relative_error);
    m.text(kc->worst_order_zone.empty() ? std::string("-")
                                        : fmt::format("{:.2f}% ({} order {})", 100 * kc->worst_order_error,
                                                      kc->worst_order_zone, kc->worst_order));
    m.put("</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>\n", kc->passed ? "ok" : "warn",
          kc->passed ? "yes" : "no", kc->resynced ? "yes" : "",
          kc->corrected_pages != 0 ? std::to_string(kc->corrected_pages) : std::string());
  }
  m.raw("</tbody></table>\n");
}

}  // namespace

void validation_section(Markup& m, const ReportContext& c) {
  const auto& r = c.replay;
  m.raw("<section id=\"validation\"><h2>Validation against the kernel</h2>\n");
  if (r.validation.available) {
    end_state_tables(m, c);
  } else {
    m.raw("<p>End state not validated: ");
    m.text(r.validation.reason.empty() ? std::string("no end snapshot") : r.validation.reason);
    m.raw(".</p>\n");
  }
  if (!r.keyframes.empty()) {
    m.put("<h3>At every keyframe</h3>\n");
    keyframe_chart(m, c);
    keyframe_table(m, c);
  } else if (r.mode == replay::ReplayMode::Mirror) {
    m.raw("<p class=\"note\">The trace has no keyframes inside the replayed span.</p>\n");
  }
  if (r.invariant_violation) {
    m.raw("<p class=\"warn\">The model's consistency check failed: ");
    m.text(*r.invariant_violation);
    m.raw("</p>\n");
  }
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
