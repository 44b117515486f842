// Why one logged allocation failure happened: the report's zones rebuilt in zonelist order, the
// watermark check of that kernel's generation applied to the printed numbers, a cause per zone
// and for the request, and advice derived from the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/allocator/watermark_history.hpp"
#include "labyrinth/explain/failure_report.hpp"

namespace labyrinth::explain {

enum class Cause : std::uint8_t { Watermark, Fragmentation, Reserve, WouldPass, Incomplete };
std::string_view to_string(Cause cause);

/// Whether the report could be explained; anything but Explained makes the command exit non-zero.
enum class Status : std::uint8_t { Explained, Incomplete, Unsupported };
std::string_view to_string(Status status);

struct ZoneVerdict {
  int node = 0;
  std::string name;
  Cause cause = Cause::Incomplete;
  std::string why;        ///< one sentence with the numbers
  std::string missing;    ///< Incomplete: what the log lacks
  // Inputs in pages (0 when missing).
  std::int64_t free_pages = 0, free_area_pages = 0, min_pages = 0, boost_pages = 0, lowmem_reserve_pages = 0,
               highatomic_pages = 0, free_cma_pages = 0, managed_pages = 0, mark_pages = 0;
  bool boost_ignored = false;  ///< order-0 atomic retry without the boost (5.9+)
  allocator::WatermarkOutcome outcome;
  std::vector<std::uint64_t> blocks;
  std::vector<std::string> types;
  std::optional<std::int64_t> max_min_free_kbytes;  ///< largest setting under which this zone passes
  bool min_proportional = true;  ///< false for HighMem/Movable (min is not a share of min_free_kbytes)
};

struct Explanation {
  std::size_t line = 0;
  std::string comm;
  Status status = Status::Explained;
  std::string problem;  ///< why not Explained
  Cause cause = Cause::Incomplete;
  std::string verdict;  ///< the short sentence printed first
  unsigned order = 0;
  std::uint64_t gfp = 0;
  std::string gfp_printed_names;
  std::vector<std::string> gfp_flags;  ///< decoded with the era's table
  std::string kernel_version;  ///< "5.15.0" or "" when unknown
  std::string kernel_release;
  std::string version_source;  ///< "log", "--kernel", "assumed"
  std::string gfp_era;
  std::string rules;           ///< "4.4-6.2 (ALLOC_HIGH/ALLOC_HARDER, highatomic)"
  std::string request;         ///< "GFP_ATOMIC-like: min/2, min/4, may use highatomic"
  std::string highest_zone;
  std::int64_t page_kb = 0;
  std::vector<ZoneVerdict> zones;
  std::vector<std::string> notes;  ///< assumptions and cross-checks, each stated
  // Advice
  std::optional<std::int64_t> max_min_free_kbytes;
  std::optional<std::int64_t> current_min_free_kbytes;  ///< sum of the lowmem zones' min (approx.)
  std::string advice;
  std::vector<std::string> callers;  ///< the frames that made the request, innermost first
};

/// `forced`: --kernel; overrides the CPU line's release.
Explanation explain_report(const FailureReport& report, const std::optional<traces::KernelVersion>& forced);

}  // namespace labyrinth::explain
