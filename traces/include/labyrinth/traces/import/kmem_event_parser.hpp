// Stage 2 of an import: the fields of a kmem page event ("page=0x1ecf9d pfn=0x1ecf9d order=0
// migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP") into a PageEvent.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces::import {

// Which page event a tracepoint name is (the kmem page events and vmscan's direct reclaim
// begin and end; traces::tracepoint_name); nullopt for every other event.
std::optional<EventKind> kmem_event_kind(std::string_view event_name);

// gfp_flags strings ("GFP_ATOMIC|__GFP_NOWARN|0x1000000", "none") to bits with one kernel's
// table; each distinct string is decoded once and cached (a capture holds a few dozen).
struct GfpDecodeResult {
  std::uint64_t bits = 0;
  std::uint32_t unknown_names = 0;    // names not in the table (they contribute no bits)
  std::string_view first_unknown;     // valid as long as the decoder lives
};

class GfpDecoder {
 public:
  explicit GfpDecoder(const GfpTable& table) : table_(table) {}
  const GfpDecodeResult& decode(std::string_view text);

 private:
  const GfpTable& table_;
  std::deque<std::string> keys_;
  std::unordered_map<std::string_view, GfpDecodeResult> cache_;
};

struct KmemParseResult {
  bool ok = false;
  const char* error = nullptr;             // when !ok
  std::string_view unknown_gfp_names;       // first unknown name in gfp_flags, if any (event still ok)
  std::uint32_t unknown_gfp_name_count = 0;
};

// Fills the kind-specific members of `event` (pfn, order, migratetype, gfp, extfrag and refill
// fields) from `fields`. A failed allocation ("page=(nil)" / "page=0000000000000000", printed
// with pfn=0x0) gets pfn = kFailedPfn; the pfn always comes from pfn= (ftrace's page= is a
// hashed pointer). GFP names are mapped to bits with `gfp`; unknown names are reported in the
// result and contribute no bits. Unknown fields are ignored (newer kernels add some).
KmemParseResult parse_kmem_fields(EventKind kind, std::string_view fields, GfpDecoder& gfp, PageEvent& event);

}  // namespace labyrinth::traces::import
