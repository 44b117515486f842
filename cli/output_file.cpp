#include "output_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "labyrinth/common/output_file.hpp"

namespace labyrinth::cli {

std::string write_text_output(const std::string& path, const std::string& content) {
  if (path == "-") {
    if (std::fwrite(content.data(), 1, content.size(), stdout) != content.size() || std::fflush(stdout) != 0) {
      return std::string("stdout: write failed: ") + std::strerror(errno);
    }
    return {};
  }
  try {
    common::write_file(path, content, common::OutputPolicy{.overwrite = true, .private_data = false});
  } catch (const common::OutputError& e) {
    return e.what();
  }
  return {};
}

std::string write_trace_data_output(const std::string& path, bool force, const std::string& content) {
  if (path == "-") return write_text_output(path, content);
  try {
    common::write_file(path, content, common::OutputPolicy{.overwrite = force, .private_data = true});
  } catch (const common::OutputError& e) {
    return e.what();
  }
  return {};
}

std::string write_json_output(const std::string& path, const nlohmann::ordered_json& document) {
  return write_text_output(path, document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

}  // namespace labyrinth::cli
