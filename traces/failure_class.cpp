#include "labyrinth/traces/failure_class.hpp"

namespace labyrinth::traces {

std::string_view to_string(FailureClass cls) {
  switch (cls) {
    case FailureClass::Atomic: return "atomic";
    case FailureClass::Opportunistic: return "opportunistic";
    case FailureClass::Costly: return "costly";
    case FailureClass::Other: return "other";
  }
  return "other";
}

std::optional<FailureClass> failure_class_from_name(std::string_view name) {
  for (const auto cls : {FailureClass::Atomic, FailureClass::Opportunistic, FailureClass::Costly, FailureClass::Other})
    if (to_string(cls) == name) return cls;
  return std::nullopt;
}

FailureClass classify(std::uint64_t gfp, unsigned order, const GfpBits& bits) {
  if ((gfp & (bits.nowarn | bits.noretry)) != 0) return FailureClass::Opportunistic;
  if (is_atomic(gfp, bits)) return FailureClass::Atomic;
  if (order > kCostlyOrder) return FailureClass::Costly;
  return FailureClass::Other;
}

}  // namespace labyrinth::traces
