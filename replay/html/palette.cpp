#include "palette.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace labyrinth::html {

namespace {

struct Rgb {
  double r = 0, g = 0, b = 0;
};

Rgb parse(const std::string& colour) {
  if (colour.size() != 7 || colour[0] != '#') return {};
  const unsigned long v = std::strtoul(colour.c_str() + 1, nullptr, 16);
  return {static_cast<double>((v >> 16) & 0xff), static_cast<double>((v >> 8) & 0xff), static_cast<double>(v & 0xff)};
}

std::string hex(const Rgb& c) {
  const auto byte = [](double v) { return static_cast<unsigned>(std::clamp(std::lround(v), 0L, 255L)); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

Rgb mix(const Rgb& a, const Rgb& b, double t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }

// Piecewise-linear ramp through `stops`, t in 0..1.
template <std::size_t N>
std::string ramp(const std::array<const char*, N>& stops, double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  const double pos = t * static_cast<double>(N - 1);
  const auto i = std::min(static_cast<std::size_t>(pos), N - 2);
  return hex(mix(parse(stops[i]), parse(stops[i + 1]), pos - static_cast<double>(i)));
}

}  // namespace

std::string migratetype_colour(unsigned type) {
  // Unmovable vermillion, Movable bluish green, Reclaimable blue, HighAtomic reddish purple,
  // CMA orange, Isolate grey.
  static constexpr std::array<const char*, 6> kTypes = {"#d55e00", "#009e73", "#0072b2", "#cc79a7", "#e69f00", "#7f7f7f"};
  return type < kTypes.size() ? kTypes[type] : "#333333";
}

std::string order_colour(unsigned order, unsigned orders) {
  static constexpr std::array<const char*, 5> kStops = {"#fde725", "#5ec962", "#21918c", "#3b528b", "#440154"};
  return ramp(kStops, orders <= 1 ? 0.0 : static_cast<double>(order) / static_cast<double>(orders - 1));
}

std::string heat_colour(double value) {
  static constexpr std::array<const char*, 5> kStops = {"#ffffff", "#fee391", "#fb6a4a", "#a50f15", "#2b0000"};
  return ramp(kStops, value);
}

std::string lighten(const std::string& colour, double amount) {
  return hex(mix(parse(colour), Rgb{255, 255, 255}, std::clamp(amount, 0.0, 1.0)));
}

}  // namespace labyrinth::html
