// One warn_alloc() report as printed: the failure line, the CPU line with the kernel release,
// the call trace and show_mem()'s per-zone Mem-Info. Only what the log said; nothing derived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labyrinth/explain/kernel_log.hpp"
#include "labyrinth/traces/gfp_history.hpp"

namespace labyrinth::explain {

struct CallFrame {
  std::string function;  ///< "tcp_sendmsg" (offset and module dropped)
  bool reliable = true;  ///< false for "? func" frames the unwinder only guessed
};

/// One zone's two lines: "Node 0 Normal free:...kB min:... lowmem_reserve[]" and the free-area
/// line "Node 0 Normal: 12*4kB (UME) ... = 1234kB". Values in kB as printed; nullopt = absent.
struct ZoneLines {
  int node = 0;
  std::string name;
  bool has_stats = false;
  std::optional<std::int64_t> free_kb, min_kb, low_kb, high_kb, boost_kb, reserved_highatomic_kb,
      free_highatomic_kb, present_kb, managed_kb, free_cma_kb, free_pcp_kb;
  std::vector<std::int64_t> lowmem_reserve;  ///< pages, indexed by zone index (as printed)
  bool has_lowmem_reserve = false;
  bool has_free_area = false;
  bool free_area_complete = false;   ///< the "= NkB" total was there
  std::vector<std::uint64_t> blocks;  ///< free blocks per order
  std::vector<std::string> types;     ///< migratetype letters per order ("UME"), "" if none
  bool types_printed = false;         ///< at least one order carried letters
  std::int64_t page_kb = 0;           ///< size of an order-0 block ("4kB"), 0 if unknown
  std::optional<std::int64_t> free_area_total_kb;
};

struct FailureReport {
  std::size_t line = 0;  ///< input line of the failure message
  std::string comm;
  std::optional<unsigned> order;
  std::optional<std::uint64_t> gfp;
  std::string gfp_names;  ///< "GFP_ATOMIC|__GFP_COMP" in the parentheses, if printed
  std::string nodemask;
  std::optional<traces::KernelVersion> version;
  std::string release;    ///< "5.15.0-91-generic"
  bool saw_call_trace = false;
  bool saw_mem_info = false;
  bool wide_addresses = false;    ///< 16-hex-digit frame addresses: a 64-bit kernel
  bool narrow_addresses = false;  ///< 8-hex-digit frame addresses: a 32-bit kernel (no ZONE_DMA32)
  std::vector<CallFrame> frames;
  std::vector<ZoneLines> zones;
};

/// Every report in the log, in order. Lines outside reports are ignored.
std::vector<FailureReport> parse_failure_reports(const std::vector<LogLine>& lines);

}  // namespace labyrinth::explain
