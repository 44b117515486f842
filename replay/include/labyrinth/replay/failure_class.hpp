// The caller classes of failed allocations live in traces/ (the recorder needs them too);
// replay uses them under its own names.
#pragma once

#include "labyrinth/traces/failure_class.hpp"

namespace labyrinth::replay {

using traces::classify;
using traces::FailureClass;
using traces::is_atomic;
using traces::kCostlyOrder;
using traces::kFailureClassCount;
using traces::to_string;

}  // namespace labyrinth::replay
