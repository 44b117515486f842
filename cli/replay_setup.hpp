// What `labyrinth replay` and `labyrinth report` share before the events flow: the mode and
// what-if options and their checks, the model's memory estimate, the zones of a trace that
// has none, and the progress bar.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "labyrinth/replay/replay.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::cli {

// The what-if settings every simulate run takes; tune searches the two watermark settings itself.
struct WhatIfOptions {
  std::optional<std::uint64_t> watermark_boost_factor;
  bool no_highatomic = false;
  bool no_pcp = false;
  bool compaction = false;
  bool model_placement = false;
  bool pcp_decay = false;
  bool pcp_reclaim_clamp = false;
  bool follow_pcp = false;
  std::string balloon;
  std::optional<std::uint64_t> kswapd_rate;  // MiB of trace time per second
};

// `prefix` starts each option's help ("simulate: " for replay).
void add_what_if_options(CLI::App* cmd, WhatIfOptions& o, const std::string& prefix);

// Copies the options into `w`. Prints the error and returns kExitUsage on a bad size, else kExitOk.
int fill_what_if(const WhatIfOptions& o, replay::WhatIf& w);

struct ReplayModeOptions : WhatIfOptions {
  std::string mode;  // "" = decide from the trace
  std::optional<std::uint64_t> min_free_kbytes;
  std::optional<std::uint64_t> watermark_scale_factor;
};

// --mode and the what-if options.
void add_replay_mode_options(CLI::App* cmd, ReplayModeOptions& o);

// Sets options.mode and options.what_if: mirror when the trace has a start free-page map and
// no what-if option is given. Prints the error and returns kExitUsage on a bad combination,
// else kExitOk.
int configure_replay_mode(const ReplayModeOptions& o, const traces::TraceReader& reader, bool quiet,
                          replay::ReplayOptions& options);

// A trace without zones (an import of perf script or ftrace text) replays into this machine's
// zones, from /proc/zoneinfo. Prints the error and returns kExitFailure when there are none.
int fill_missing_zones(traces::TraceHeader& header, const std::string& input, bool quiet);

// Why replaying the trace (these zones, its start snapshot and its events) would not fit in
// this machine's memory, or "".
std::string model_too_large(const traces::TraceHeader& header, const traces::TraceReader& reader, bool simulate);

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const traces::TraceReader& reader, std::uint64_t events);
  void done();

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace labyrinth::cli
