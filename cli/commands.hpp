// Each subcommand registers itself on the top-level app; its callback throws
// CLI::RuntimeError(exit_code) when it fails, which main() turns into the exit status.
#pragma once

#include <CLI/CLI.hpp>

namespace labyrinth::cli {

void setup_record(CLI::App& app);
void setup_stat(CLI::App& app);
void setup_replay(CLI::App& app);
void setup_import(CLI::App& app);
void setup_script(CLI::App& app);
void setup_info(CLI::App& app);
void setup_explain(CLI::App& app);
void setup_tune(CLI::App& app);
void setup_report(CLI::App& app);

// The default trace file name, like perf.data.
inline constexpr const char* kDefaultTraceFile = "labyrinth.trace";

}  // namespace labyrinth::cli
