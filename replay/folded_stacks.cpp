#include "labyrinth/replay/folded_stacks.hpp"

#include <map>

#include "labyrinth/replay/callsite.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

std::optional<FoldedCount> parse_folded_count(std::string_view name) {
  if (name == "allocations") return FoldedCount::Allocations;
  if (name == "failures") return FoldedCount::Failures;
  if (name == "pages") return FoldedCount::Pages;
  return std::nullopt;
}

std::string_view to_string(FoldedCount count) {
  switch (count) {
    case FoldedCount::Allocations: return "allocations";
    case FoldedCount::Failures: return "failures";
    case FoldedCount::Pages: return "pages";
  }
  return "allocations";
}

std::string folded_frame(std::string_view frame) {
  const FrameName name = parse_frame(frame);
  std::string out;
  if (name.unsymbolized) {
    out = frame;
  } else {
    out = name.function.empty() ? std::string_view("[unknown]") : name.function;
    if (!name.module.empty()) {
      out += "_[";
      out += name.module;
      out += ']';
    }
  }
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == ';') c = '_';
  }
  return out;
}

namespace {

std::uint64_t counted(const Tally& t, FoldedCount count) {
  switch (count) {
    case FoldedCount::Allocations: return t.allocations;
    case FoldedCount::Failures: return t.failures;
    case FoldedCount::Pages: return t.pages;
  }
  return 0;
}

std::string fold(const traces::StackTrace& stack) {
  const std::size_t first = first_traced_code_frame(stack.frames);
  if (first >= stack.frames.size()) return "[unknown]";
  std::string line;
  for (std::size_t i = stack.frames.size(); i-- > first;) {
    if (!line.empty()) line += ';';
    line += folded_frame(stack.frames[i]);
  }
  return line;
}

}  // namespace

std::string folded_stacks(const StatResult& result, const traces::TraceReader& reader, FoldedCount count) {
  // Stacks that differ only in offsets or tracing frames fold to one line.
  std::map<std::string, std::uint64_t> lines;
  for (const auto& [id, tally] : result.by_stack_id) {
    const std::uint64_t n = counted(tally, count);
    if (n == 0) continue;
    const traces::StackTrace* stack = reader.stack(id);
    lines[stack != nullptr ? fold(*stack) : std::string("[stack_lost]")] += n;
  }
  if (const std::uint64_t n = counted(result.without_stack, count); n != 0) lines["[no_stack]"] += n;
  std::string out;
  for (const auto& [line, n] : lines) {
    out += line;
    out += ' ';
    out += std::to_string(n);
    out += '\n';
  }
  return out;
}

}  // namespace labyrinth::replay
