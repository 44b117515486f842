// labyrinth explain's output: a verdict first, then the zone table side by side; and the JSON
// document of replay/schema/labyrinth-explain.schema.json (labyrinth-report(5)).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "labyrinth/explain/explain.hpp"

namespace labyrinth::explain {

inline constexpr int kExplainSchemaVersion = 1;

std::string explain_to_text(const std::vector<Explanation>& failures);
nlohmann::ordered_json explain_to_json(const std::vector<Explanation>& failures, const std::string& input);

}  // namespace labyrinth::explain
