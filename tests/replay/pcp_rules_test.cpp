// Simulate's per-CPU list rules that depend on time and on the recorded kernel
// (docs/kernel-rules.md §7.2, §7.3): vmstat's decay_pcp_high each vm.stat_interval, and the
// free_high threshold of the recording's kernel generation.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <string>

#include "labyrinth/replay/model_setup.hpp"
#include "replay_test_util.hpp"

namespace labyrinth::replay {
namespace {

using testing::replay_text;
using testing::simulate;

// One CPU, a 65536-page Normal zone: zone_batchsize b = min(65536 >> 10, 256) / 4 = 16, then
// bit_floor(b + b / 2) - 1 = 15; zone_highsize: high_min = low / 1 CPU = 160, high_max =
// 65536 / 8 = 8192 (replay computes them: the recording's zone line has none). The first
// half of the zone is free; the trace frees 1000 pages of the second half (allocated before
// the recording), 1 us apart, then one more after a quiet `gap_s` seconds.
// The frees (free_count k, capped at 15 << 5 = 480; nr_pcp_high raises high to
// free_count + 15 when count reaches it, and that free drains clamp(free_count, 15, high - 15)):
//   k = 160: high 175, drain 145 -> count 15;   k = 320: high 335, drain 160 -> count 15;
//   k = 640: high 495, drain 320 -> count 15;   k = 1000: count 375, high 495.
// Each vmstat interval then: high = max(high - high / 8, 160), the list drained down to it:
//   495 -> 434, 380 (no drain: count 375), 333 (drain 42), 292 (drain 41), ...
std::string quiet_after_frees(unsigned gap_s, unsigned stat_interval_s, const char* kernel = "6.18.0-test") {
  std::string t = fmt::format(
      "!labyrinth-text 1\n!kernel {}\n!cpus 1\n!max_order 10\n!pageblock_order 9\n"
      "!sysctl min_free_kbytes=512\n!sysctl stat_interval={}\n"
      "!option events=kmem:mm_page_alloc,kmem:mm_page_free\n"
      "!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 "
      "protection=0,0,0,0,0\n"
      "!start_ts 500\n!start_zone node=0 name=Normal free=32768\n!start_free 0x10000+32768\n",
      kernel, stat_interval_s);
  std::uint64_t ts = 1000;
  for (unsigned k = 0; k < 1000; ++k, ts += 1000) {
    t += fmt::format("{} free pfn={:#x} order=0 cpu=0 pid=9 comm=a ctx=task\n", ts, 0x18000 + k);
  }
  ts = 1000 + std::uint64_t{gap_s} * 1'000'000'000 + 500'000'000;
  t += fmt::format("{} free pfn={:#x} order=0 cpu=0 pid=9 comm=a ctx=task\n", ts, 0x18000 + 1000);
  return t;
}

ReplayOptions with_decay() {
  ReplayOptions o = simulate();
  o.what_if.pcp_decay = true;  // opt-in (--pcp-decay)
  return o;
}

TEST(SimulatePcpDecay, EachStatIntervalDecaysHighAndDrainsToIt) {
  // 4.5 s: four intervals, drains 42 + 41.
  EXPECT_EQ(replay_text(quiet_after_frees(4, 1), with_decay()).model_counters.pcp_decay_drained_pages, 83u);
  // 0.5 s: no interval has passed.
  EXPECT_EQ(replay_text(quiet_after_frees(0, 1), with_decay()).model_counters.pcp_decay_drained_pages, 0u);
  // stat_interval 2 over 6.5 s: three intervals, 495 -> 434 -> 380 -> 333: 42.
  EXPECT_EQ(replay_text(quiet_after_frees(6, 2), with_decay()).model_counters.pcp_decay_drained_pages, 42u);
  // The default: no decay.
  const ReplayResult r = replay_text(quiet_after_frees(4, 1), simulate());
  EXPECT_EQ(r.model_counters.pcp_decay_drained_pages, 0u);
  EXPECT_EQ(r.model_counters.pcp_drained_pages, 145u + 160 + 320);
}

// free_frozen_page_commit's threshold for free_high: batch + high_min / 2 from 6.16, batch
// before (6.10 to 6.15, and the 6.12.95+ stable kernels the model covers).
TEST(SimulatePcpDecay, FreeHighThresholdByRelease) {
  const auto rule = [](const char* release) {
    traces::TraceHeader h;
    h.kernel_release = release;
    return kernel_rules_of(h).pcp_free_high_half_high_min;
  };
  EXPECT_FALSE(rule("6.10.3"));
  EXPECT_FALSE(rule("6.12.95-amd64"));
  EXPECT_FALSE(rule("6.15.11"));
  EXPECT_TRUE(rule("6.16.0"));
  EXPECT_TRUE(rule("6.18.44-fc"));
  EXPECT_TRUE(rule("7.3.1"));
  EXPECT_TRUE(rule(""));  // not recorded: the newest rules, as for the rest
}

}  // namespace
}  // namespace labyrinth::replay
