// The breakdowns of the stat pass as horizontal bar charts: pages allocated and requests
// that failed (in the trace), by order and migratetype, GFP flags, context, process and call
// site. The largest rows by pages, then rows that only fail.
#include <algorithm>
#include <unordered_set>

#include "palette.hpp"
#include "plot.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

namespace {

using replay::Row;

constexpr double kRowH = 17, kTop = 40, kLabelW = 300;
constexpr Frame kPages{kLabelW + 10, kTop, 390, 0};
constexpr Frame kFails{kLabelW + 460, kTop, 170, 0};
constexpr const char* kPagesColour = "#3b6fb6";

std::string truncated(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "\xE2\x80\xA6";
}

std::vector<const Row*> pick(const std::vector<Row>& rows, const std::vector<Row>* failure_rows, std::size_t top) {
  std::vector<const Row*> out;
  for (const Row& r : rows) {
    if (out.size() >= top) break;
    if (r.tally.pages != 0 || r.tally.failures != 0) out.push_back(&r);
  }
  if (failure_rows == nullptr) return out;
  std::unordered_set<std::string> shown;
  for (const Row* r : out) shown.insert(r->key + "\x1f" + std::to_string(r->pid));
  std::size_t added = 0;
  for (const Row& r : *failure_rows) {
    if (added >= top / 2 + 1) break;
    if (r.tally.failures == 0 || shown.contains(r.key + "\x1f" + std::to_string(r.pid))) continue;
    out.push_back(&r);
    ++added;
  }
  return out;
}

void bar_chart(Markup& m, const ReportContext& c, const std::string& id, const std::string& title,
               const std::vector<const Row*>& rows, bool with_pid) {
  m.put("<h3>{}</h3>", escape(title));
  if (rows.empty()) {
    m.raw("<p class=\"note\">Nothing to show.</p>\n");
    return;
  }
  std::uint64_t max_pages = 1, max_fails = 1;
  for (const Row* r : rows) {
    max_pages = std::max(max_pages, r->tally.pages);
    max_fails = std::max(max_fails, r->tally.failures);
  }
  Frame pages = kPages, fails = kFails;
  pages.h = fails.h = kRowH * static_cast<double>(rows.size());
  const Scale xp{0, nice_ceiling(static_cast<double>(max_pages), 4), pages.x, pages.right()};
  const Scale xf{0, nice_ceiling(static_cast<double>(max_fails), 3), fails.x, fails.right()};
  open_svg(m, 960, pages.bottom() + 42, "breakdown " + id, title);
  x_axis(m, pages, xp, "pages allocated (" + pages_as_bytes(1, c.replay.header.page_size) + " each)",
         [](double v) { return count(v); }, 4);
  x_axis(m, fails, xf, "failed requests", [](double v) { return count(v); }, 3);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = *rows[i];
    const double y = kTop + kRowH * static_cast<double>(i);
    const std::string label = truncated(with_pid ? fmt::format("{} [{}]", r.key, r.pid) : r.key, 160);
    m.put("<text class=\"row\" x=\"{}\" y=\"{}\" text-anchor=\"end\">", px(kLabelW), px(y + 12));
    m.text(truncated(label, 44));
    m.raw("<title>");
    m.text(label);
    m.raw("</title></text>");
    const double wp = xp(static_cast<double>(r.tally.pages)) - pages.x;
    m.put("<rect class=\"bar pages\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>", px(pages.x),
          px(y + 2), px(std::max(wp, r.tally.pages != 0 ? 1.0 : 0.0)), px(kRowH - 4), kPagesColour);
    m.text(fmt::format("{}: {} allocations, {}; {} frees", label, r.tally.allocations, c.pages(r.tally.pages),
                       r.tally.frees));
    m.put("</title></rect><text class=\"value\" x=\"{}\" y=\"{}\">{}</text>", px(pages.x + wp + 4), px(y + 12),
          count(static_cast<double>(r.tally.pages)));
    if (r.tally.failures != 0) {
      const double wf = xf(static_cast<double>(r.tally.failures)) - fails.x;
      m.put("<rect class=\"bar failures\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>", px(fails.x),
            px(y + 2), px(std::max(wf, 1.0)), px(kRowH - 4), kFailureColour);
      m.text(fmt::format("{}: {} failed requests ({} pages)", label, r.tally.failures, r.tally.failed_pages));
      m.put("</title></rect><text class=\"value\" x=\"{}\" y=\"{}\">{}</text>", px(fails.x + wf + 4), px(y + 12),
            count(static_cast<double>(r.tally.failures)));
    }
  }
  legend(m, pages.x, 16, 600,
         {{"pages allocated", kPagesColour, LegendItem::Shape::Box},
          {"failed requests (recorded)", kFailureColour, LegendItem::Shape::Box}});
  close_svg(m);
}

}  // namespace

void breakdown_section(Markup& m, const ReportContext& c) {
  const auto& s = c.stat;
  const std::size_t top = std::max<std::size_t>(c.options.top, 1);
  m.raw("<section id=\"breakdowns\"><h2>Who allocates</h2>\n");
  m.put("<p class=\"note\">From every allocation and failure in the trace ({} allocations, {}; {} failed requests). "
        "Hover a bar for its numbers.</p>\n",
        s.total.allocations, c.pages(s.total.pages), s.total.failures);
  // Order x migratetype: the rows with the most pages, shown in order.
  std::vector<const Row*> order_rows;
  for (const Row& r : s.by_order_migratetype) order_rows.push_back(&r);
  std::stable_sort(order_rows.begin(), order_rows.end(), [](const Row* a, const Row* b) {
    return a->tally.pages + a->tally.failures > b->tally.pages + b->tally.failures;
  });
  if (order_rows.size() > 2 * top) order_rows.resize(2 * top);
  std::stable_sort(order_rows.begin(), order_rows.end(), [](const Row* a, const Row* b) {
    return a->order != b->order ? a->order < b->order : a->migratetype < b->migratetype;
  });
  bar_chart(m, c, "order-migratetype", "By order and migratetype", order_rows, false);
  bar_chart(m, c, "gfp", "By GFP flags", pick(s.by_gfp, &s.failures_by_gfp, top), false);
  bar_chart(m, c, "context", "By execution context", pick(s.by_context, &s.failures_by_context, top), false);
  bar_chart(m, c, "process", "By process", pick(s.by_process, &s.failures_by_process, top), true);
  if (s.by_callsite.empty()) {
    m.raw("<h3>By call site</h3><p class=\"note\">The trace holds no kernel stacks (record with "
          "<code>labyrinth record -g</code>).</p>\n");
  } else {
    bar_chart(m, c, "callsite", fmt::format("By call site ({} frame{})", s.callsite_depth, s.callsite_depth == 1 ? "" : "s"),
              pick(s.by_callsite, nullptr, top), false);
  }
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
