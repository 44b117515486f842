// `--openmetrics FILE` of stat and replay: the numbers of their report documents
// (stat_to_json, replay_to_json: the versioned labyrinth-report(5) that the golden tests
// hold fixed) as metrics a Prometheus server or node_exporter's textfile collector reads.
// Names start with `labyrinth_`, sizes are in bytes, indices are ratios, counters end in
// `_total`; every sample has a `source` label (stat, mirror or simulate), so files of both
// commands can sit in one textfile directory. A family both commands write has the same
// help and labels in both. man 1 labyrinth-stat / labyrinth-replay list the families.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "labyrinth/common/openmetrics.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

// `stat_doc` is stat_to_json's document; `zones_state` a snapshot of the trace (the end one,
// else the start one) for the free blocks, watermarks and indices per zone; without one
// (an import) those families are left out. The header's zones give the watermarks when the
// snapshot has none.
std::string stat_openmetrics(const nlohmann::ordered_json& stat_doc, const traces::TraceHeader& header,
                             const traces::Snapshot& zones_state, common::MetricsDialect dialect);

// `replay_doc` is replay_to_json's document; the zone state is the model's at the end.
std::string replay_openmetrics(const nlohmann::ordered_json& replay_doc, common::MetricsDialect dialect);

}  // namespace labyrinth::replay
