// Helpers for the replay tests: text traces to trace files, and a replay of one.
#pragma once

#include "temp_dir.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "labyrinth/replay/replay.hpp"
#include "labyrinth/replay/replay_report.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay::testing {

using labyrinth::testing::TempDir;

inline std::string case_path(const std::string& name) {
  return std::string(LABYRINTH_SOURCE_DIR) + "/tests/replay/cases/" + name;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Converts text to a trace file in dir and returns its path.
inline std::string trace_from_text(const TempDir& dir, const std::string& text, const std::string& name = "t.trace") {
  const std::string path = dir.file(name);
  std::istringstream in(text);
  traces::convert_text_to_trace(in, name + ".txt", path);
  return path;
}

inline ReplayResult replay_file(const std::string& path, ReplayOptions options) {
  traces::TraceReader reader(path);
  Replayer replayer(reader.header(), reader.start_snapshot(), reader.end_snapshot(), options);
  replayer.set_keyframes(reader.keyframes(), [&reader](std::size_t i, std::vector<traces::FreeRun>& runs) {
    return reader.keyframe_free_map(i, runs);
  });
  replayer.set_process_names([&reader](std::uint32_t id) { return reader.comm(id); });
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) {
    replayer.add_zone_counters(reader.take_zone_counters());
    replayer.add(chunk);
  }
  return replayer.finish(reader);
}

inline ReplayResult replay_text(const std::string& text, ReplayOptions options) {
  TempDir dir;
  return replay_file(trace_from_text(dir, text), options);
}

// The text report of a replay, as `labyrinth replay` prints it (10 rows per table).
inline std::string text_report(const ReplayResult& r) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  print_replay_text(out, r, 10);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

inline ReplayOptions mirror() {
  ReplayOptions o;
  o.mode = ReplayMode::Mirror;
  return o;
}

inline ReplayOptions simulate(bool pcp = true) {
  ReplayOptions o;
  o.mode = ReplayMode::Simulate;
  o.what_if.no_pcp = !pcp;
  return o;
}

}  // namespace labyrinth::replay::testing
