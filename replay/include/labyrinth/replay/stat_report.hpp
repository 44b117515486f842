// The two outputs of `labyrinth stat`: a human summary and the versioned JSON document
// (documented in labyrinth-report(5)).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>

#include "labyrinth/replay/page_stats.hpp"

namespace labyrinth::replay {

nlohmann::ordered_json stat_to_json(const StatResult& result);
void print_stat_text(std::FILE* out, const StatResult& result);

}  // namespace labyrinth::replay
