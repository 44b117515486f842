// Placeholder: `labyrinth import` lands with its issue.
#include "commands.hpp"
#include "exit_codes.hpp"
#include "log.hpp"

namespace labyrinth::cli {

void setup_import(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] {
    error("'labyrinth import' is not built yet");
    throw CLI::RuntimeError(kExitFailure);
  });
}

}  // namespace labyrinth::cli
