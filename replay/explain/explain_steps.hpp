// The steps of explain_report() (explain.cpp), in the order it takes them: the rules of the
// report's kernel and the request's rights (request_rules.cpp), each zone's watermark check
// (explain.cpp), then the request's verdict, the advice and the callers (advice.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/watermark_history.hpp"
#include "labyrinth/explain/explain.hpp"
#include "labyrinth/traces/gfp_table.hpp"

namespace labyrinth::explain::detail {

std::optional<allocator::ZoneType> zone_type_of(std::string_view name);
std::string_view zone_name(allocator::ZoneType t);
bool version_at_least(const std::optional<traces::KernelVersion>& v, unsigned major, unsigned minor);

/// Marks the report as not explained: status, cause, problem and the verdict that says why.
void give_up(Explanation& e, Status status, std::string problem);

/// What the request may do in the watermark check of its kernel's generation.
struct Rights {
  allocator::WatermarkRights wm;
  bool boost_retry = false;  ///< zone_watermark_fast's order-0 retry without the boost
  std::string text;          ///< the ALLOC_* flags, as the report prints them
};

struct RequestRules {
  std::optional<traces::KernelVersion> version;  ///< --kernel, else the log's; nullopt = unknown
  allocator::WatermarkGeneration gen{};
  traces::GfpBits bits;  ///< of the GFP era decoded with
  Rights rights;
};

/// The kernel version, the GFP era (checked against the printed flag names), the watermark
/// generation and the request's rights. Fills e's kernel_version, version_source, gfp_era,
/// rules, gfp_flags, request and notes. nullopt, after give_up(), for a kernel not modelled.
std::optional<RequestRules> request_rules(Explanation& e, const FailureReport& r,
                                          const std::optional<traces::KernelVersion>& forced);

/// From the zone verdicts (e.zones, with `states` the check's inputs, one per zone): the
/// largest vm.min_free_kbytes that passes, the verdict sentence and the advice.
void conclude(Explanation& e, const FailureReport& r, const std::vector<allocator::ZoneFreeState>& states,
              const RequestRules& rules);

/// The frames that made the request, innermost first, without the allocator's own.
void pick_callers(Explanation& e, const FailureReport& r);

}  // namespace labyrinth::explain::detail
