#include "plot.hpp"

#include <algorithm>
#include <cmath>

namespace labyrinth::html {

double Scale::operator()(double v) const {
  if (d1 == d0) return r0;
  return r0 + (v - d0) * (r1 - r0) / (d1 - d0);
}

namespace {

double tick_step(double lo, double hi, int target) {
  const double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span)) return 1;
  const double raw = span / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double nice = r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10;
  return nice * mag;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) {
    ticks.push_back(lo);
    return ticks;
  }
  const double step = tick_step(lo, hi, target);
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && ticks.size() < 50; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

double nice_ceiling(double hi, int target) {
  if (!(hi > 0)) return 1;
  const double step = tick_step(0, hi, target);
  return std::ceil(hi / step - 1e-9) * step;
}

void x_axis(Markup& m, const Frame& f, const Scale& s, std::string_view label, const TickLabel& tick, int target) {
  m.put("<g class=\"axis x\"><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", px(f.x), px(f.bottom()), px(f.right()),
        px(f.bottom()));
  for (const double t : nice_ticks(std::min(s.d0, s.d1), std::max(s.d0, s.d1), target)) {
    const double x = s(t);
    m.put("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/><text x=\"{0}\" y=\"{3}\" "
          "text-anchor=\"middle\">{4}</text>",
          px(x), px(f.y), px(f.bottom() + 4), px(f.bottom() + 15), escape(tick(t)));
  }
  m.put("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">", px(f.x + f.w / 2), px(f.bottom() + 30));
  m.text(label);
  m.raw("</text></g>");
}

void y_axis(Markup& m, const Frame& f, const Scale& s, std::string_view label, const TickLabel& tick, int target) {
  m.put("<g class=\"axis y\"><line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", px(f.x), px(f.y), px(f.bottom()));
  for (const double t : nice_ticks(std::min(s.d0, s.d1), std::max(s.d0, s.d1), target)) {
    const double y = s(t);
    m.put("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/><text x=\"{3}\" y=\"{4}\" "
          "text-anchor=\"end\">{5}</text>",
          px(f.x - 4), px(y), px(f.right()), px(f.x - 6), px(y + 4), escape(tick(t)));
  }
  m.put("<text class=\"label\" transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">", px(f.x - 48),
        px(f.y + f.h / 2));
  m.text(label);
  m.raw("</text></g>");
}

void legend(Markup& m, double x, double y, double max_width, const std::vector<LegendItem>& items) {
  m.raw("<g class=\"legend\">");
  double cx = x, cy = y;
  for (const auto& item : items) {
    const double width = 20 + 6.2 * static_cast<double>(item.label.size()) + 10;
    if (cx > x && cx + width > x + max_width) {
      cx = x;
      cy += 16;
    }
    const std::string colour = escape(item.colour);
    switch (item.shape) {
      case LegendItem::Shape::Box:
        m.put("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{}\" stroke=\"#999\" stroke-width=\"0.5\"/>", px(cx),
              px(cy - 9), colour);
        break;
      case LegendItem::Shape::Line:
      case LegendItem::Shape::Dashed:
        m.put("<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"2\"{4}/>", px(cx),
              px(cx + 14), px(cy - 4), colour, item.shape == LegendItem::Shape::Dashed ? " stroke-dasharray=\"4 2\"" : "");
        break;
      case LegendItem::Shape::Triangle:
        m.put("<path d=\"M{} {}l5 -9l5 9z\" fill=\"{}\"/>", px(cx + 2), px(cy), colour);
        break;
      case LegendItem::Shape::OpenTriangle:
        m.put("<path d=\"M{} {}l5 -9l5 9z\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>", px(cx + 2), px(cy), colour);
        break;
      case LegendItem::Shape::None:
        break;
      case LegendItem::Shape::Circle:
        m.put("<circle cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{}\"/>", px(cx + 7), px(cy - 4), colour);
        break;
    }
    m.put("<text x=\"{}\" y=\"{}\">", px(item.shape == LegendItem::Shape::None ? cx : cx + 20), px(cy));
    m.text(item.label);
    m.raw("</text>");
    cx += width;
  }
  m.raw("</g>");
}

void open_svg(Markup& m, double w, double h, std::string_view css_class, std::string_view title) {
  m.put("<svg class=\"chart {}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
        "role=\"img\"><title>",
        escape(css_class), px(w), px(h), px(w), px(h));
  m.text(title);
  m.raw("</title>");
}

void close_svg(Markup& m) { m.raw("</svg>\n"); }

std::string seconds_label(double s) {
  if (std::fabs(s) >= 100 || s == std::floor(s)) return fmt::format("{}", static_cast<long long>(std::round(s)));
  return fmt::format("{:.3g}", s);
}

}  // namespace labyrinth::html
