// The two outputs of `labyrinth replay`: a human summary and the versioned JSON document
// (labyrinth-report(5), replay/schema/labyrinth-report.schema.json).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>

#include "labyrinth/replay/replay.hpp"

namespace labyrinth::replay {

nlohmann::ordered_json replay_to_json(const ReplayResult& result, std::size_t top_n);
void print_replay_text(std::FILE* out, const ReplayResult& result, std::size_t top_n);

}  // namespace labyrinth::replay
