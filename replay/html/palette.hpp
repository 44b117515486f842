// The report's colours: one per migratetype (as the memory maps and breakdowns show them),
// a sequential ramp for orders, a heat ramp for indices, and shading by how free a block is.
// Colour-blind safe where it matters (Okabe-Ito for the migratetypes). Not a public header.
#pragma once

#include <string>

namespace labyrinth::html {

// #rrggbb for migratetype 0..5 (Unmovable, Movable, Reclaimable, HighAtomic, CMA, Isolate).
std::string migratetype_colour(unsigned type);
// Order o of `orders` along a ramp from light (order 0) to dark (the highest order).
std::string order_colour(unsigned order, unsigned orders);
// 0..1 to a white-yellow-red-black heat colour.
std::string heat_colour(double value);
// `colour` lightened toward white by `amount` (0: as is, 1: white).
std::string lighten(const std::string& colour, double amount);

inline constexpr const char* kFailureColour = "#c0392b";
inline constexpr const char* kPredictedColour = "#e67e22";
inline constexpr const char* kHoleColour = "#f2f2f2";

}  // namespace labyrinth::html
