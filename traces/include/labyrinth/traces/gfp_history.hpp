// GFP flag tables of older kernels, for decoding a mask printed by a kernel we never ran
// (labyrinth explain reads `mode:0x...` from logs of 2.6 to 7.x). The bit values moved four
// times (docs/kernel-rules.md §2.2): each era below has its own table.
#pragma once

#include <optional>
#include <string_view>

#include "labyrinth/traces/gfp_table.hpp"

namespace labyrinth::traces {

// A kernel release as printed in logs ("5.15.0-91-generic" -> 5.15.0).
struct KernelVersion {
  unsigned major = 0;
  unsigned minor = 0;
  unsigned patch = 0;
  [[nodiscard]] unsigned code() const { return major * 65536 + minor * 256 + (patch > 255 ? 255 : patch); }
  friend auto operator<=>(const KernelVersion& a, const KernelVersion& b) { return a.code() <=> b.code(); }
  friend bool operator==(const KernelVersion& a, const KernelVersion& b) { return a.code() == b.code(); }
};

// Parses "5.15.0-91-generic", "2.6.32-5-amd64", "6.1.90-android14", "4.9" (nullopt otherwise).
std::optional<KernelVersion> parse_kernel_version(std::string_view text);

// The GFP layouts, named by the first release that printed them.
enum class GfpEra : std::uint8_t {
  Legacy,     // 2.6.24 .. 4.3: __GFP_WAIT 0x10, GFP_ATOMIC = __GFP_HIGH = 0x20
  V4_4,       // 4.4 .. 4.9: __GFP_ATOMIC 0x80000, reclaim bits 0x400000/0x2000000
  V4_10,      // 4.10 .. 4.17: __GFP_OTHER_NODE gone, GFP_ATOMIC = 0x1080020
  V4_18,      // 4.18 .. 5.0: stranded bits reused, GFP_ATOMIC = 0x480020
  V5_1,       // 5.1 .. 6.2: "mm: shuffle GFP_* flags", GFP_ATOMIC = 0xa20
  V6_3,       // 6.3 and later: __GFP_ATOMIC removed, GFP_ATOMIC = 0x820
};
std::string_view to_string(GfpEra era);
// Also accepted: every era, oldest first (to test a mask's printed names against each).
inline constexpr GfpEra kAllGfpEras[] = {GfpEra::Legacy, GfpEra::V4_4, GfpEra::V4_10,
                                         GfpEra::V4_18,  GfpEra::V5_1, GfpEra::V6_3};

GfpEra gfp_era_of(const KernelVersion& version);
// The era's table, composites first in the kernel's print order. Config-dependent high bits
// (NOLOCKDEP, SKIP_KASAN, ...) are left out: they print as leftover hex.
GfpTable gfp_table_of(GfpEra era);

}  // namespace labyrinth::traces
