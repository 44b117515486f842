#include "labyrinth/replay/failure_class.hpp"

namespace labyrinth::replay {

std::string_view to_string(FailureClass cls) {
  switch (cls) {
    case FailureClass::Atomic: return "atomic";
    case FailureClass::Opportunistic: return "opportunistic";
    case FailureClass::Costly: return "costly";
    case FailureClass::Other: return "other";
  }
  return "other";
}

FailureClass classify(std::uint64_t gfp, unsigned order, const traces::GfpBits& bits) {
  if ((gfp & (bits.nowarn | bits.noretry)) != 0) return FailureClass::Opportunistic;
  if (is_atomic(gfp, bits)) return FailureClass::Atomic;
  if (order > kCostlyOrder) return FailureClass::Costly;
  return FailureClass::Other;
}

}  // namespace labyrinth::replay
