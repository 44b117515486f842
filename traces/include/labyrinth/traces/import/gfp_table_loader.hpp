// Which GFP flag table an import decodes gfp_flags strings with: a format file given by the
// user, else the running kernel's tracefs mm_page_alloc format, else the built-in 6.10+ table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "labyrinth/traces/gfp_table.hpp"

namespace labyrinth::traces::import {

struct GfpTableChoice {
  GfpTable table;
  GfpTableSource source = GfpTableSource::BuiltIn;
  std::string path;                   // the format file read, "" for the built-in table
  std::vector<std::string> warnings;  // why a candidate was passed over
};

// Candidate tracefs mount points, in order: $LABYRINTH_TRACEFS if set (used alone), else
// /sys/kernel/tracing and /sys/kernel/debug/tracing.
std::vector<std::string> tracefs_candidates();

// Picks the table. A --format-file that cannot be read throws TraceError(Io) naming it; one that
// cannot be decoded (e.g. 6.10-6.13 kernels printing unresolved ___GFP_*_BIT names) falls back to
// the built-in table with a warning, because the running kernel need not be the recorded one.
GfpTableChoice choose_gfp_table(const std::optional<std::string>& format_file,
                                const std::vector<std::string>& tracefs_dirs = tracefs_candidates());

}  // namespace labyrinth::traces::import
