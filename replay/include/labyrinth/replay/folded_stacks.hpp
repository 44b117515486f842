// Folded stacks for flame graphs (flamegraph.pl, inferno, speedscope): one line per distinct
// stack, "outermost;...;innermost COUNT". The tracing machinery (the BPF program,
// bpf_trace_run*) is left out; the allocator's frames stay, as the flame's tip, where they
// show which entry point each path took. Frames are function names without offsets, so the
// calls of one function merge; a module's frame is "function_[module]".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "labyrinth/replay/page_stats.hpp"

namespace labyrinth::traces {
class TraceReader;
}

namespace labyrinth::replay {

enum class FoldedCount : std::uint8_t { Allocations, Failures, Pages };
std::optional<FoldedCount> parse_folded_count(std::string_view name);
std::string_view to_string(FoldedCount count);

// A frame as a folded-stack frame: no offset, and no byte that the format gives a meaning
// (';' separates frames, a space the count) or that would break a line.
std::string folded_frame(std::string_view frame);

// The folded lines of a stat result, sorted, lines with a zero count left out. Events
// without a stack count under "[no_stack]", stacks the trace lost under "[stack_lost]", so
// the counts add up to the stat totals.
std::string folded_stacks(const StatResult& result, const traces::TraceReader& reader, FoldedCount count);

}  // namespace labyrinth::replay
