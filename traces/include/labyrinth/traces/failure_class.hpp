// Which kind of caller an allocation comes from, so users do not chase benign failures.
// Here, below replay and the recorder, because both need it: replay to explain failures,
// the flight recorder to decide which failures trigger a dump.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "labyrinth/traces/gfp_table.hpp"

namespace labyrinth::traces {

enum class FailureClass : std::uint8_t {
  Atomic,         // cannot direct-reclaim and has no fallback: GFP_ATOMIC, GFP_NOWAIT
  Opportunistic,  // __GFP_NOWARN or __GFP_NORETRY: the caller has a fallback (skb frags, THP)
  Costly,         // order > PAGE_ALLOC_COSTLY_ORDER (3) with reclaim allowed
  Other,          // may reclaim and was expected to succeed: a real failure
};
inline constexpr int kFailureClassCount = 4;
inline constexpr unsigned kCostlyOrder = 3;  // include/linux/mmzone.h:PAGE_ALLOC_COSTLY_ORDER

std::string_view to_string(FailureClass cls);
// "atomic", "opportunistic", "costly", "other"; nullopt for anything else.
std::optional<FailureClass> failure_class_from_name(std::string_view name);

// Opportunistic wins over atomic: a NOWARN atomic caller expects to fail sometimes.
FailureClass classify(std::uint64_t gfp, unsigned order, const GfpBits& bits);

// Atomic in the kernel's sense (mm/page_alloc.c:gfp_to_alloc_flags): no direct reclaim.
inline bool is_atomic(std::uint64_t gfp, const GfpBits& bits) {
  return bits.direct_reclaim != 0 && (gfp & bits.direct_reclaim) == 0;
}

}  // namespace labyrinth::traces
