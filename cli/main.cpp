// labyrinth: record, analyse and replay the Linux page allocator.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/version.hpp"
#include "log.hpp"

int main(int argc, char** argv) {
  using namespace labyrinth::cli;
  CLI::App app{"labyrinth: record the Linux page allocator and replay it into a faithful buddy model"};
  app.set_version_flag("-V,--version", std::string("labyrinth ") + LABYRINTH_VERSION);
  app.add_flag_function("-v,--verbose", [](std::int64_t count) { set_verbosity(static_cast<int>(count)); },
                        "More diagnostics (repeat for more)");
  app.require_subcommand(1);
  app.fallthrough();

  setup_record(app);
  setup_stat(app);
  setup_replay(app);
  setup_report(app);
  setup_import(app);
  setup_script(app);
  setup_info(app);
  setup_explain(app);
  setup_tune(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {  // a bug, but a message and exit 1 rather than abort()
    error("internal error: {}", e.what());
    hint("please report this with the input that caused it");
    return kExitFailure;
  }
  return kExitOk;
}
