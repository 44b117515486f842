// JSON forms of the trace metadata: used inside the trace file (header, snapshot zones,
// footer) and by every report that echoes what was recorded.
#pragma once

#include <nlohmann/json.hpp>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

void to_json(nlohmann::json& j, const GfpTable& table);
void from_json(const nlohmann::json& j, GfpTable& table);
void to_json(nlohmann::json& j, const ZoneInfo& zone);
void from_json(const nlohmann::json& j, ZoneInfo& zone);
void to_json(nlohmann::json& j, const ZoneSnapshot& zone);
void from_json(const nlohmann::json& j, ZoneSnapshot& zone);
void to_json(nlohmann::json& j, const TraceHeader& header);
void from_json(const nlohmann::json& j, TraceHeader& header);
void to_json(nlohmann::json& j, const CaptureLosses& losses);
void from_json(const nlohmann::json& j, CaptureLosses& losses);
void to_json(nlohmann::json& j, const TraceFooter& footer);
void from_json(const nlohmann::json& j, TraceFooter& footer);

}  // namespace labyrinth::traces
