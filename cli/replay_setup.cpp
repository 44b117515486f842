#include "replay_setup.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "exit_codes.hpp"
#include "labyrinth/allocator/types.hpp"
#include "labyrinth/procfs/files.hpp"
#include "labyrinth/procfs/zoneinfo.hpp"
#include "labyrinth/replay/model_footprint.hpp"
#include "log.hpp"
#include "units.hpp"

namespace labyrinth::cli {

void add_what_if_options(CLI::App* cmd, WhatIfOptions& o, const std::string& prefix) {
  cmd->add_option("--watermark-boost-factor", o.watermark_boost_factor, prefix + "vm.watermark_boost_factor");
  cmd->add_flag("--no-highatomic", o.no_highatomic, prefix + "no high-order atomic reserve");
  cmd->add_flag("--no-pcp", o.no_pcp, prefix + "no per-CPU page lists");
  cmd->add_flag("--compaction", o.compaction,
                prefix + "model direct compaction in the slow path (not yet calibrated against the kernel's)");
  cmd->add_flag("--model-placement", o.model_placement,
                prefix + "the model's free lists pick every page (default: a request the kernel served takes the "
                         "kernel's page where it is free in the model)");
  cmd->add_flag("--pcp-decay", o.pcp_decay,
                prefix + "decay per-CPU list high each vm.stat_interval (vmstat's decay_pcp_high; off: it predicted "
                         "the kernel's failures worse)");
  cmd->add_flag("--pcp-reclaim-clamp", o.pcp_reclaim_clamp,
                prefix + "clamp per-CPU lists while kswapd runs (ZONE_RECLAIM_ACTIVE; off: it predicted the kernel's "
                         "failures worse)");
  cmd->add_flag("--follow-pcp", o.follow_pcp,
                prefix + "per-CPU lists follow the recording's refills and drains (default: the model runs its own; "
                         "following keeps its free pages closer to the kernel's but predicted fewer of its failures)");
  cmd->add_option("--balloon", o.balloon, prefix + "take SIZE of free memory away at the start (e.g. 512M, 2G)");
  cmd->add_option("--kswapd-rate", o.kswapd_rate,
                  prefix + "how fast kswapd reclaims, in MiB of trace time per second (default 1024)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
}

int fill_what_if(const WhatIfOptions& o, replay::WhatIf& w) {
  w.watermark_boost_factor = o.watermark_boost_factor;
  w.no_highatomic = o.no_highatomic;
  w.no_pcp = o.no_pcp;
  w.compaction = o.compaction;
  w.model_placement = o.model_placement;
  w.pcp_decay = o.pcp_decay;
  w.pcp_reclaim_clamp = o.pcp_reclaim_clamp;
  w.follow_pcp = o.follow_pcp;
  if (o.kswapd_rate) w.kswapd_mib_per_s = *o.kswapd_rate;
  if (w.follow_pcp && (w.no_pcp || w.pcp_decay || w.pcp_reclaim_clamp)) {
    error("--follow-pcp takes the recording's per-CPU lists; --no-pcp, --pcp-decay and --pcp-reclaim-clamp change "
          "the model's own: give one or the other");
    return kExitUsage;
  }
  if (!o.balloon.empty()) {
    const ParsedUnit size = parse_size(o.balloon);
    if (!size.ok()) {
      error("--balloon {}", size.error);
      return kExitUsage;
    }
    w.balloon_bytes = size.value;
  }
  return kExitOk;
}

void add_replay_mode_options(CLI::App* cmd, ReplayModeOptions& o) {
  cmd->add_option("--mode", o.mode,
                  "mirror: apply the kernel's own choices (default with a start snapshot); simulate: the model picks "
                  "pages under what-if settings (default otherwise, or with a what-if option)")
      ->check(CLI::IsMember({"mirror", "simulate"}));
  cmd->add_option("--min-free-kbytes", o.min_free_kbytes, "simulate: vm.min_free_kbytes (watermarks recomputed)");
  cmd->add_option("--watermark-scale-factor", o.watermark_scale_factor,
                  "simulate: vm.watermark_scale_factor (watermarks recomputed)");
  add_what_if_options(cmd, o, "simulate: ");
}

int configure_replay_mode(const ReplayModeOptions& o, const traces::TraceReader& reader, bool quiet,
                          replay::ReplayOptions& options) {
  replay::WhatIf& w = options.what_if;
  w.min_free_kbytes = o.min_free_kbytes;
  w.watermark_scale_factor = o.watermark_scale_factor;
  if (const int rc = fill_what_if(o, w); rc != kExitOk) return rc;
  const bool what_if = w.min_free_kbytes || w.watermark_scale_factor || w.watermark_boost_factor || w.no_highatomic ||
                       w.no_pcp || w.compaction || w.model_placement || w.pcp_decay || w.pcp_reclaim_clamp ||
                       w.follow_pcp || w.balloon_bytes != 0 || o.kswapd_rate;
  const auto& start = reader.start_snapshot();
  const bool has_map = start.present && !start.free_runs.empty();
  if (o.mode == "mirror") {
    if (what_if) {
      error("what-if options (--min-free-kbytes, --watermark-*, --no-highatomic, --no-pcp, --pcp-decay, "
            "--pcp-reclaim-clamp, --follow-pcp, --compaction, --model-placement, --balloon, --kswapd-rate) need --mode "
            "simulate");
      return kExitUsage;
    }
    options.mode = replay::ReplayMode::Mirror;
  } else if (o.mode == "simulate") {
    options.mode = replay::ReplayMode::Simulate;
  } else {
    options.mode = has_map && !what_if ? replay::ReplayMode::Mirror : replay::ReplayMode::Simulate;
    if (!has_map && !quiet) {
      warning("{} has no start free-page map: simulating from all memory free (not the kernel's state)", reader.path());
    }
  }
  return kExitOk;
}

int fill_missing_zones(traces::TraceHeader& header, const std::string& input, bool quiet) {
  if (!header.zones.empty()) return kExitOk;
  header.zones = procfs::populated_zones(procfs::parse_zoneinfo(procfs::try_read_file("/proc/zoneinfo").value_or("")));
  if (header.zones.empty()) {
    error("{} describes no memory zones and /proc/zoneinfo cannot be read", input);
    hint("record with 'labyrinth record', which stores the zones, or replay on the machine the capture came from");
    return kExitFailure;
  }
  if (!quiet) warning("{} describes no memory zones: replaying into this machine's (from /proc/zoneinfo)", input);
  return kExitOk;
}

// The model's metadata is lazy: it costs what the start snapshot and the events touch
// (replay/model_footprint.cpp), a bound that reaches the eager cost (every frame's records)
// only for a busy snapshot or a long trace. A hostile or foreign header can describe more than
// this machine could hold: say so before allocating, rather than die of it. Zones beyond what
// the model takes (16 TiB) are left to the model setup, which refuses them by name.
std::string model_too_large(const traces::TraceHeader& header, const traces::TraceReader& reader, bool simulate) {
  const replay::ModelFootprint f =
      replay::estimate_model_footprint(header, reader.start_snapshot(), reader.events_declared(), simulate);
  if (f.frames == 0 || f.frames > allocator::kMaxMachineBytes / std::max<std::uint64_t>(header.page_size, 1)) return {};
  // The estimate is a bound, not a typical figure: most of the rest is the reader's buffers.
  constexpr double kShareOfMemory = 0.85;
  const double need = f.total();
  const double have = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (have <= 0 || need <= have * kShareOfMemory) return {};
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  return fmt::format("its zones span {} page frames{}; replaying them needs up to {:.1f} GiB of memory, more than this "
                     "machine has ({:.1f} GiB)",
                     f.frames, simulate && f.pfn_range > f.frames ? fmt::format(" over a range of {} pfns", f.pfn_range) : "",
                     need / kGiB, have / kGiB);
}

void Progress::update(const traces::TraceReader& reader, std::uint64_t events) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  const double frac = reader.file_size() == 0 ? 0.0
                                              : std::min(1.0, static_cast<double>(reader.offset()) /
                                                                  static_cast<double>(reader.file_size()));
  const int width = 30;
  const int fill = static_cast<int>(frac * width);
  fmt::print(stderr, "\rreplay [{}{}] {:3.0f}%  {:.1f}M events", std::string(static_cast<std::size_t>(fill), '='),
             std::string(static_cast<std::size_t>(width - fill), ' '), frac * 100.0, static_cast<double>(events) / 1e6);
  std::fflush(stderr);
}

void Progress::done() {
  if (enabled_ && shown_) fmt::print(stderr, "\r{}\r", std::string(60, ' '));
}

}  // namespace labyrinth::cli
