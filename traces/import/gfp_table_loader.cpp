#include "labyrinth/traces/import/gfp_table_loader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth::traces::import {

std::vector<std::string> tracefs_candidates() {
  if (const char* env = std::getenv("LABYRINTH_TRACEFS"); env != nullptr) return {std::string(env)};
  return {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
}

GfpTableChoice choose_gfp_table(const std::optional<std::string>& format_file, const std::vector<std::string>& tracefs_dirs) {
  GfpTableChoice choice;
  if (format_file) {
    const int fd = ::open(format_file->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw TraceError(TraceError::Kind::Io, *format_file + ": cannot read the format file: " + std::strerror(errno));
    }
    ::close(fd);
    auto table = GfpTable::from_format_file(*format_file);
    if (table) {
      choice.table = std::move(*table);
      choice.source = GfpTableSource::FormatFile;
      choice.path = *format_file;
      return choice;
    }
    choice.warnings.push_back(table.why() + "; falling back to the built-in table");
    choice.table = GfpTable::builtin_linux_6_10();
    choice.source = GfpTableSource::BuiltIn;
    return choice;
  }
  for (const std::string& dir : tracefs_dirs) {
    const std::string path = dir + "/events/kmem/mm_page_alloc/format";
    if (::access(path.c_str(), R_OK) != 0) continue;
    auto table = GfpTable::from_format_file(path);
    if (table) {
      choice.table = std::move(*table);
      choice.source = GfpTableSource::RunningKernel;
      choice.path = path;
      return choice;
    }
    choice.warnings.push_back(table.why());
  }
  choice.table = GfpTable::builtin_linux_6_10();
  choice.source = GfpTableSource::BuiltIn;
  return choice;
}

}  // namespace labyrinth::traces::import
