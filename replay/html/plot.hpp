// The parts every chart shares: linear scales with round ticks, axes with units, legends,
// and the SVG element around a chart. Not a public header.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "markup.hpp"

namespace labyrinth::html {

// The plot area of a chart, in px from the SVG's top left.
struct Frame {
  double x = 0, y = 0, w = 0, h = 0;
  [[nodiscard]] double right() const { return x + w; }
  [[nodiscard]] double bottom() const { return y + h; }
};

// Maps [d0, d1] onto [r0, r1]; a degenerate domain maps to r0.
struct Scale {
  double d0 = 0, d1 = 1, r0 = 0, r1 = 1;
  [[nodiscard]] double operator()(double v) const;
};

// Round tick values covering [lo, hi], about `target` of them (1, 2, 5 times a power of ten).
std::vector<double> nice_ticks(double lo, double hi, int target);
// hi rounded up to the last tick (so that an axis ends on a labelled value).
double nice_ceiling(double hi, int target);

using TickLabel = std::function<std::string(double)>;

// Horizontal axis under the frame with ticks, grid lines and a label naming the unit.
void x_axis(Markup& m, const Frame& f, const Scale& s, std::string_view label, const TickLabel& tick, int target = 8);
// Vertical axis left of the frame.
void y_axis(Markup& m, const Frame& f, const Scale& s, std::string_view label, const TickLabel& tick, int target = 5);

struct LegendItem {
  enum class Shape { Box, Line, Dashed, Triangle, OpenTriangle, Circle, None };  // None: a note, no symbol
  std::string label;
  std::string colour;
  Shape shape = Shape::Box;
};
// One row of legend items from (x, y), wrapping at max_width.
void legend(Markup& m, double x, double y, double max_width, const std::vector<LegendItem>& items);

// <svg> with a title (read by screen readers and shown on hover) and a class for the tests.
void open_svg(Markup& m, double w, double h, std::string_view css_class, std::string_view title);
void close_svg(Markup& m);

// Seconds for a time axis: "0", "1.5", "120".
std::string seconds_label(double s);

}  // namespace labyrinth::html
