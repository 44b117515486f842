// `labyrinth explain [LOG|-]`: why the allocation failures in a kernel log happened, from
// warn_alloc()'s report and show_mem()'s numbers, with the rules of that report's kernel.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/explain/explain_output.hpp"
#include "labyrinth/explain/kernel_log.hpp"
#include "log.hpp"
#include "output_file.hpp"

namespace labyrinth::cli {
namespace {

struct ExplainOptions {
  std::string input = "-";
  std::string json_path;
  std::string kernel;
  bool quiet = false;
};

// Kernel logs are kilobytes to megabytes; anything past this is not one.
constexpr std::size_t kMaxInputBytes = std::size_t{256} << 20;

bool read_input(const std::string& path, std::string& text) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error("{}: {}", path, std::strerror(errno));
    return false;
  }
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxInputBytes) {
      error("{}: more than 256 MiB; cut the log around the failure reports", path);
      if (f != stdin) std::fclose(f);
      return false;
    }
  }
  const bool failed = std::ferror(f) != 0;
  if (f != stdin) std::fclose(f);
  if (failed) {
    error("{}: read error", path);
    return false;
  }
  return true;
}

int run_explain(const ExplainOptions& options) {
  std::optional<traces::KernelVersion> forced;
  if (!options.kernel.empty()) {
    forced = traces::parse_kernel_version(options.kernel);
    if (!forced) {
      error("--kernel {}: not a kernel release (expected e.g. 5.15 or 6.1.90-android14)", options.kernel);
      return kExitUsage;
    }
  }
  if (options.input == "-" && ::isatty(STDIN_FILENO) != 0) {
    hint("reading the kernel log from the terminal; pipe it in (dmesg | labyrinth explain) or name a file");
  }
  std::string text;
  if (!read_input(options.input, text)) return kExitFailure;

  const auto lines = explain::normalise_kernel_log(text);
  const auto reports = explain::parse_failure_reports(lines);
  const std::string name = options.input == "-" ? "<stdin>" : options.input;
  if (reports.empty()) {
    error("{}: no 'page allocation failure' report found", name);
    hint("explain reads the warn_alloc() report of dmesg, journalctl -k or a serial console; a failure with "
         "__GFP_NOWARN prints none");
    return kExitFailure;
  }
  std::vector<explain::Explanation> results;
  results.reserve(reports.size());
  for (const auto& r : reports) results.push_back(explain::explain_report(r, forced));

  const bool json_to_stdout = options.json_path == "-";
  if (!options.quiet && !json_to_stdout) std::fputs(explain::explain_to_text(results).c_str(), stdout);
  if (!options.json_path.empty()) {
    if (const std::string err = write_json_output(options.json_path, explain::explain_to_json(results, name));
        !err.empty()) {
      error("{}", err);
      return kExitFailure;
    }
  }
  // Every report was explained or said why not; the exit status names the worst of them.
  int rc = kExitOk;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& e = results[i];
    if (e.status == explain::Status::Explained) continue;
    error("{}: report {} (line {}): {}", name, i + 1, e.line, e.problem);
    const int code = e.status == explain::Status::Unsupported ? kExitUnsupported : kExitBadTrace;
    if (rc == kExitOk || code == kExitUnsupported) rc = code;
  }
  return rc;
}

}  // namespace

void setup_explain(CLI::App& app) {
  auto options = std::make_shared<ExplainOptions>();
  auto* cmd = app.add_subcommand("explain", "Why the page allocation failures in a kernel log happened");
  cmd->add_option("log", options->input, "Kernel log: dmesg, journalctl -k, syslog or console text ('-' = stdin)")
      ->capture_default_str();
  cmd->add_option("--json", options->json_path, "Also write the JSON report to FILE ('-' for stdout, text suppressed)");
  cmd->add_option("--kernel", options->kernel, "Kernel release to apply when the log has none (or a wrong one)");
  cmd->add_flag("-q,--quiet", options->quiet, "No text output");
  cmd->callback([options] {
    const int rc = run_explain(*options);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
  });
}

}  // namespace labyrinth::cli
