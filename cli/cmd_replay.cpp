// Placeholder: `labyrinth replay` lands with its issue.
#include "commands.hpp"
#include "exit_codes.hpp"
#include "log.hpp"

namespace labyrinth::cli {

void setup_replay(CLI::App& app) {
  auto* cmd = app.add_subcommand("replay", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] {
    error("'labyrinth replay' is not built yet");
    throw CLI::RuntimeError(kExitFailure);
  });
}

}  // namespace labyrinth::cli
