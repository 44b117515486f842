// GFP flag names of one kernel: bits <-> "GFP_KERNEL|__GFP_COMP" strings.
// Bit values move between kernel versions and configs, so a trace carries its own table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/common/outcome.hpp"

namespace labyrinth::traces {

struct GfpFlagName {
  std::uint64_t mask = 0;
  std::string name;
  friend bool operator==(const GfpFlagName&, const GfpFlagName&) = default;
};

// Where a table came from, so tools can say which one they used.
enum class GfpTableSource : std::uint8_t { FormatFile, RunningKernel, BuiltIn, Trace };
std::string_view to_string(GfpTableSource source);

class GfpTable {
 public:
  GfpTable() = default;
  // Entries in the kernel's print order (composites first, then single bits).
  explicit GfpTable(std::vector<GfpFlagName> entries);

  // The table of Linux 6.10+ without KASAN_HW_TAGS and LOCKDEP (this machine's 6.18 layout).
  static GfpTable builtin_linux_6_10();
  // Parse the `__print_flags(REC->gfp_flags, "|", {...})` list of a tracepoint format file.
  // No usable table is an expected outcome (callers fall back to a built-in table and show
  // why()): the file's reason names the file.
  static common::Outcome<GfpTable> from_format_text(std::string_view format_text);
  static common::Outcome<GfpTable> from_format_file(const std::string& path);

  // Render bits the way the kernel's trace_print_flags_seq does: greedy in table order,
  // leftovers as hex, 0 as "none".
  [[nodiscard]] std::string format(std::uint64_t gfp) const;
  // Map a rendered string back to bits; nullopt if a name is unknown.
  [[nodiscard]] std::optional<std::uint64_t> parse(std::string_view text) const;
  // Bit value of a single flag name such as "__GFP_HIGH"; 0 if absent.
  [[nodiscard]] std::uint64_t bits_of(std::string_view name) const;

  [[nodiscard]] const std::vector<GfpFlagName>& entries() const { return entries_; }
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  friend bool operator==(const GfpTable&, const GfpTable&) = default;

 private:
  std::vector<GfpFlagName> entries_;
};

// The few bits the analysis needs, looked up by name in a table (0 when the kernel lacks them).
struct GfpBits {
  std::uint64_t high = 0;            // __GFP_HIGH
  std::uint64_t direct_reclaim = 0;  // __GFP_DIRECT_RECLAIM
  std::uint64_t kswapd_reclaim = 0;  // __GFP_KSWAPD_RECLAIM
  std::uint64_t nowarn = 0;          // __GFP_NOWARN
  std::uint64_t noretry = 0;         // __GFP_NORETRY
  std::uint64_t nomemalloc = 0;      // __GFP_NOMEMALLOC
  std::uint64_t memalloc = 0;        // __GFP_MEMALLOC
  std::uint64_t movable = 0;         // __GFP_MOVABLE
  std::uint64_t reclaimable = 0;     // __GFP_RECLAIMABLE
  std::uint64_t dma = 0;             // __GFP_DMA
  std::uint64_t dma32 = 0;           // __GFP_DMA32
  std::uint64_t highmem = 0;         // __GFP_HIGHMEM
  std::uint64_t account = 0;         // __GFP_ACCOUNT
  std::uint64_t atomic = 0;          // __GFP_ATOMIC (4.4 .. 6.2)
  std::uint64_t wait = 0;            // __GFP_WAIT (before 4.4)
  static GfpBits from(const GfpTable& table);
};

}  // namespace labyrinth::traces
