// JSON forms of the trace metadata: used inside the trace file (header, snapshot zones,
// footer) and by every report that echoes what was recorded. A key missing from the file
// reads as the member's default, so older traces still read; keys are written sorted.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

// Parses metadata JSON read from a file. The metadata holds integers and strings only, so a
// number with a fraction or an exponent (a damaged file) is refused here with a
// nlohmann::json::exception: converting one that is out of range to an integer, as get<>
// would, is undefined behaviour.
[[nodiscard]] nlohmann::json parse_metadata(std::string_view text);

// An array of {"mask", "name"} in table order.
void to_json(nlohmann::json& j, const GfpTable& table);
void from_json(const nlohmann::json& j, GfpTable& table);

// An unknown source reads as the first, "built-in".
NLOHMANN_JSON_SERIALIZE_ENUM(GfpTableSource, {{GfpTableSource::BuiltIn, "built-in"},
                                              {GfpTableSource::FormatFile, "format-file"},
                                              {GfpTableSource::RunningKernel, "running-kernel"},
                                              {GfpTableSource::Trace, "trace"}})

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ZoneInfo, node, name, start_pfn, spanned_pages, present_pages,
                                                managed_pages, min_pages, low_pages, high_pages, boost_pages,
                                                lowmem_reserve_pages, pcp_high, pcp_batch, pcp_count_pages, free_pages)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ZoneSnapshot, node, zone, buddyinfo, pagetype_free,
                                                pageblocks_by_type, free_pages, pcp_pages, min_pages, low_pages,
                                                high_pages, boost_pages, managed_pages, lowmem_reserve_pages)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TraceHeader, tool, tool_version, source, kernel_release, machine,
                                                hostname, page_size, max_order, pageblock_order, nr_cpus, clock,
                                                start_time_unix_ns, start_ts_ns, gfp_table, gfp_table_source,
                                                migratetype_names, zones, vm_sysctls, command, events,
                                                missing_events, options, kernel_params, node_zone_names)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CaptureLosses, ringbuf_drops, recursion_misses, lost_events,
                                                lines_skipped, lines_other_events, stacks_lost)

// By hand: events_by_kind may count fewer kinds (older traces) or more (newer ones) than
// this build, and a footer that was read is `present`.
void to_json(nlohmann::json& j, const TraceFooter& footer);
void from_json(const nlohmann::json& j, TraceFooter& footer);

}  // namespace labyrinth::traces
