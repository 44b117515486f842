// Exit codes of the labyrinth command (documented in labyrinth(1)).
#pragma once

namespace labyrinth::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // the command ran and failed (I/O, bad input; explain: no report found)
inline constexpr int kExitUsage = 2;          // wrong options (CLI11 parse errors map here too)
inline constexpr int kExitBadTrace = 3;       // the trace file is corrupt, truncated or of a newer version;
                                              // explain: a failure report is cut off or lacks numbers
inline constexpr int kExitNoPermission = 4;   // missing privileges for record
inline constexpr int kExitUnsupported = 5;    // the kernel lacks something record needs;
                                              // explain: a report's kernel or page size is not modelled
inline constexpr int kExitInterrupted = 130;  // stopped by SIGINT before anything was written

}  // namespace labyrinth::cli
