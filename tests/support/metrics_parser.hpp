// Parses a metrics file with python3-prometheus-client (tests/support/parse_metrics.py): a
// real parser, not ours. Without the package the test is skipped, unless
// LABYRINTH_REQUIRE_METRICS_PARSER=1 (CI) makes that a failure. promtool, when there
// (/usr/bin/promtool or $PROMTOOL), also checks the Prometheus text dialect.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labyrinth::testing {

struct ParsedMetrics {
  bool available = false;  // the parser was there
  int exit_code = 0;       // 0 when the file parsed
  nlohmann::json families = nlohmann::json::array();
  std::string error;
};

inline ParsedMetrics parse_metrics_file(const std::string& path) {
  ParsedMetrics parsed;
  // Debian's interpreter first: the package installs there, whatever python3 is first in PATH.
  const std::string python = ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  const std::string cmd = python + " '" LABYRINTH_SOURCE_DIR "/tests/support/parse_metrics.py' '" + path + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return parsed;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77) return parsed;
  parsed.available = true;
  parsed.exit_code = code;
  if (code == 0) parsed.families = nlohmann::json::parse(out);
  else parsed.error = out;
  return parsed;
}

// Skips the current test when the parser is missing and CI does not require it.
#define LABYRINTH_REQUIRE_PARSED(parsed)                                                        \
  do {                                                                                          \
    if (!(parsed).available) {                                                                  \
      const char* req = std::getenv("LABYRINTH_REQUIRE_METRICS_PARSER");                        \
      ASSERT_FALSE(req != nullptr && std::string(req) == "1") << "python3-prometheus-client is not installed"; \
      GTEST_SKIP() << "python3-prometheus-client is not installed";                             \
    }                                                                                           \
    ASSERT_EQ((parsed).exit_code, 0) << (parsed).error;                                         \
  } while (0)

// promtool's path, or "" when it is not installed.
inline std::string promtool_path() {
  const char* env = std::getenv("PROMTOOL");
  const std::string p = env != nullptr ? env : "/usr/bin/promtool";
  return ::access(p.c_str(), X_OK) == 0 ? p : "";
}

// The samples of one family whose labels include all of `match`.
inline std::vector<nlohmann::json> samples_of(const nlohmann::json& families, const std::string& sample_name,
                                              const nlohmann::json& match = nlohmann::json::object()) {
  std::vector<nlohmann::json> found;
  for (const auto& fam : families)
    for (const auto& s : fam["samples"]) {
      if (s["name"] != sample_name) continue;
      bool ok = true;
      for (const auto& [k, v] : match.items()) ok = ok && s["labels"].contains(k) && s["labels"][k] == v;
      if (ok) found.push_back(s);
    }
  return found;
}

}  // namespace labyrinth::testing
