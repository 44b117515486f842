// labyrinth replay on hand-written text traces with known outcomes (issue #5, "Must show").
#include <gtest/gtest.h>

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "labyrinth/traces/trace_writer.hpp"

#include "labyrinth/replay/replay.hpp"
#include "labyrinth/replay/replay_report.hpp"
#include "replay_test_util.hpp"

namespace labyrinth::replay {
namespace {

using testing::case_path;
using testing::mirror;
using testing::read_text;
using testing::replay_text;
using testing::simulate;

std::vector<FailureRecord> failures_with(const ReplayResult& r, FailureCause cause) {
  std::vector<FailureRecord> out;
  for (const auto& f : r.failures.records()) {
    if (f.cause == cause) out.push_back(f);
  }
  return out;
}

constexpr const char* kHeader = R"(!labyrinth-text 1
!kernel 6.18.0-test
!cpus 2
!max_order 10
!pageblock_order 9
!sysctl min_free_kbytes=512
!sysctl watermark_scale_factor=10
!option events=kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_alloc_zone_locked,kmem:mm_page_pcpu_drain,kmem:mm_page_alloc_extfrag
!zone node=0 name=Normal start_pfn=0x10000 spanned=8192 managed=8192 min=128 low=160 high=192 protection=0,0,0,0,0
)";

// --- a GFP_ATOMIC order-3 request: fragmentation, then a merge serves it ------------------

TEST(ReplayMirror, AtomicOrder3FailsByFragmentationThenSucceedsAfterMerge) {
  const ReplayResult r = replay_text(read_text(case_path("fragmentation_then_merge.txt")), mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Fragmentation);
  EXPECT_EQ(f.cls, FailureClass::Atomic);
  EXPECT_EQ(f.order, 3u);
  EXPECT_EQ(f.ts_ns, 2000u);
  ASSERT_TRUE(f.state.zone.has_value());
  EXPECT_EQ(f.state.free_pages, 400);
  EXPECT_EQ(f.state.effective_min_pages, 48);  // 128 - 64 - 16
  EXPECT_EQ(f.state.largest_free_order, 2);
  EXPECT_FALSE(f.state.block_available);
  EXPECT_EQ(f.state.unusable_index, 1000);
  EXPECT_EQ(f.state.fragmentation_index, 490);  // 1000 - (1000 + 400*1000/8) / 100
  // The free went to CPU 1's pcp list, the drain merged it, the allocation carved it.
  EXPECT_EQ(r.counters.allocations, 1u);
  EXPECT_EQ(r.counters.pcp_drains, 1u);
  EXPECT_EQ(r.pcp_mode, allocator::PcpMode::Manual);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::alloc_range_resync), 0u);
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.model_free_pages, 396u);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// A recorder keeps recording while it takes the end snapshot, so any number of events can
// follow the snapshot's time. Validation must see the state at that time: here 600,001 later
// events (more than a bounded hold-back could keep) leave the order-2 block at 0x10008
// allocated, which the kernel's end snapshot still shows free.
// --- compaction's isolation, and a keyframe's watermarks -----------------------------------

// A real failure the model cannot explain names, by counter, the evidence the trace lacked.
TEST(ReplayMirror, AnUnexplainedFailureNamesTheEvidenceTheTraceLacked) {
  const ReplayResult r = replay_text(read_text(case_path("unexplained_failure_evidence.txt")), mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_TRUE(f.kernel_failed);
  EXPECT_EQ(f.cause, FailureCause::Unexplained);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 1u);
  EXPECT_NE(f.evidence.find("Before it: 1 double_alloc, 1 isolate_guessed;"), std::string::npos) << f.evidence;

  // Without the lost free and the guess, it says that nothing was lost.
  std::string text = read_text(case_path("unexplained_failure_evidence.txt"));
  text.erase(text.find("1000 isolate"), text.find("2000 alloc") - text.find("1000 isolate"));
  const ReplayResult clean = replay_text(text, mirror());
  ASSERT_EQ(clean.failures.total(), 1u);
  EXPECT_NE(clean.failures.records().front().evidence.find("Before it: no event lost, inconsistent or guessed;"),
            std::string::npos)
      << clean.failures.records().front().evidence;

  // With the kernel's counters at both snapshots, it adds what they saw that no event shows.
  text = read_text(case_path("unexplained_failure_evidence.txt"));
  text.insert(text.find("1000 isolate"), "!start_vmstat ts=510 pgalloc_normal=100 pgfree=50\n");
  text += "!end_ts 3000\n!end_zone node=0 name=Normal buddyinfo=0,0,0,0,0,0,0,0,0,1,0 free=512\n"
          "!end_vmstat ts=3010 pgalloc_normal=107 pgfree=55\n";
  const ReplayResult counted = replay_text(text, mirror());
  ASSERT_EQ(counted.failures.total(), 1u);
  EXPECT_NE(counted.failures.records().front().evidence.find(
                "; by the kernel's counters, over the recording 5 pages were allocated and 5 freed with no event"),
            std::string::npos)
      << counted.failures.records().front().evidence;
}

TEST(ReplayMirror, AFailureStampedAfterItsReclaimIsJudgedOverItsSpan) {
  const std::string text = read_text(case_path("failure_checked_before_reclaim.txt"));
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.state.free_pages, 368);
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_NE(f.evidence.find("240 pages above the effective min at its event, but 16 pages below it 1980 us before, "
                            "1980 us after its task's previous allocation"),
            std::string::npos)
      << f.evidence;

  // A request that cannot reclaim made its checks right before its event: unexplained.
  std::string nowait = text;
  nowait.replace(nowait.rfind("gfp=GFP_NOFS"), 12, "gfp=GFP_NOWAIT");
  const ReplayResult n = replay_text(nowait, mirror());
  ASSERT_EQ(n.failures.total(), 1u);
  EXPECT_EQ(n.failures.records().front().cause, FailureCause::Unexplained);

  // Another task, with no allocation before: nothing bounds its span.
  std::string other = text;
  other.replace(other.rfind("pid=9"), 5, "pid=10");
  const ReplayResult o = replay_text(other, mirror());
  ASSERT_EQ(o.failures.total(), 1u);
  EXPECT_EQ(o.failures.records().front().cause, FailureCause::Unexplained);

  // The reader allocated again after kswapd's frees: its span starts there, 367 pages free.
  std::string later = text;
  later.insert(later.rfind("3000000 alloc"),
               "2000000 alloc pfn=0x10400 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=9 comm=reader ctx=task\n");
  const ReplayResult l = replay_text(later, mirror());
  ASSERT_EQ(l.failures.total(), 1u);
  EXPECT_EQ(l.failures.records().front().cause, FailureCause::Unexplained);
}

TEST(ReplayMirror, AFailureAfterItsDirectReclaimIsJudgedAtTheReclaimsInstants) {
  const std::string text = read_text(case_path("failure_after_direct_reclaim.txt"));
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.state.free_pages, 368);
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_NE(f.evidence.find("240 pages above the effective min at its event, but 16 pages below it at its check "
                            "before its direct reclaim 1970 us before: its task reclaimed 1 time (0 pages freed) in "
                            "the 1970 us before this event"),
            std::string::npos)
      << f.evidence;

  // The reclaim began after kswapd's frees: the zone was above min at both of its task's
  // checks, so the low point earlier in the span explains nothing (the span alone would).
  std::string late = text;
  const std::string begin_line = late.substr(late.find("1030000 reclaim_begin"));
  late.erase(late.find("1030000 reclaim_begin"), begin_line.find('\n') + 1);
  late.insert(late.find("2900000 reclaim_end"), "1700000" + begin_line.substr(7, begin_line.find('\n') - 7 + 1));
  const ReplayResult l = replay_text(late, mirror());
  ASSERT_EQ(l.failures.total(), 1u);
  EXPECT_EQ(l.failures.records().front().cause, FailureCause::Unexplained) << l.failures.records().front().evidence;
  // Its evidence says where the model and the kernel parted: at the check before the reclaim.
  EXPECT_NE(l.failures.records().front().evidence.find(
                "; at its task's check before its direct reclaim 1300 us before, where the kernel was below its "
                "watermark (it reclaimed), the model was 240 pages above the effective min"),
            std::string::npos)
      << l.failures.records().front().evidence;

  // Without the reclaim events the trace says nothing of the instants: the span judges.
  std::string without = text;
  without.replace(without.find(",vmscan:mm_vmscan_direct_reclaim_begin,vmscan:mm_vmscan_direct_reclaim_end"),
                  std::string(",vmscan:mm_vmscan_direct_reclaim_begin,vmscan:mm_vmscan_direct_reclaim_end").size(), "");
  for (const char* kind : {"1030000 reclaim_begin", "2900000 reclaim_end"}) {
    const std::size_t at = without.find(kind);
    without.erase(at, without.find('\n', at) - at + 1);
  }
  const ReplayResult w = replay_text(without, mirror());
  ASSERT_EQ(w.failures.total(), 1u);
  EXPECT_EQ(w.failures.records().front().cause, FailureCause::Watermark);
  EXPECT_NE(w.failures.records().front().evidence.find("after its task's previous allocation"), std::string::npos);
}

// A pass of the slow path takes its flags where it starts: a task the OOM killer chose during
// its request may have checked without ALLOC_OOM (whose min is half: 64 pages here), though its
// failure is stamped with the OOM-victim state. Not a victim at its previous allocation, its
// checks are judged under the plain task's flags; a victim already there, under the victim's.
TEST(ReplayMirror, AnOomVictimChosenDuringItsRequestIsJudgedWithoutTheOomReserve) {
  std::string text = read_text(case_path("failure_after_direct_reclaim.txt"));
  text.replace(text.rfind("ctx=task"), 8, "ctx=task task=oom");  // the failure
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().cause, FailureCause::Watermark) << r.failures.records().front().evidence;
  EXPECT_NE(r.failures.records().front().evidence.find(
                "but 16 pages below it at its check before its direct reclaim 1970 us before (the OOM killer chose its "
                "task since its previous allocation, and a check before that had no ALLOC_OOM)"),
            std::string::npos)
      << r.failures.records().front().evidence;

  // A victim at its previous allocation already: 112 free pages at the check before its
  // reclaim are 48 above its min, beyond the 32 pages of drift.
  std::string victim = text;
  victim.insert(victim.find('\n', victim.find("1020000 alloc")), " task=oom");
  const ReplayResult v = replay_text(victim, mirror());
  ASSERT_EQ(v.failures.total(), 1u);
  EXPECT_EQ(v.failures.records().front().cause, FailureCause::Unexplained);
  EXPECT_NE(v.failures.records().front().evidence.find("the model was 48 pages above the effective min"),
            std::string::npos)
      << v.failures.records().front().evidence;

  // Without reclaim events (a victim's reclaim is skipped without one): the span's low point,
  // 16 pages below the plain task's min.
  std::string no_reclaim = read_text(case_path("failure_checked_before_reclaim.txt"));
  no_reclaim.replace(no_reclaim.rfind("ctx=task"), 8, "ctx=task task=oom");
  const ReplayResult n = replay_text(no_reclaim, mirror());
  ASSERT_EQ(n.failures.total(), 1u);
  EXPECT_EQ(n.failures.records().front().cause, FailureCause::Watermark) << n.failures.records().front().evidence;
  EXPECT_NE(n.failures.records().front().evidence.find("but 16 pages below it (the OOM killer chose its task since"),
            std::string::npos)
      << n.failures.records().front().evidence;
  no_reclaim.insert(no_reclaim.find('\n', no_reclaim.find("1020000 alloc")), " task=oom");
  EXPECT_EQ(replay_text(no_reclaim, mirror()).failures.records().front().cause, FailureCause::Unexplained);
}

// The kernel's free pages at a keyframe are buddyinfo's blocks, read at the keyframe's
// instant under the zone lock; zoneinfo's NR_FREE_PAGES is read later and lags by the
// per-CPU counter drift, so a different value there does not count against the model.
TEST(ReplayMirror, AKeyframeComparesTheModelWithBuddyinfoNotTheLaterZoneinfoCount) {
  std::string text = read_text(case_path("compaction_isolate.txt"));
  const std::string zone = "!keyframe_zone node=0 name=Normal free=61";
  ASSERT_NE(text.find(zone), std::string::npos);
  text.replace(text.find(zone), zone.size(), "!keyframe_zone node=0 name=Normal free=90");
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.keyframes.size(), 1u);
  EXPECT_EQ(r.keyframes[0].kernel_free_pages, 61u);
  EXPECT_TRUE(r.keyframes[0].passed);
}

// At a keyframe, the kernel's free pages (buddyinfo and per-CPU lists) against the start
// snapshot's with the recorded events applied: what is left was taken with no event.
// compaction_isolate.txt: 588 at the start; the scanners took 16 + 512, one page came back:
// 61, the keyframe's count.
TEST(ReplayKeyframes, PagesTheKernelTookWithNoEventAreWhatTheRecordedEventsLeaveUnexplained) {
  const std::string text = read_text(case_path("compaction_isolate.txt"));
  const auto taken = [](const ReplayResult& r) {
    EXPECT_EQ(r.keyframes.size(), 1u);
    EXPECT_EQ(r.keyframes.at(0).zones.size(), 1u);
    return r.keyframes.at(0).zones.at(0).taken_without_events;
  };
  EXPECT_EQ(taken(replay_text(text, mirror())), std::optional<std::int64_t>(0));
  EXPECT_EQ(taken(replay_text(text, simulate())), std::optional<std::int64_t>(0));

  // The kernel lacks its order-2 block (4 pages, say alloc_pages_bulk's, which no event
  // reports), and holds 3 pages on its per-CPU lists: 61 - (57 + 3) = 1.
  const std::string kf = "!keyframe_zone node=0 name=Normal free=61";
  const std::string buddy = "buddyinfo=1,0,1,1,1,1,0,0,0,0,0";
  std::string bulk = text;
  bulk.replace(bulk.find(buddy, bulk.find(kf)), buddy.size(), "buddyinfo=1,0,0,1,1,1,0,0,0,0,0 pcp=3");
  EXPECT_EQ(taken(replay_text(bulk, mirror())), std::optional<std::int64_t>(1));

  // The zone grew by 8 pages (deferred init), all free, with no event: nothing taken.
  std::string grown = text;
  grown.replace(grown.find(buddy, grown.find(kf)), buddy.size(), "buddyinfo=1,0,1,2,1,1,0,0,0,0,0");
  grown.replace(grown.find("managed=8192", grown.find(kf)), 12, "managed=8200");
  EXPECT_EQ(taken(replay_text(grown, mirror())), std::optional<std::int64_t>(0));
}

// With the very blocks isolated (exact_isolate.txt), the scanner's summary after a block adds
// nothing, and a putback gives its block back: 528 - 4 - 512 + 512 + 1 = 525.
TEST(ReplayKeyframes, PagesTakenWithNoEventCountTheVeryBlocksNotTheSummaryAfterThem) {
  std::string text = read_text(case_path("exact_isolate.txt"));
  text.insert(text.find("!end_ts"),
              "!keyframe_ts 2000\n!keyframe_zone node=0 name=Normal free=525 min=128 low=160 high=192 boost=0 "
              "managed=8192 buddyinfo=1,0,1,1,0,0,0,0,0,1,0\n");
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.keyframes.size(), 1u);
  ASSERT_EQ(r.keyframes[0].zones.size(), 1u);
  EXPECT_EQ(r.keyframes[0].zones[0].taken_without_events, std::optional<std::int64_t>(0));
}

TEST(ReplayMirror, CompactionIsolationAndKeyframeWatermarksAreFollowed) {
  const ReplayResult r = replay_text(read_text(case_path("compaction_isolate.txt")), mirror());
  EXPECT_EQ(r.counters.isolations, 2u);
  EXPECT_EQ(r.counters.isolated_pages, 16u + 512u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_mismatch), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::double_free), 0u);  // the target was the model's isolated page
  ASSERT_EQ(r.keyframes.size(), 1u);
  EXPECT_EQ(r.keyframes[0].ts_ns, 1500u);
  EXPECT_TRUE(r.keyframes[0].passed);
  EXPECT_EQ(r.keyframes[0].model_free_pages, 61u);
  ASSERT_EQ(r.keyframes[0].zones.size(), 1u);
  EXPECT_EQ(r.keyframes[0].zones[0].zone, "Normal");
  EXPECT_EQ(r.keyframes[0].zones[0].model_free_pages, 61u);
  EXPECT_EQ(r.keyframes[0].zones[0].kernel_free_pages, 61u);
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_EQ(f.state.free_pages, 61);
  EXPECT_EQ(f.state.effective_min_pages, 75);  // 200 - 100 - 25: the keyframe's min
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// Zone sizes follow the keyframes (tests/replay/cases/zone_growth.txt): Normal grows from 1024
// to 8192 managed pages, and the request after it fails in both zones only with the
// watermarks and lowmem_reserve of the new sizes.
const allocator::ZoneConfig& zone_of(const ReplayResult& r, allocator::ZoneType type) {
  const auto& zones = r.model_config.zones;
  const auto it = std::find_if(zones.begin(), zones.end(), [type](const auto& z) { return z.type == type; });
  if (it == zones.end()) throw std::runtime_error("no such zone");
  return *it;
}

TEST(ReplayMirror, AZoneThatGrowsTakesTheLowmemReserveOfItsNewSize) {
  const ReplayResult r = replay_text(read_text(case_path("zone_growth.txt")), mirror());
  EXPECT_EQ(r.counters.zone_resizes, 1u);
  EXPECT_EQ(zone_of(r, allocator::ZoneType::Normal).managed_pages, 8192u);
  const auto& dma32 = zone_of(r, allocator::ZoneType::Dma32);
  ASSERT_TRUE(dma32.lowmem_reserve.has_value());
  EXPECT_EQ((*dma32.lowmem_reserve)[allocator::index_of(allocator::ZoneType::Normal)], 32u);  // 8192 / 256
  EXPECT_EQ(dma32.watermarks->min, 42u);  // the keyframe's
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().cause, FailureCause::Watermark);  // DMA32: 60 <= 42 + 32

  // A keyframe that carries zoneinfo's protection: the kernel's own value is taken.
  std::string text = read_text(case_path("zone_growth.txt"));
  const std::string dma32_keyframe = "managed=4096 buddyinfo=0,0,1,1,1,1,0,0,0,0,0\n!keyframe_zone node=0 name=Normal";
  ASSERT_NE(text.find(dma32_keyframe), std::string::npos);
  text.replace(text.find(dma32_keyframe), std::string("managed=4096").size(), "managed=4096 protection=0,2,2");
  const ReplayResult recorded = replay_text(text, mirror());
  EXPECT_EQ((*zone_of(recorded, allocator::ZoneType::Dma32).lowmem_reserve)[allocator::index_of(allocator::ZoneType::Normal)],
            2u);
  ASSERT_EQ(recorded.failures.total(), 1u);
  EXPECT_EQ(recorded.failures.records().front().cause, FailureCause::Unexplained);  // DMA32: 60 > 42 + 2, beyond the counters' drift
}

TEST(ReplaySimulate, AZoneThatGrowsGetsTheWatermarksOfItsNewSize) {
  const ReplayResult r = replay_text(read_text(case_path("zone_growth.txt")), simulate());
  EXPECT_EQ(r.counters.zone_resizes, 1u);
  const auto& normal = zone_of(r, allocator::ZoneType::Normal);
  const auto& dma32 = zone_of(r, allocator::ZoneType::Dma32);
  EXPECT_EQ(normal.managed_pages, 8192u);
  // 128 pages of min_free_kbytes shared by managed pages: 128 * 8192 / 12288 and 128 * 4096 /
  // 12288; low and high a quarter of min apart (above 0.1% of the zone).
  EXPECT_EQ(normal.watermarks->min, 85u);
  EXPECT_EQ(normal.watermarks->low, 106u);
  EXPECT_EQ(normal.watermarks->high, 127u);
  EXPECT_EQ(dma32.watermarks->min, 42u);
  EXPECT_EQ((*dma32.lowmem_reserve)[allocator::index_of(allocator::ZoneType::Normal)], 32u);
  // With the start's sizes Normal's min of 25 would have served it: the kernel's failure is predicted.
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().cause, FailureCause::Watermark);
  EXPECT_TRUE(r.failures.records().front().kernel_failed);

  // At the recorded settings the kernel's own marks stand, even where they lag its sizes.
  std::string lagging = read_text(case_path("zone_growth.txt"));
  const std::string marks = "min=85 low=106 high=127";
  ASSERT_NE(lagging.find(marks), std::string::npos);
  lagging.replace(lagging.find(marks), marks.size(), "min=80 low=100 high=120");
  const ReplayResult l = replay_text(lagging, simulate());
  EXPECT_EQ(zone_of(l, allocator::ZoneType::Normal).watermarks->min, 80u);
  EXPECT_EQ(zone_of(l, allocator::ZoneType::Normal).watermarks->high, 120u);
  EXPECT_EQ(l.counters.reclaim_allowance_pages, 0u);

  // A what-if's high marks are set against the kernel's of the new sizes: with a scale factor
  // of 1000 the step is a tenth of each zone (Normal 85 + 2 * 819 = 1723 against the keyframe's
  // 127; DMA32 42 + 2 * 409 = 860 against 62): 2394 pages its reclaim may hold free beyond the
  // kernel's (with the start's sizes, 960).
  ReplayOptions wide = simulate();
  wide.what_if.watermark_scale_factor = 1000;
  const ReplayResult w = replay_text(read_text(case_path("zone_growth.txt")), wide);
  EXPECT_EQ(zone_of(w, allocator::ZoneType::Normal).watermarks->high, 1723u);
  EXPECT_EQ(w.counters.reclaim_allowance_pages, 2394u);
}

// A free from a block the model has free, after a fast isolation it guessed, shows which block
// the kernel took: the guess is given back and the freed page's block taken instead.
TEST(ReplayMirror, AFreeFromAnotherBlockCorrectsAGuessedFastIsolation) {
  const ReplayResult r = replay_text(read_text(case_path("fast_isolation_corrected.txt")), mirror());
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guess_corrected), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::double_free), 0u);
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.free_map_pages_compared, 8192u);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // A free of the guessed block's own page confirms the guess: nothing is corrected.
  std::string text = read_text(case_path("fast_isolation_corrected.txt"));
  for (std::size_t at; (at = text.find("0x10403 ")) != std::string::npos;) text.replace(at, 7, "0x10483");
  const std::string end_free = "!end_free 0x10403+1 0x10480+16";
  ASSERT_NE(text.find(end_free), std::string::npos);
  text.replace(text.find(end_free), end_free.size(), "!end_free 0x10400+16 0x10483+1");
  const ReplayResult confirmed = replay_text(text, mirror());
  EXPECT_EQ(confirmed.quality.get(DataQuality::isolate_guess_corrected), 0u);
  EXPECT_EQ(confirmed.quality.get(DataQuality::double_free), 0u);
  EXPECT_EQ(confirmed.validation.free_only_model_pages, 0u);
  EXPECT_EQ(confirmed.validation.free_only_kernel_pages, 0u);
}

// Where the free maps differ, the report names the pfn ranges, so their pages can be followed
// in the trace: free in the model only, free in the kernel only, in pfn order.
TEST(ReplayMirror, ValidationNamesThePfnRangesWhereTheFreeMapsDiffer) {
  std::string text = read_text(case_path("fast_isolation_corrected.txt"));
  const std::string end_free = "!end_free 0x10403+1 0x10480+16";
  ASSERT_NE(text.find(end_free), std::string::npos);
  text.replace(text.find(end_free), end_free.size(), "!end_free 0x10480+14 0x10600+4");
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_TRUE(r.validation.available);
  ASSERT_EQ(r.validation.zones.size(), 1u);
  const ZoneValidation& z = r.validation.zones[0];
  EXPECT_EQ(z.free_only_model_pages, 3u);
  EXPECT_EQ(z.free_only_kernel_pages, 4u);
  EXPECT_EQ(z.free_map_difference_ranges, 3u);
  ASSERT_EQ(z.free_map_differences.size(), 3u);
  const std::vector<std::tuple<std::uint64_t, std::uint64_t, bool>> expected = {
      {0x10403, 1, true}, {0x1048e, 2, true}, {0x10600, 4, false}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(z.free_map_differences[i].start_pfn, std::get<0>(expected[i])) << i;
    EXPECT_EQ(z.free_map_differences[i].pages, std::get<1>(expected[i])) << i;
    EXPECT_EQ(z.free_map_differences[i].free_in_model, std::get<2>(expected[i])) << i;
  }
}

// The kernel's counters at the snapshots (/proc/vmstat) against the trace's pages between them:
// what moved with no event. pgalloc_* of every zone add up.
TEST(ReplayMirror, ValidationComparesTheKernelsCountersWithTheTrace) {
  std::string text = read_text(case_path("fast_isolation_corrected.txt"));
  const std::string start_free = "!start_free 0x10400+16 0x10480+16\n";
  ASSERT_NE(text.find(start_free), std::string::npos);
  text.insert(text.find(start_free) + start_free.size(),
              "!start_vmstat ts=600 pgalloc_dma32=7 pgalloc_normal=1000 pgfree=2000 compact_stall=3\n"
              "!start_vmstat compact_success=1 compact_fail=2 compact_isolated=10 nr_free_pages=32\n");
  text += "!end_vmstat ts=2600 pgalloc_dma32=8 pgalloc_normal=1004 pgfree=2003 compact_stall=4 compact_success=2\n"
          "!end_vmstat compact_fail=2 compact_isolated=26 nr_free_pages=17\n";
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_TRUE(r.validation.available);
  const KernelCounterCheck& c = r.validation.kernel_counters;
  ASSERT_TRUE(c.available);
  EXPECT_EQ(c.ns, 2000u);
  EXPECT_EQ(c.kernel_allocated_pages, 5u);  // 1 in DMA32, 4 in Normal
  EXPECT_EQ(c.trace_allocated_pages, 0u);
  EXPECT_EQ(c.kernel_freed_pages, 3u);
  EXPECT_EQ(c.trace_freed_pages, 1u);  // the one free; a drain is no free
  EXPECT_EQ(c.compact_stall, 1u);
  EXPECT_EQ(c.compact_success, 1u);
  EXPECT_EQ(c.compact_fail, 0u);
  EXPECT_EQ(c.compact_isolated, 16u);

  // A gauge that fell is fine; a counter since boot that fell is no counter: no comparison.
  std::string fell = text;
  fell.replace(fell.find("pgfree=2003"), 11, "pgfree=1999");
  EXPECT_FALSE(replay_text(fell, mirror()).validation.kernel_counters.available);
  // Traces without the counters (before format 1.3) have none.
  EXPECT_FALSE(replay_text(read_text(case_path("fast_isolation_corrected.txt")), mirror()).validation.kernel_counters.available);
}

// Simulate shows the kernel's direct compaction over the recording beside its own, so that a
// model that compacts where the kernel could not is seen (JSON kernel_compaction, text line).
TEST(ReplaySimulate, ReportsTheKernelsCompactionBesideTheModels) {
  std::string text = read_text(case_path("fast_isolation_corrected.txt"));
  const std::string start_free = "!start_free 0x10400+16 0x10480+16\n";
  ASSERT_NE(text.find(start_free), std::string::npos);
  text.insert(text.find(start_free) + start_free.size(),
              "!start_vmstat ts=600 pgfree=2000 compact_stall=3 compact_success=1 compact_fail=2 compact_isolated=10\n");
  text += "!end_vmstat ts=2600 pgfree=2003 compact_stall=7 compact_success=1 compact_fail=6 compact_isolated=10\n";
  const ReplayResult r = replay_text(text, simulate());
  ASSERT_TRUE(r.validation.kernel_counters.available);
  EXPECT_EQ(r.validation.kernel_counters.compact_stall, 4u);
  EXPECT_EQ(r.validation.kernel_counters.compact_success, 0u);
  EXPECT_EQ(r.validation.kernel_counters.compact_fail, 4u);
  EXPECT_EQ(r.validation.kernel_counters.compact_isolated, 0u);
  const auto k = replay_to_json(r, 10)["summary"]["simulation"]["kernel_compaction"];
  EXPECT_EQ(k["compact_stall"], 4);
  EXPECT_EQ(k["compact_success"], 0);
  EXPECT_EQ(k["compact_fail"], 4);
  const std::string report = testing::text_report(r);
  EXPECT_NE(report.find("kernel compaction            4  stalls, 0 succeeded, 0 pages isolated"), std::string::npos) << report;

  // A trace without the counters has no line and a null.
  const ReplayResult old = replay_text(read_text(case_path("fast_isolation_corrected.txt")), simulate());
  EXPECT_FALSE(old.validation.kernel_counters.available);
  EXPECT_TRUE(replay_to_json(old, 10)["summary"]["simulation"]["kernel_compaction"].is_null());
}

TEST(ReplayMirror, ExactIsolatedBlocksAndPutbacksAreAppliedAndTheirSummariesAreNot) {
  const ReplayResult r = replay_text(read_text(case_path("exact_isolate.txt")), mirror());
  EXPECT_EQ(r.counters.isolations, 2u);
  EXPECT_EQ(r.counters.isolated_pages, 4u + 512u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_mismatch), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::isolate_guessed), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::free_split_allocation), 1u);  // a page of the isolated block
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.model_free_pages, 525u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, ResynchronisesFromAFailedKeyframesFreeMap) {
  const ReplayResult r = replay_text(read_text(case_path("keyframe_resync.txt")), mirror());
  ASSERT_EQ(r.keyframes.size(), 1u);
  EXPECT_FALSE(r.keyframes[0].passed);
  EXPECT_TRUE(r.keyframes[0].resynced);
  EXPECT_EQ(r.keyframes[0].model_free_pages, 15u);
  EXPECT_EQ(r.keyframes[0].kernel_free_pages, 31u);
  EXPECT_EQ(r.quality.get(DataQuality::keyframe_resyncs), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 0u);  // 0x10100 was free after the resync
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.model_free_pages, 23u);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, RangesOffTheSameWayAtTwoKeyframesInARowAreSetAsTheMapHasThem) {
  const ReplayResult r = replay_text(read_text(case_path("keyframe_corrections.txt")), mirror());
  ASSERT_EQ(r.keyframes.size(), 2u);
  EXPECT_TRUE(r.keyframes[0].passed);
  EXPECT_TRUE(r.keyframes[1].passed);
  EXPECT_FALSE(r.keyframes[0].resynced || r.keyframes[1].resynced);
  EXPECT_EQ(r.keyframes[0].corrected_pages, 0u);   // a first difference may be the keyframe's own reads
  EXPECT_EQ(r.keyframes[1].corrected_pages, 12u);  // 0x10020+4 taken, 0x10040+8 freed; not 0x10010
  EXPECT_EQ(r.quality.get(DataQuality::keyframe_corrections), 12u);
  EXPECT_EQ(r.quality.get(DataQuality::keyframe_resyncs), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 0u);  // 0x10010 stayed free until its allocation
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  ASSERT_EQ(r.validation.zones.size(), 1u);
  EXPECT_EQ(r.validation.zones[0].model_pcp_pages, 4u);  // the block taken sits on a pcp list
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// Simulate with the recorded watermarks is compared with the kernel at every keyframe (how far
// its own decisions took it), and never resynchronised: that would hide what it predicts. A
// what-if of the watermarks has no kernel to compare with.
TEST(ReplaySimulate, IsComparedWithTheKernelAtKeyframesButNeverResynchronised) {
  const std::string text = read_text(case_path("keyframe_resync.txt"));
  const ReplayResult r = replay_text(text, simulate());
  ASSERT_EQ(r.keyframes.size(), 1u);
  EXPECT_FALSE(r.keyframes[0].passed);
  EXPECT_FALSE(r.keyframes[0].resynced);
  EXPECT_EQ(r.keyframes[0].kernel_free_pages, 31u);
  EXPECT_EQ(r.quality.get(DataQuality::keyframe_resyncs), 0u);
  EXPECT_FALSE(r.validation.available);
  ReplayOptions what_if = simulate();
  what_if.what_if.min_free_kbytes = 1024;
  EXPECT_TRUE(replay_text(text, what_if).keyframes.empty());
}

TEST(ReplayMirror, InterruptFreesThatWentStraightToTheBuddyListsFollowTheKernelsEvidence) {
  const ReplayResult r = replay_text(read_text(case_path("interrupt_free_to_buddy.txt")), mirror());
  // One shown by the refill (no resync counted as lost), one by the end snapshot's map; the
  // task's free stays on its pcp list.
  EXPECT_EQ(r.quality.get(DataQuality::interrupt_free_to_buddy), 2u);
  EXPECT_EQ(r.quality.get(DataQuality::refill_not_free), 0u);
  EXPECT_FALSE(r.quality.lossy());
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.model_free_pages, 14u);
  ASSERT_EQ(r.validation.zones.size(), 1u);
  EXPECT_EQ(r.validation.zones[0].orders[0].model_blocks, 2u);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, AFreeOfAnOrderNoPcpListHoldsPutsEveryPieceItCoversInTheBuddyLists) {
  const ReplayResult r = replay_text(read_text(case_path("free_over_split_pieces.txt")), mirror());
  EXPECT_EQ(r.quality.get(DataQuality::free_order_mismatch), 1u);
  ASSERT_TRUE(r.validation.available);
  ASSERT_EQ(r.validation.zones.size(), 1u);
  const ZoneValidation& z = r.validation.zones[0];
  EXPECT_EQ(z.model_pcp_pages, 0u);  // before: the sixteen pieces sat on CPU 1's pcp list
  EXPECT_EQ(z.model_free_pages, 32u);
  EXPECT_EQ(z.orders[5].model_blocks, 1u);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // An order-3 free is one the pcp lists hold: its pieces stay on the list, as the block would.
  std::string pcp = read_text(case_path("free_over_split_pieces.txt"));
  const std::string free4 = "2000 free pfn=0x10010 order=4";
  ASSERT_NE(pcp.find(free4), std::string::npos);
  pcp.replace(pcp.find(free4), free4.size(), "2000 free pfn=0x10010 order=3");
  const ReplayResult p = replay_text(pcp, mirror());
  EXPECT_EQ(p.validation.zones[0].model_pcp_pages, 8u);
}

TEST(ReplayMirror, AnInterruptFreeDrainedBeforeTheEndMapWasReadStaysOnItsPcpList) {
  // The drain after the snapshot's time shows 0x10000 on a pcp list at buddyinfo's instant;
  // the map, read later, has it free all the same.
  std::string text = read_text(case_path("interrupt_free_to_buddy.txt"));
  const std::size_t end_at = text.find("!end_ts");
  ASSERT_NE(end_at, std::string::npos);
  text.insert(end_at, "3500 pcp_drain pfn=0x10000 order=0 mt=1 cpu=1 pid=9 comm=kworker ctx=task\n");
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.quality.get(DataQuality::interrupt_free_to_buddy), 1u);  // the refill's only
  ASSERT_TRUE(r.validation.available);
  EXPECT_EQ(r.validation.model_free_pages, 13u);
  EXPECT_EQ(r.counters.pcp_drains, 1u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, ValidatesAtTheEndSnapshotTimeHoweverManyEventsFollowIt) {
  std::string text = read_text(case_path("fragmentation_then_merge.txt"));
  const std::size_t end_at = text.find("!end_ts");
  ASSERT_NE(end_at, std::string::npos);
  std::string later;
  constexpr int kPairs = 300000;
  for (int i = 0; i < kPairs; ++i) {
    const std::uint64_t ts = 5001 + 2 * static_cast<std::uint64_t>(i);
    later += fmt::format("{} alloc pfn=0x10008 order=2 mt=0 gfp=GFP_KERNEL cpu=0 pid=9 comm=w ctx=task\n", ts);
    later += fmt::format("{} free pfn=0x10008 order=2 cpu=0 pid=9 comm=w ctx=task\n", ts + 1);
  }
  later += "9000000 alloc pfn=0x10008 order=2 mt=0 gfp=GFP_KERNEL cpu=0 pid=9 comm=w ctx=task\n";
  text.insert(end_at, later);  // before the snapshot in the file, as a recorder writes it

  const ReplayResult r = replay_text(text, mirror());
  ASSERT_TRUE(r.validation.available);
  EXPECT_TRUE(r.validation.passed);
  EXPECT_EQ(r.validation.model_free_pages, 396u);
  EXPECT_EQ(r.validation.free_only_model_pages, 0u);
  EXPECT_EQ(r.validation.free_only_kernel_pages, 0u);
  EXPECT_EQ(r.counters.allocations, 1u + kPairs + 1u);
  EXPECT_NE(std::find(r.notes.begin(), r.notes.end(),
                      "600001 events recorded after the end snapshot were replayed after validating"),
            r.notes.end());
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// Free page reporting holds up to 32 free blocks of its order and above off the lists while
// the host is told, without an event (validation.hpp): a snapshot taken meanwhile shows fewer
// of them than the model has. 160 order-10 blocks are each split by an order-9 allocation,
// so the model ends with 160 free order-9 blocks; the kernel's snapshot shows `kernel_blocks`.
std::string reporting_trace(unsigned kernel_blocks, bool reporting_param) {
  constexpr unsigned kBlocks = 160;
  std::string t = "!labyrinth-text 1\n!kernel 6.18.0-test\n!cpus 2\n!max_order 10\n!pageblock_order 9\n"
                  "!sysctl min_free_kbytes=512\n!sysctl watermark_scale_factor=10\n";
  if (reporting_param) t += "!param page_reporting.page_reporting_order=9\n";
  t += fmt::format("!zone node=0 name=Normal start_pfn=0x100000 spanned={0} managed={0} min=128 low=160 high=192 "
                   "protection=0,0,0,0,0\n!start_ts 1000\n",
                   kBlocks * 1024);
  t += fmt::format("!start_zone node=0 name=Normal buddyinfo=0,0,0,0,0,0,0,0,0,0,{} free={}\n", kBlocks, kBlocks * 1024);
  t += fmt::format("!start_free 0x100000+{}\n", kBlocks * 1024);
  for (unsigned i = 0; i < kBlocks; ++i) {
    t += fmt::format("{} alloc pfn={:#x} order=9 mt=1 gfp=GFP_KERNEL cpu=0 pid=9 comm=w ctx=task\n", 2000 + i,
                     0x100000 + i * 1024);
  }
  t += fmt::format("!end_ts 5000\n!end_zone node=0 name=Normal buddyinfo=0,0,0,0,0,0,0,0,0,{},0 free={}\n",
                   kernel_blocks, kernel_blocks * 512);
  return t;
}

const OrderValidation& order9(const ReplayResult& r) {
  return r.validation.zones.at(0).orders.at(9);
}

TEST(ReplayMirror, HighOrderBlocksFreePageReportingHoldsAreWithinTheValidation) {
  // 25 blocks in flight at the end snapshot: 18.5% off, within only through page reporting's
  // allowance, and the 25 x 512 free pages the kernel's count lacks are explained by them.
  ReplayResult r = replay_text(reporting_trace(135, true), mirror());
  ASSERT_TRUE(r.validation.available);
  EXPECT_EQ(order9(r).model_blocks, 160u);
  EXPECT_EQ(order9(r).kernel_blocks, 135u);
  EXPECT_TRUE(order9(r).checked);
  EXPECT_TRUE(order9(r).within);
  EXPECT_TRUE(order9(r).page_reporting);
  EXPECT_TRUE(r.validation.orders_within);
  EXPECT_EQ(r.validation.page_reporting_pages, 25 * 512);
  EXPECT_TRUE(r.validation.free_within);
  EXPECT_TRUE(r.validation.passed);

  // 25 blocks that were in flight at the start snapshot came back unseen: the kernel has more.
  r = replay_text(reporting_trace(185, true), mirror());
  EXPECT_TRUE(order9(r).page_reporting);
  EXPECT_EQ(r.validation.page_reporting_pages, -25 * 512);
  EXPECT_TRUE(r.validation.passed);

  // 40 blocks off: more than reporting can hold at once.
  r = replay_text(reporting_trace(120, true), mirror());
  EXPECT_FALSE(order9(r).within);
  EXPECT_FALSE(order9(r).page_reporting);
  EXPECT_EQ(r.validation.page_reporting_pages, 0);
  EXPECT_FALSE(r.validation.free_within);

  // A recording without page reporting gets no allowance.
  r = replay_text(reporting_trace(135, false), mirror());
  EXPECT_FALSE(order9(r).within);
  EXPECT_FALSE(order9(r).page_reporting);
  EXPECT_FALSE(r.validation.free_within);
}

// The reader finds the end snapshot ahead of the events even when a damaged chunk comes
// before it; the events stop at the damage, so mirror must not validate a state that lacks them.
TEST(ReplayMirror, DoesNotValidateWhenDamageStopsTheEventsBeforeTheEndSnapshot) {
  testing::TempDir dir;
  const std::string path = testing::trace_from_text(dir, read_text(case_path("fragmentation_then_merge.txt")));
  std::string bytes = testing::read_text(path);
  // The first events block: tag "LBLK", type 5; flip a byte of its payload.
  std::size_t at = 0;
  for (at = bytes.find("LBLK"); at != std::string::npos; at = bytes.find("LBLK", at + 1)) {
    if (bytes[at + 4] == 5) break;
  }
  ASSERT_NE(at, std::string::npos);
  bytes[at + 40 + 8] = static_cast<char>(bytes[at + 40 + 8] ^ 0x20);
  dir.write("t.trace", bytes);

  traces::TraceReader reader(path);
  EXPECT_TRUE(reader.end_snapshot().present);
  const ReplayResult r = testing::replay_file(path, mirror());
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.validation.available);
  EXPECT_NE(r.validation.reason.find("damaged before its end snapshot"), std::string::npos) << r.validation.reason;
}

TEST(ReplaySimulate, AtomicOrder3PredictedToFailThenServedAfterMerge) {
  const ReplayResult r = replay_text(read_text(case_path("fragmentation_then_merge.txt")), simulate(false));
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().cause, FailureCause::Fragmentation);
  EXPECT_EQ(r.failures.records().front().ts_ns, 2000u);
  EXPECT_EQ(r.counters.both_failed, 1u);
  EXPECT_EQ(r.counters.both_succeeded, 1u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  EXPECT_EQ(r.counters.compaction_needed, 1u);
  EXPECT_FALSE(r.invariant_violation.has_value());
}

// --- order-0 GFP_ATOMIC against 3/8 of the min watermark ------------------------------------

TEST(ReplaySimulate, AtomicOrder0ServedBelowMinButAboveThreeEighthsAndFailsBelow) {
  const ReplayResult r = replay_text(read_text(case_path("atomic_below_min.txt")), simulate(false));
  // The first GFP_ATOMIC (60 free, min 128, 3/8 of it = 48) is served, the last (47 free) is not.
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.ts_ns, 3000u);
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_EQ(f.state.free_pages, 47);
  EXPECT_EQ(f.state.effective_min_pages, 48);
  EXPECT_EQ(f.state.watermark_pages, 128);
  // 2 pages short (it needs 49); the drift is 2 CPUs x threshold 16, 32 pages: the larger of
  // calculate_normal_threshold (2 * fls(2) * (1 + fls(8192 pages >> 15)) = 4) and, kswapd
  // awake, calculate_pressure_threshold ((low 160 - min 128) / 2 CPUs = 16). The kernel's
  // count could flip it.
  EXPECT_NE(f.evidence.find("2 pages short"), std::string::npos) << f.evidence;
  EXPECT_NE(f.evidence.find("within the 32 pages"), std::string::npos) << f.evidence;
  EXPECT_EQ(r.counters.both_succeeded, 13u);
  EXPECT_EQ(r.counters.both_failed, 1u);
  // The GFP_KERNEL pages below min direct-reclaim; nothing the model holds is reclaimable
  // (unmovable, allocated before the trace), so each is what the kernel's OOM killer would serve.
  EXPECT_EQ(r.counters.reclaim_stalls, 12u);
  EXPECT_EQ(r.counters.oom_kills, 12u);
  // Against the recording: the one real failure, predicted in the same window.
  const ClassAgreement& atomic = r.agreement.by_class(FailureClass::Atomic);
  EXPECT_EQ(atomic.kernel_failures, 1u);
  EXPECT_EQ(atomic.model_failures, 1u);
  EXPECT_EQ(atomic.matched, 1u);
  EXPECT_EQ(atomic.same_request, 1u);
}

// A high-order __GFP_NORETRY request the model refuses and the kernel served still fills its
// caller's memory: the caller falls back to order 0 (caller_fallback.txt has the arithmetic).
TEST(ReplaySimulate, ARefusedRequestWithACallerFallbackTakesItsPagesAtOrderZero) {
  const ReplayResult r = replay_text(read_text(case_path("caller_fallback.txt")), [] {
    ReplayOptions o = simulate(false);
    o.what_if.model_placement = true;
    return o;
  }());
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 1u);
  EXPECT_EQ(r.counters.fallback_requests, 1u);
  EXPECT_EQ(r.counters.fallback_pages, 7u);
  EXPECT_EQ(r.counters.fallback_failures, 1u);
  ASSERT_EQ(r.failures.total(), 2u);
  EXPECT_EQ(r.failures.records()[0].order, 3u);
  EXPECT_EQ(r.failures.records()[0].cause, FailureCause::Watermark);
  EXPECT_EQ(r.failures.records()[0].state.free_pages, 55);
  const FailureRecord& refused = r.failures.records()[1];
  EXPECT_EQ(refused.ts_ns, 1000u);
  EXPECT_EQ(refused.order, 0u);
  EXPECT_FALSE(refused.kernel_failed);
  EXPECT_EQ(refused.cause, FailureCause::Watermark);
  EXPECT_EQ(refused.state.free_pages, 48);
  const auto g = allocator::GfpLayout::linux_6_10();
  const std::uint64_t nocomp = g.noretry | g.comp | g.nomemalloc;
  EXPECT_EQ(refused.gfp & nocomp, 0u);
  EXPECT_EQ(refused.gfp, r.failures.records()[0].gfp & ~nocomp);
  // The free at 2000 gave the fallback's pages back: the GFP_ATOMIC at 3000 (55 free) is served.
  EXPECT_EQ(r.counters.both_succeeded, 1u);
  // Against the recording: two of the model's failures among atomic requests, none the kernel's.
  const ClassAgreement& atomic = r.agreement.atomic_requests();
  EXPECT_EQ(atomic.kernel_failures, 0u);
  EXPECT_EQ(atomic.model_failures, 2u);
  EXPECT_EQ(r.quality.get(DataQuality::free_order_mismatch), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::free_of_unmapped_page), 0u);
}

// The kernel allocating at a fallback block's head again shows that its free was lost: the
// fallback's pages go back before the new request (caller_fallback.txt without its free and
// the request after it, then 4000: 48 free, 7 come back, 55; the new order-3 refusal's fallback
// takes 7 again, down to 48, and its eighth page is refused).
TEST(ReplaySimulate, AFallbackBlockWhoseFreeWasLostGivesItsPagesBack) {
  std::string text = read_text(case_path("caller_fallback.txt"));
  text.erase(text.find("2000 free"));
  text += "4000 alloc pfn=0x10000 order=3 mt=0 gfp=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP "
          "cpu=0 pid=0 comm=swapper/0 ctx=softirq\n";
  ReplayOptions o = simulate(false);
  o.what_if.model_placement = true;
  const ReplayResult r = replay_text(text, o);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 1u);
  EXPECT_EQ(r.counters.fallback_requests, 2u);
  EXPECT_EQ(r.counters.fallback_pages, 14u);
  EXPECT_EQ(r.counters.fallback_failures, 2u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 2u);
}

// The kernel's NR_FREE_PAGES lags by up to the drift, so a disagreement where the model's check
// came that near its effective min could have gone the kernel's way; one far from it could not.
TEST(ReplaySimulate, DisagreementsWithinTheCounterDriftAreBoundedApart) {
  const ReplayResult r = replay_text(read_text(case_path("atomic_within_drift.txt")), simulate(false));
  EXPECT_EQ(r.counters.model_served_kernel_failed, 2u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 1u);
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().state.free_pages, 47);
  const ClassAgreement& a = r.agreement.by_class(FailureClass::Atomic);
  EXPECT_EQ(a.kernel_failures, 2u);
  EXPECT_EQ(a.model_failures, 1u);
  EXPECT_EQ(a.matched, 0u);
  EXPECT_EQ(a.kernel_failed_model_near, 1u);  // at 3000 (60 free), not at 1000 (200 free)
  EXPECT_EQ(a.model_failed_near, 1u);
  // Window 0: kernel 2, model 0 + 1 near -> 1, matched 1; window 2: kernel 0, model 1 - 1 -> 0.
  EXPECT_EQ(a.drift_model_failures, 1u);
  EXPECT_EQ(a.drift_matched, 1u);
  EXPECT_DOUBLE_EQ(*a.drift_precision(), 1.0);
  EXPECT_DOUBLE_EQ(*a.drift_recall(), 0.5);
  EXPECT_EQ(r.agreement.atomic_requests().drift_matched, 1u);
}

// --- the kernel's compaction in simulate ---------------------------------------------------

TEST(ReplaySimulate, KernelCompactionIsolationTakesTheModelsPagesSoMigrationFreesDoNotAddAny) {
  const ReplayResult r = replay_text(read_text(case_path("simulate_compaction_migration.txt")), simulate(false));
  // 48 free at the start; the order-4 isolation leaves 32, the 16 migrated sources bring it
  // back to 48, not above 3/8 of min (48): the request at 2000 fails as in the kernel. The
  // copies' frees give 64 (served at 4000, 63 left); reporting's order-5 isolation leaves 31
  // (fails at 5050), its putback 63 (served at 5200). The compaction summary is not applied.
  EXPECT_EQ(r.counters.isolations, 2u);
  EXPECT_EQ(r.counters.isolated_pages, 16u + 32u);
  EXPECT_EQ(r.counters.kernel_failures, 2u);
  EXPECT_EQ(r.counters.both_failed, 2u);
  EXPECT_EQ(r.counters.both_succeeded, 2u);
  EXPECT_EQ(r.counters.model_served_kernel_failed, 0u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  ASSERT_EQ(r.failures.total(), 2u);
  EXPECT_EQ(r.failures.records()[0].state.free_pages, 48);
  EXPECT_EQ(r.failures.records()[0].state.effective_min_pages, 48);
  EXPECT_EQ(r.failures.records()[1].state.free_pages, 31);
  const ClassAgreement& atomic = r.agreement.by_class(FailureClass::Atomic);
  EXPECT_EQ(atomic.kernel_failures, 2u);
  EXPECT_EQ(atomic.model_failures, 2u);
  EXPECT_EQ(atomic.same_request, 2u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplaySimulate, CompactionSummariesTakeTheModelsPagesWhenTheBlocksAreNotRecorded) {
  const ReplayResult r = replay_text(read_text(case_path("simulate_compaction_summaries.txt")), simulate(false));
  // See the case's comment: 48, 32, 48 (fails), 64, 63 (served), 31 (fails), 63 (served).
  EXPECT_EQ(r.counters.isolations, 2u);
  EXPECT_EQ(r.counters.isolated_pages, 16u + 32u);
  EXPECT_EQ(r.counters.kernel_failures, 2u);
  EXPECT_EQ(r.counters.both_failed, 2u);
  EXPECT_EQ(r.counters.both_succeeded, 2u);
  EXPECT_EQ(r.counters.model_served_kernel_failed, 0u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  ASSERT_EQ(r.failures.total(), 2u);
  EXPECT_EQ(r.failures.records()[0].state.free_pages, 48);
  EXPECT_EQ(r.failures.records()[1].state.free_pages, 31);
  // The copies land in the block held for them, the unused block's free empties the pool:
  // neither is a free of a page the model does not know, nor a split allocation of the trace.
  EXPECT_EQ(r.quality.get(DataQuality::free_of_unmapped_page), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::free_split_allocation), 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplaySimulate, AKernelsBlockReleasesWhatTheModelStillHeldInsideIt) {
  const ReplayResult r = replay_text(read_text(case_path("stale_inside_kernel_block.txt")), simulate(false));
  // See the case's comment: the guess and the page whose free was lost go back, and all three
  // requests are served at the kernel's blocks; only the lost free is a data-quality error
  // (the guess was the model's, not the recording's).
  EXPECT_EQ(r.counters.isolated_pages, 2u);
  EXPECT_EQ(r.counters.both_succeeded, 3u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  EXPECT_EQ(r.counters.compaction_needed, 0u);
  EXPECT_EQ(r.failures.total(), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 1u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplaySimulate, AKernelsBlockReleasesTheStartSnapshotsStalePagesInsideIt) {
  // See the case's comment: the 8 pages go back to the buddy lists and merge, and the huge page
  // is served at its block, with the model's per-CPU lists off and on.
  for (const bool pcp : {false, true}) {
    const ReplayResult r = replay_text(read_text(case_path("stale_seed_inside_kernel_block.txt")), simulate(pcp));
    EXPECT_EQ(r.counters.seed_pages_released, 8u) << pcp;
    EXPECT_EQ(r.counters.both_succeeded, 1u) << pcp;
    EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u) << pcp;
    EXPECT_EQ(r.failures.total(), 0u) << pcp;
    EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
  }
}

TEST(ReplaySimulate, AFastIsolationsUnusedBlockReleasesTheBlockTheModelGuessed) {
  const ReplayResult r =
      replay_text(read_text(case_path("simulate_fast_isolation_elsewhere.txt")), simulate(false));
  // See the case's comment: 96, 64 (the guess), 96 (the kernel's block back), 65 > 48: served.
  EXPECT_EQ(r.counters.isolations, 1u);
  EXPECT_EQ(r.counters.isolated_pages, 32u);
  EXPECT_EQ(r.counters.both_succeeded, 1u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  EXPECT_EQ(r.failures.total(), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::free_of_unmapped_page), 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, AtomicOrder0FailureExplainedByTheWatermark) {
  const ReplayResult r = replay_text(read_text(case_path("atomic_below_min.txt")), mirror());
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_EQ(f.state.free_pages, 47);
  EXPECT_EQ(f.state.effective_min_pages, 48);
  EXPECT_EQ(r.counters.allocations, 13u);
}

TEST(ReplaySimulate, OneMorePageFreeServesTheSameAtomicRequest) {
  // 61 pages at the start: after the 13 allocations 48 are free, still not above 48: fails.
  // 62 pages: 49 free > 48: served. The boundary is exactly 3/8 of min.
  for (const auto& [extra, fails] : {std::pair{1, true}, std::pair{2, false}}) {
    std::string text = read_text(case_path("atomic_below_min.txt"));
    const std::string from = "!start_free 0x10000+32";
    text.replace(text.find(from), from.size(), fmt::format("!start_free 0x10000+{}", 32 + extra));
    const ReplayResult r = replay_text(text, simulate(false));
    EXPECT_EQ(r.failures.total(), fails ? 1u : 0u) << "extra " << extra;
  }
}

// atomic_below_min.txt with its last GFP_ATOMIC served by the kernel, after the worker freed
// two pages to CPU 1's list and the kernel drained them (49 free), then `extra`.
std::string served_after_drains(const std::string& extra) {
  std::string text = read_text(case_path("atomic_below_min.txt"));
  text.replace(text.find("3000 alloc pfn=failed"), 21, "3000 alloc pfn=0x10040");
  const std::string drains =
      "2200 free pfn=0x10001 order=0 cpu=1 pid=42 comm=worker ctx=task\n"
      "2210 free pfn=0x10002 order=0 cpu=1 pid=42 comm=worker ctx=task\n"
      "2300 pcp_drain pfn=0x10001 order=0 mt=0 cpu=1 pid=42 comm=worker ctx=task\n"
      "2310 pcp_drain pfn=0x10002 order=0 mt=0 cpu=1 pid=42 comm=worker ctx=task\n";
  text.insert(text.find("3000 alloc"), drains + extra);
  return text;
}

// --follow-pcp: the model's per-CPU lists take the recording's refills and drains. In
// atomic_below_min.txt the worker frees two pages to CPU 1's list and the kernel drains them
// before its last GFP_ATOMIC, which it now serves: following, the model has them back in the
// buddy lists (49 free, above 3/8 of min, 48) and serves it too; with its own lists it keeps
// them there (47) and fails it. A refill of one page from the buddy lists takes one back (48:
// not above), and then the follower fails it.
TEST(ReplaySimulate, FollowingTheRecordedPcpListsDrainsWhatTheKernelDrained) {
  const std::string refill = "2400 pcp_refill pfn=0x10041 order=0 mt=0 refill=1 cpu=1 pid=42 comm=worker ctx=task\n";
  ReplayOptions follow = simulate();
  follow.what_if.follow_pcp = true;
  for (const bool refilled : {false, true}) {
    const std::string t = served_after_drains(refilled ? refill : "");
    const ReplayResult own = replay_text(t, simulate());
    EXPECT_EQ(own.pcp_mode, allocator::PcpMode::Auto);
    EXPECT_EQ(own.counters.model_failed_kernel_succeeded, 1u) << refilled;
    EXPECT_EQ(own.counters.pcp_drains, 0u);
    const ReplayResult r = replay_text(t, follow);
    EXPECT_EQ(r.pcp_mode, allocator::PcpMode::Manual);
    EXPECT_EQ(r.counters.pcp_drains, 2u);
    EXPECT_EQ(r.counters.pcp_refills, refilled ? 1u : 0u);
    EXPECT_EQ(r.counters.model_failed_kernel_succeeded, refilled ? 1u : 0u) << refilled;
    EXPECT_EQ(r.counters.both_succeeded, refilled ? 13u : 14u) << refilled;
    EXPECT_FALSE(r.invariant_violation.has_value());
  }
}

// rmqueue_bulk refills a list after the watermark check passed, and its events come before
// the allocation's: the kernel checked with the batch on its buddy lists. The drains leave 49
// free (3/8 of min is 48); the softirq's own refill of two pages leaves 47, and checked then it
// would fail the GFP_ATOMIC the kernel served. Checked against the count before its refills, it
// does not; both refills move at once and the allocation takes its page from the list. A
// refill by another CPU is no part of the check (the test above).
TEST(ReplaySimulate, FollowingTheRecordedPcpListsChecksAnAllocationBeforeItsOwnRefill) {
  const std::string text = served_after_drains(
      "2990 pcp_refill pfn=0x10040 order=0 mt=0 refill=1 cpu=0 pid=0 comm=swapper/0 ctx=softirq\n"
      "2991 pcp_refill pfn=0x10041 order=0 mt=0 refill=1 cpu=0 pid=0 comm=swapper/0 ctx=softirq\n");
  ReplayOptions follow = simulate();
  follow.what_if.follow_pcp = true;
  const ReplayResult r = replay_text(text, follow);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  EXPECT_EQ(r.counters.both_succeeded, 14u);
  EXPECT_EQ(r.counters.pcp_refills, 2u);
  EXPECT_EQ(r.counters.kernel_internal_ignored, 0u);
  ASSERT_EQ(r.timeline.size(), 1u);
  ASSERT_FALSE(r.timeline[0].samples.empty());
  EXPECT_EQ(r.timeline[0].samples.back().free_pages, 47u);
  EXPECT_EQ(r.timeline[0].samples.back().pcp_pages, 1u);
  EXPECT_FALSE(r.invariant_violation.has_value());
}

// The same refills with another CPU's events between them and their allocation (a free to its
// list and its drain: 48 free after them): the allocation is still checked against the count
// before its refills (49 > 48) and served. An event of its own CPU in between (here the same
// free and drain on CPU 0) ends the span, as alloc_pages_bulk's refills, which no allocation
// event follows, end: checked at 48, the request fails.
TEST(ReplaySimulate, FollowingThePcpListsAnotherCpusEventsDoNotEndARefillSpan) {
  for (const int between_cpu : {1, 0}) {
    const std::string text = served_after_drains(fmt::format(
        "2990 pcp_refill pfn=0x10040 order=0 mt=0 refill=1 cpu=0 pid=0 comm=swapper/0 ctx=softirq\n"
        "2991 pcp_refill pfn=0x10041 order=0 mt=0 refill=1 cpu=0 pid=0 comm=swapper/0 ctx=softirq\n"
        "2992 free pfn=0x10003 order=0 cpu={0} pid=42 comm=worker ctx=task\n"
        "2993 pcp_drain pfn=0x10003 order=0 mt=0 cpu={0} pid=42 comm=worker ctx=task\n",
        between_cpu));
    ReplayOptions follow = simulate();
    follow.what_if.follow_pcp = true;
    const ReplayResult r = replay_text(text, follow);
    EXPECT_EQ(r.counters.pcp_refills, 2u) << between_cpu;
    EXPECT_EQ(r.counters.pcp_drains, 3u) << between_cpu;
    EXPECT_EQ(r.counters.model_failed_kernel_succeeded, between_cpu == 1 ? 0u : 1u) << between_cpu;
    ASSERT_EQ(r.failures.total(), between_cpu == 1 ? 0u : 1u) << between_cpu;
    if (between_cpu == 0) {
      EXPECT_EQ(r.failures.records().front().state.free_pages, 48);
    }
    EXPECT_FALSE(r.invariant_violation.has_value());
  }
}

// A fallback that stole a block (extfrag without change of ownership) or claimed a whole free
// pageblock emits no zone_locked event: the block went to the CPU's list, and following, the
// model moves it there. The worker's steal at 2400 takes one page from the buddy lists (48 left
// of the drains' 49): the last GFP_ATOMIC then fails in the model as in test above with the
// refill. A claim below pageblock order is followed by its zone_locked event: nothing moves.
TEST(ReplaySimulate, FollowingThePcpListsAStealsBlockGoesToTheList) {
  for (const bool steal : {true, false}) {
    const std::string text = served_after_drains(
        fmt::format("2400 extfrag pfn=0x10041 order=0 mt=0 fb_order=0 fb_mt=1 owner={} cpu=1 pid=42 comm=worker "
                    "ctx=task\n",
                    steal ? 0 : 1));
    ReplayOptions follow = simulate();
    follow.what_if.follow_pcp = true;
    const ReplayResult r = replay_text(text, follow);
    EXPECT_EQ(r.counters.pcp_refills, steal ? 1u : 0u) << steal;
    EXPECT_EQ(r.counters.model_failed_kernel_succeeded, steal ? 1u : 0u) << steal;
    EXPECT_FALSE(r.invariant_violation.has_value());
  }
}

// A free the model answered with a block of its own choosing (--model-placement: never the
// kernel's) stands in for the kernel's block on the list: the kernel's drain of its block
// drains the model's, and the last GFP_ATOMIC is served as above.
TEST(ReplaySimulate, FollowingThePcpListsDrainsTheModelsBlockInTheKernelsPlace) {
  std::string text = read_text(case_path("atomic_below_min.txt"));
  text.replace(text.find("3000 alloc pfn=failed"), 21, "3000 alloc pfn=0x10040");
  text.insert(text.find("3000 alloc"),
              "2200 free pfn=0x10001 order=0 cpu=1 pid=42 comm=worker ctx=task\n"
              "2300 pcp_drain pfn=0x10001 order=0 mt=0 cpu=1 pid=42 comm=worker ctx=task\n"
              "2310 free pfn=0x10002 order=0 cpu=1 pid=42 comm=worker ctx=task\n"
              "2320 pcp_drain pfn=0x10002 order=0 mt=0 cpu=1 pid=42 comm=worker ctx=task\n");
  ReplayOptions o = simulate();
  o.what_if.follow_pcp = true;
  o.what_if.model_placement = true;
  const ReplayResult r = replay_text(text, o);
  EXPECT_EQ(r.counters.pcp_drains, 2u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value());
}

TEST(ReplaySimulate, PageCacheTheModelFailedIsOnTheKernelsLruSoItsReclaimProgresses) {
  const ReplayResult r = replay_text(read_text(case_path("simulate_progress_on_the_kernels_lru.txt")), simulate());
  EXPECT_EQ(r.counters.reclaim_stalls, 2u);
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 1u);  // the first request only
  EXPECT_EQ(r.counters.both_succeeded, 1u);
  EXPECT_EQ(r.model_counters.reclaim_drains, 1u);
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().ts_ns, 1000u);
  ASSERT_FALSE(r.timeline.empty());
  ASSERT_FALSE(r.timeline.front().samples.empty());
  EXPECT_EQ(r.timeline.front().samples.back().free_pages, 139u);
}

// With the direct reclaim events the kernel's own verdict replaces that guess: the reader's
// reclaim before its second request freed nothing, so the model's made no progress either and
// the slow path gives up without draining (__alloc_pages_direct_reclaim returns before it); a
// reclaim that freed pages progresses as above.
TEST(ReplaySimulate, TheKernelsReclaimSaysWhetherTheModelsProgressed) {
  std::string text = read_text(case_path("simulate_progress_on_the_kernels_lru.txt"));
  const std::string events = "kmem:mm_page_alloc_extfrag";
  text.insert(text.find(events) + events.size(), ",vmscan:mm_vmscan_direct_reclaim_begin,vmscan:mm_vmscan_direct_reclaim_end");
  for (const auto& [reclaimed, progressed] : {std::pair{0, false}, std::pair{5, true}}) {
    std::string t = text;
    t.insert(t.find("2000 alloc"), fmt::format("1900 reclaim_begin order=0 gfp=GFP_NOFS cpu=1 pid=50 comm=reader ctx=task\n"
                                               "1950 reclaim_end reclaimed={} cpu=1 pid=50 comm=reader ctx=task\n",
                                               reclaimed));
    const ReplayResult r = replay_text(t, simulate());
    EXPECT_EQ(r.counters.reclaim_stalls, 2u);
    EXPECT_EQ(r.model_counters.reclaim_drains, progressed ? 1u : 0u) << reclaimed;
    EXPECT_EQ(r.counters.model_failed_kernel_succeeded, progressed ? 1u : 2u) << reclaimed;
  }
}

// The direct reclaim events also say how many rounds the kernel reclaimed before it served a
// request: the worker's second GFP_KERNEL page of atomic_below_min.txt came after two reclaims
// of its own that freed pages. The model, below min with nothing of its own to reclaim, runs
// two rounds (each drains the per-CPU lists: the kernel's __alloc_pages_direct_reclaim drains
// once per call) and then serves it as the kernel did, where it used to give the highatomic
// reserve back with force and serve it as the OOM killer would (as the other eleven still are).
TEST(ReplaySimulate, ARequestTheKernelServedAfterItsOwnReclaimsTakesAsManyRounds) {
  std::string text = read_text(case_path("atomic_below_min.txt"));
  const std::string events = "kmem:mm_page_alloc_extfrag";
  text.insert(text.find(events) + events.size(), ",vmscan:mm_vmscan_direct_reclaim_begin,vmscan:mm_vmscan_direct_reclaim_end");
  text.insert(text.find("2010 alloc"), "2003 reclaim_begin order=0 gfp=GFP_KERNEL cpu=1 pid=42 comm=worker ctx=task\n"
                                       "2004 reclaim_end reclaimed=4 cpu=1 pid=42 comm=worker ctx=task\n"
                                       "2005 reclaim_begin order=0 gfp=GFP_KERNEL cpu=1 pid=42 comm=worker ctx=task\n"
                                       "2006 reclaim_end reclaimed=3 cpu=1 pid=42 comm=worker ctx=task\n");
  const ReplayResult r = replay_text(text, simulate(false));
  EXPECT_EQ(r.counters.reclaim_stalls, 12u);
  EXPECT_EQ(r.model_counters.served_after_kernel_reclaim, 1u);
  EXPECT_EQ(r.model_counters.reclaim_drains, 2u);
  EXPECT_EQ(r.counters.oom_kills, 11u);
  EXPECT_EQ(r.failures.total(), 1u);  // the last GFP_ATOMIC, as before
  EXPECT_FALSE(r.invariant_violation.has_value());
}

// The allocating task's state (trace format 1.4) gives it the kernel's reserves. The worker's
// twelve GFP_KERNEL pages of atomic_below_min.txt, below min: a plain task direct-reclaims and
// is served as the OOM killer would let it (above); under PF_MEMALLOC (reclaim's own
// allocations) they ignore the watermarks and never reclaim.
TEST(ReplaySimulate, ATaskUnderPfMemallocIsServedBelowMinWithoutReclaiming) {
  std::string text = read_text(case_path("atomic_below_min.txt"));
  for (std::size_t at = text.find("comm=worker ctx=task"); at != std::string::npos;
       at = text.find("comm=worker ctx=task", at + 1)) {
    text.insert(at + std::string("comm=worker ctx=task").size(), " task=memalloc");
  }
  const ReplayResult r = replay_text(text, simulate(false));
  EXPECT_EQ(r.counters.reclaim_stalls, 0u);
  EXPECT_EQ(r.counters.oom_kills, 0u);
  EXPECT_EQ(r.counters.both_succeeded, 13u);
  ASSERT_EQ(r.failures.total(), 1u);  // the last GFP_ATOMIC, 47 free, still fails
  EXPECT_EQ(r.failures.records().front().ts_ns, 3000u);
}

// A real-time task that may reclaim gets ALLOC_MIN_RESERVE: min - min / 2 = 64. With 40 more
// pages free at the start (100), the worker's pages find 99 down to 88 free: below min 128, so a
// plain task reclaims (12 stalls), a real-time one is served in the slow path at once.
TEST(ReplaySimulate, ARealTimeTaskIsServedDownToHalfOfMin) {
  for (const bool realtime : {false, true}) {
    std::string text = read_text(case_path("atomic_below_min.txt"));
    const std::string from = "!start_free 0x10000+32 0x10040+16 0x10080+8 0x100c0+4";
    text.replace(text.find(from), from.size(), from + " 0x10200+40");
    if (realtime) {
      for (std::size_t at = text.find("comm=worker ctx=task"); at != std::string::npos;
           at = text.find("comm=worker ctx=task", at + 1)) {
        text.insert(at + std::string("comm=worker ctx=task").size(), " task=rt");
      }
    }
    const ReplayResult r = replay_text(text, simulate(false));
    EXPECT_EQ(r.counters.reclaim_stalls, realtime ? 0u : 12u) << "realtime " << realtime;
    EXPECT_EQ(r.counters.both_succeeded, 13u) << "realtime " << realtime;
  }
}

// --- a failure a larger min_free_kbytes prevents, and one it does not -------------------------

// 8192 pages; 1200 free, every other page (so nothing above order 0 is ever free). Tasks fill
// the page cache (1100 movable pages, one every 10 us: kswapd, at 262 pages a millisecond,
// keeps up and keeps the zone between its low and high watermarks), then a softirq burst of
// 400 GFP_ATOMIC pages in 100 us (kswapd gets about 26 back meanwhile: the burst lives off the
// reserve; the 200 the kernel failed go back at once when the model serves them), a task
// allocation, and one GFP_ATOMIC order-3 request.
std::string min_free_case() {
  std::string t = kHeader;
  t += "!start_ts 100\n!start_free";
  for (int i = 0; i < 1200; ++i) t += fmt::format(" 0x{:x}+1", 0x10000 + 2 * i);
  t += "\n";
  std::uint64_t ts = 1000;
  for (int i = 0; i < 1100; ++i, ts += 10'000) {
    t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=1 pid=50 comm=cat ctx=task\n", ts,
                     0x10000 + 2 * i);
  }
  for (int i = 0; i < 400; ++i, ts += 250) {
    if (i < 200) {
      t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=0 gfp=GFP_ATOMIC cpu=0 pid=0 comm=swapper/0 ctx=softirq\n", ts,
                       0x10000 + 2 * (1100 + i));
    } else {
      t += fmt::format("{} alloc pfn=failed order=0 mt=0 gfp=GFP_ATOMIC cpu=0 pid=0 comm=swapper/0 ctx=softirq\n", ts);
    }
  }
  t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=1 pid=50 comm=cat ctx=task\n", ts,
                   0x10000 + 2 * 1350);
  t += fmt::format("{} alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC|__GFP_COMP cpu=0 pid=0 comm=swapper/0 ctx=softirq\n",
                   ts + 1'000);
  return t;
}

TEST(ReplaySimulate, LargerMinFreeKbytesPreventsTheAtomicBurstFailuresButNotFragmentation) {
  const std::string text = min_free_case();
  // No watermark boost: the atomic pages fall back into movable pageblocks, and the boost that
  // raises (kept until kswapd balances) would blur what min_free_kbytes alone does.
  ReplayOptions as_recorded = simulate(false);
  as_recorded.what_if.watermark_boost_factor = 0;
  const ReplayResult recorded = replay_text(text, as_recorded);
  ReplayOptions larger = as_recorded;
  larger.what_if.min_free_kbytes = 2048;
  const ReplayResult more = replay_text(text, larger);

  // Recorded settings: the recording's frees are all the reclaim there was (none), so the
  // model reclaims nothing of its own. 1200 pages free; the cat requests take 1100 (those that
  // find 128 or fewer free, from the 1073rd on, and the last one, are what the OOM killer
  // would serve: 29), leaving 100. The burst is served while more than 3/8 of min (48) are
  // free: its first 52 requests, from 100 down to 48; the next 48 fail. Its last 100 pages
  // (and the last cat's) lie outside the start's free pages: the kernel had them free on a
  // per-CPU list, so the model frees each (101 seed pages) before the request, which it then
  // serves (49 free, back to 48). The kernel's 200 failures fail; so does the order-3 request
  // (48 - 7 = 41, not above 48) on the watermark.
  EXPECT_EQ(recorded.counters.reclaim_allowance_pages, 0u);
  EXPECT_EQ(recorded.counters.kswapd_reclaimed_pages, 0u);
  EXPECT_EQ(recorded.model_counters.direct_reclaimed_pages, 0u);
  EXPECT_EQ(recorded.counters.seed_pages_released, 101u);
  EXPECT_EQ(recorded.counters.oom_kills, 29u);
  const auto wm_recorded = failures_with(recorded, FailureCause::Watermark);
  EXPECT_EQ(wm_recorded.size(), 48u + 200u + 1u);
  for (const auto& f : wm_recorded) {
    EXPECT_EQ(f.cls, FailureClass::Atomic);
    EXPECT_LE(f.state.free_pages, 48);
  }
  EXPECT_EQ(recorded.counters.model_failed_kernel_succeeded, 48u);
  EXPECT_TRUE(failures_with(recorded, FailureCause::Fragmentation).empty());

  // min_free_kbytes 2048: watermarks 512/640/768, 576 pages above the recorded high (192):
  // the model's reclaim may free 576 of the cat pages, no more (the recording never frees
  // them). 1200 + 576 + 101 - 1100 - 200 - 1 = 576 free at the end (the kernel's 200 failures
  // are served and given back).
  ASSERT_TRUE(more.model_config.zones.front().watermarks.has_value());
  EXPECT_EQ(more.model_config.zones.front().watermarks->min, 512u);
  EXPECT_EQ(more.model_config.zones.front().watermarks->low, 640u);
  EXPECT_EQ(more.model_config.zones.front().watermarks->high, 768u);
  EXPECT_EQ(more.counters.reclaim_allowance_pages, 576u);
  EXPECT_EQ(more.counters.kswapd_reclaimed_pages + more.model_counters.direct_reclaimed_pages, 576u);
  EXPECT_TRUE(failures_with(more, FailureCause::Watermark).empty());
  EXPECT_EQ(more.counters.model_served_kernel_failed, 200u);

  // The order-3 request then fails by fragmentation (576 - 7 above 3/8 of 512, 192): only
  // order-0 pages are ever free.
  const auto frag = failures_with(more, FailureCause::Fragmentation);
  ASSERT_EQ(frag.size(), 1u);
  EXPECT_EQ(frag.front().order, 3u);
  EXPECT_EQ(frag.front().state.free_pages, 576);
  EXPECT_EQ(frag.front().state.largest_free_order, 0);
  for (const ReplayResult* r : {&recorded, &more}) EXPECT_FALSE(r->invariant_violation.has_value());
}

// A lower min_free_kbytes is no free memory: kswapd stops reclaiming that much earlier
// (mm/vmscan.c:balance_pgdat stops once pgdat_balanced finds the zone above high), so what it
// reclaimed in the recording beyond the what-if's high mark stays in use. 400 pages free (every
// other page); cat takes 220 of them (180 left: between low 160 and high 192, no reclaim);
// kswapd0 frees 100 of cat's pages (280); a softirq burst of 200 GFP_ATOMIC pages then leaves
// the kernel 80, above the 48 its reserve goes down to (128 - 64 - 16): no failure. At
// min_free_kbytes 256 the marks are 64/80/96, 96 below the recorded high: the model keeps 96
// of kswapd's 100 frees in use (each while the zone is above 96), so the burst starts from
// 184 and is served while more than 24 pages (64 - 32 - 8) are free: 160 served, 40 fail.
// cat's next request, at 24 free (below min 64), direct-reclaims the withheld pages first.
// Before, the what-if freed all 100 and predicted no failure at a lower min either.
TEST(ReplaySimulate, ALowerMinFreeKbytesLeavesKswapdsRecordedReclaimUndone) {
  std::string t = kHeader;
  t += "!start_ts 100\n!start_free";
  for (int i = 0; i < 400; ++i) t += fmt::format(" 0x{:x}+1", 0x10000 + 2 * i);
  t += "\n";
  std::uint64_t ts = 1000;
  for (int i = 0; i < 220; ++i, ts += 10'000) {
    t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=1 pid=50 comm=cat ctx=task\n", ts,
                     0x10000 + 2 * i);
  }
  for (int i = 0; i < 100; ++i, ts += 10'000) {
    t += fmt::format("{} free pfn=0x{:x} order=0 cpu=1 pid=40 comm=kswapd0 ctx=task\n", ts, 0x10000 + 2 * i);
  }
  // The kernel's blocks: the 180 cat never had, then 20 of those kswapd freed.
  for (int i = 0; i < 200; ++i, ts += 250) {
    const int page = i < 180 ? 220 + i : i - 180;
    t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=0 gfp=GFP_ATOMIC cpu=0 pid=0 comm=swapper/0 ctx=softirq\n", ts,
                     0x10000 + 2 * page);
  }
  t += fmt::format("{} alloc pfn=0x{:x} order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=1 pid=50 comm=cat ctx=task\n",
                   ts + 1'000, 0x10000 + 2 * 20);
  ReplayOptions recorded = simulate(false);
  recorded.what_if.watermark_boost_factor = 0;  // no boost from the atomic pages' fallbacks
  ReplayOptions lower = recorded;
  lower.what_if.min_free_kbytes = 256;
  const ReplayResult r = replay_text(t, recorded);
  const ReplayResult l = replay_text(t, lower);

  EXPECT_EQ(r.counters.withheld_reclaim_pages, 0u);
  EXPECT_EQ(r.failures.by_class(FailureClass::Atomic), 0u);

  ASSERT_TRUE(l.model_config.zones.front().watermarks.has_value());
  EXPECT_EQ(l.model_config.zones.front().watermarks->high, 96u);
  EXPECT_EQ(l.counters.withheld_reclaim_pages, 96u);
  EXPECT_EQ(l.failures.by_class(FailureClass::Atomic), 40u);
  for (const auto& f : failures_with(l, FailureCause::Watermark)) EXPECT_EQ(f.state.free_pages, 24);
  EXPECT_EQ(l.counters.model_failed_kernel_succeeded, 40u);
  EXPECT_GT(l.model_counters.direct_reclaimed_pages, 0u);  // cat's request: the withheld pages
  EXPECT_EQ(l.counters.oom_kills, 0u);
  for (const ReplayResult* x : {&r, &l}) EXPECT_FALSE(x->invariant_violation.has_value()) << *x->invariant_violation;
}

// The watermark boost lives until kswapd's pass ends (mm/vmscan.c:balance_pgdat takes it back
// at its end, balanced or not). With the recorded settings the model's kswapd may reclaim
// nothing (the recording's frees are the kernel's own reclaim), so its pass ends at its first
// step and the boost goes, though it holds reclaimable pages. 400 pages free, every other
// page, all movable (watermark_boost_factor 15000 by default: boost_watermark's cap is
// 192 * 1.5 = 288, raised to a pageblock, 512). A page-cache page (movable, by a task that may
// reclaim: the model could evict it), then a GFP_KERNEL request, placed by the model's lists,
// that finds no unmovable page and claims from a movable pageblock: boost 512, kswapd woken.
// 100 us later a movable GFP_NOWAIT request: 398 free, min 128 once the boost is gone, served;
// had the boost stayed, min + boost = 640 would have failed it (it cannot reclaim).
TEST(ReplaySimulate, TheBoostEndsWithKswapdsPassEvenWhenItHasNothingToReclaim) {
  std::string t = kHeader;
  t += "!start_ts 100\n!start_free";
  for (int i = 0; i < 400; ++i) t += fmt::format(" 0x{:x}+1", 0x10000 + 2 * i);
  t += "\n500 alloc pfn=0x10004 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=50 comm=cat ctx=task\n";
  t += "1000 alloc pfn=0x10000 order=0 mt=0 gfp=GFP_KERNEL cpu=0 pid=50 comm=cat ctx=task\n";
  t += "101000 alloc pfn=0x10002 order=0 mt=1 gfp=GFP_NOWAIT|__GFP_MOVABLE cpu=0 pid=50 comm=cat ctx=task\n";
  ReplayOptions o = simulate(false);
  o.what_if.model_placement = true;
  const ReplayResult r = replay_text(t, o);
  EXPECT_EQ(r.model_counters.boosts, 1u);
  EXPECT_EQ(r.counters.kswapd_runs, 1u);
  EXPECT_EQ(r.counters.kswapd_reclaimed_pages, 0u);
  EXPECT_EQ(r.counters.both_succeeded, 3u);
  EXPECT_EQ(r.failures.total(), 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // Recorded with factor 0 (no boost), simulated with 15000: the whole boost, 512 pages, is
  // reclaim the recording does not hold, and kswapd evicts the page-cache page before its
  // pass ends.
  std::string unboosted = t;
  unboosted.insert(unboosted.find("!option"), "!sysctl watermark_boost_factor=0\n");
  ReplayOptions raised = o;
  raised.what_if.watermark_boost_factor = 15000;
  const ReplayResult b = replay_text(unboosted, raised);
  EXPECT_EQ(b.model_counters.boosts, 1u);
  EXPECT_EQ(b.counters.kswapd_runs, 1u);
  EXPECT_EQ(b.counters.reclaim_allowance_pages, 0u);
  EXPECT_EQ(b.counters.kswapd_reclaimed_pages, 1u);
  EXPECT_EQ(r.counters.kswapd_reclaimed_pages, 0u);
  EXPECT_EQ(b.failures.total(), 0u);
}

// With the kernel's kswapd passes recorded (trace format 1.8), mirror's boost follows the
// kernel's: each fallback below pageblock order went through try_to_claim_block, which boosts
// by a pageblock (512 pages here; the cap is 1.5 x high = 288, raised to a pageblock), and the
// end of a pass takes back the boost it found at its start (mm/vmscan.c:balance_pgdat's
// zone_boosts). The failed requests show the mark mirror tested: min 128, plus the boost.
// Extfrag at 1000: 512. A pass from 1100 to 3000 found 512 and takes it back: at 2000 the
// mark is 640, at 4000 128. A pass from 4500 (found 0) sees a fallback at 5000 (512): its end
// at 6000 takes nothing back, so the mark is 640 at 7000, until the pass from 8000 to 9000
// ends: 128 at 10000.
TEST(ReplayMirror, WithTheKernelsKswapdPassesTheBoostFollowsItsFallbacksAndThePassesEnds) {
  std::string t = kHeader;
  t.replace(t.find("kmem:mm_page_alloc_extfrag"), std::string("kmem:mm_page_alloc_extfrag").size(),
            "kmem:mm_page_alloc_extfrag,vmscan:mm_vmscan_kswapd_wake,vmscan:mm_vmscan_kswapd_sleep");
  t += "!start_ts 100\n!start_free 0x10000+64\n";
  const auto failed = [](int ts) {
    return fmt::format("{} alloc pfn=failed order=0 mt=1 gfp=GFP_NOWAIT|__GFP_MOVABLE cpu=0 pid=50 comm=cat ctx=task\n",
                       ts);
  };
  const auto kswapd = [](int ts, const char* kind) {
    return fmt::format("{} kswapd_{} node=0{} cpu=1 pid=30 comm=kswapd0 ctx=task\n", ts, kind,
                       std::string(kind) == "wake" ? " order=0" : "");
  };
  const auto fallback = [](int ts) {
    return fmt::format("{} extfrag pfn=0x10000 order=0 mt=0 fb_order=0 fb_mt=1 owner=0 cpu=0 pid=50 comm=cat ctx=task\n",
                       ts);
  };
  t += fallback(1000) + kswapd(1100, "wake") + failed(2000) + kswapd(3000, "sleep") + failed(4000) +
       kswapd(4500, "wake") + fallback(5000) + kswapd(6000, "sleep") + failed(7000) + kswapd(8000, "wake") +
       kswapd(9000, "sleep") + failed(10000);
  const ReplayResult r = replay_text(t, mirror());
  ASSERT_EQ(r.failures.total(), 4u);
  const std::vector<std::int64_t> expected = {640, 128, 640, 128};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.failures.records()[i].state.watermark_pages, expected[i]) << "failure " << i;
  }
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // Without the passes in the trace the boost goes with the next kswapd wake-up, as before:
  // the fallbacks do not raise it.
  std::string unrecorded = t;
  const std::string events = ",vmscan:mm_vmscan_kswapd_wake,vmscan:mm_vmscan_kswapd_sleep";
  unrecorded.erase(unrecorded.find(events), events.size());
  const ReplayResult u = replay_text(unrecorded, mirror());
  ASSERT_EQ(u.failures.total(), 4u);
  for (const auto& f : u.failures.records()) EXPECT_EQ(f.state.watermark_pages, 128);
}

// One CPU and one 8192-page zone (large enough for mobility grouping) with watermarks of a
// page or two: the placement tests below.
constexpr const char* kOneCpuZoneHeader =
    "!labyrinth-text 1\n!kernel 6.18.0-test\n!cpus 1\n!max_order 10\n!pageblock_order 9\n"
    "!sysctl min_free_kbytes=4\n"
    "!zone node=0 name=Normal start_pfn=0x10000 spanned=8192 managed=8192 min=1 low=2 high=3 "
    "protection=0,0,0,0,0\n";

// The kernel's lists gave the first page of a free order-9 block to an order-0 request, where
// the model's own lists would give the lone free page at 0x10300 (the smallest block first;
// 32 more free pages at 0x10340 keep the watermark out of it):
// the kernel then failed an order-9 request. Taking the recorded page where it is free keeps
// the model's layout the kernel's, and the model fails it too; the lists' own pick
// (--model-placement) keeps the order-9 block whole and serves it.
TEST(ReplaySimulate, TakesTheKernelsPageWhereItIsFree) {
  const std::string text = std::string(kOneCpuZoneHeader) +
      "!start_ts 500\n!start_free 0x10000+512 0x10300+1 0x10340+32\n"
      "1000 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=9 comm=a ctx=task\n"
      "2000 alloc pfn=failed order=9 mt=1 gfp=GFP_HIGHUSER_MOVABLE|__GFP_NORETRY cpu=0 pid=9 comm=a ctx=task\n";
  const ReplayResult recorded = replay_text(text, simulate(false));
  EXPECT_FALSE(recorded.what_if.model_placement);
  EXPECT_EQ(recorded.counters.both_failed, 1u);
  EXPECT_EQ(recorded.counters.model_served_kernel_failed, 0u);
  ASSERT_EQ(recorded.failures.total(), 1u);
  EXPECT_EQ(recorded.failures.records().front().cause, FailureCause::Fragmentation);

  ReplayOptions own = simulate(false);
  own.what_if.model_placement = true;
  const ReplayResult lists = replay_text(text, own);
  EXPECT_EQ(lists.counters.both_failed, 0u);
  EXPECT_EQ(lists.counters.model_served_kernel_failed, 1u);
  for (const ReplayResult* r : {&recorded, &lists}) EXPECT_FALSE(r->invariant_violation.has_value());
}

// The kernel served an order-9 block where the model has none free: a page the model guessed
// compaction's free scanner took sits in it (a fast isolation names only its range and size;
// with no single free page in the range, the model takes its pool's page from the smallest
// free block of the zone, the head of 0x10000). The kernel's compaction freed its block; the
// model moves its page out as compaction does (to the free scanner's first block from the
// zone's end, the block at 0x11e00 that a free made free at 1500, 8 pages that also keep the
// order-9 request above its watermark: 519 - 511 > 2) and serves the block where the kernel
// did. The kernel's scanner then took 0x11e00 and freed the copy placed there at 3000: the
// model's page comes back from its new frame. The lists' own placement (--model-placement)
// does not follow the kernel's block.
TEST(ReplaySimulate, CompactsTheKernelsBlockWhereTheModelHasNoFreeBlock) {
  const std::string text = std::string(kOneCpuZoneHeader) +
      "!start_ts 500\n!start_free 0x10000+512\n"
      "1000 isolate pfn=0x10000 order=0 range=512 taken=1 fast=1 cpu=0 pid=9 comm=a ctx=task\n"
      "1500 free pfn=0x11e00 order=3 cpu=0 pid=9 comm=a ctx=task\n"
      "2000 alloc pfn=0x10000 order=9 mt=1 gfp=GFP_NOWAIT|__GFP_MOVABLE|__GFP_COMP cpu=0 pid=9 comm=a ctx=task\n"
      "3000 free pfn=0x11e00 order=0 cpu=0 pid=9 comm=a ctx=task\n";
  const ReplayResult recorded = replay_text(text, simulate(false));
  EXPECT_EQ(recorded.counters.isolated_pages, 1u);
  EXPECT_EQ(recorded.counters.kernel_block_compactions, 1u);
  EXPECT_EQ(recorded.counters.compaction_migrated_pages, 1u);
  EXPECT_EQ(recorded.counters.both_succeeded, 1u);
  EXPECT_EQ(recorded.failures.total(), 0u);
  EXPECT_EQ(recorded.quality.get(DataQuality::free_of_unmapped_page), 0u);

  ReplayOptions own = simulate(false);
  own.what_if.model_placement = true;
  const ReplayResult lists = replay_text(text, own);
  EXPECT_EQ(lists.counters.kernel_block_compactions, 0u);
  EXPECT_EQ(lists.counters.model_failed_kernel_succeeded, 1u);
  ASSERT_EQ(lists.failures.total(), 1u);
  EXPECT_EQ(lists.failures.records().front().cause, FailureCause::Fragmentation);
  for (const ReplayResult* r : {&recorded, &lists}) EXPECT_FALSE(r->invariant_violation.has_value()) << *r->invariant_violation;
}

// --- frees the model cannot pair, counted and never fatal -----------------------------------

TEST(ReplayMirror, UnknownAndDoubleFreesAreCountedNotFatal) {
  const ReplayResult r = replay_text(read_text(case_path("bad_frees.txt")), mirror());
  EXPECT_EQ(r.counters.events, 13u);
  EXPECT_EQ(r.quality.get(DataQuality::free_of_unknown_page), 1u);  // 0x10100, in use before the recording
  EXPECT_EQ(r.quality.get(DataQuality::double_free), 1u);           // 0x10100 again (0x10031 was memcg)
  EXPECT_EQ(r.quality.get(DataQuality::outside_zones), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::free_split_allocation), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::memcg_charge_failures), 1u);
  ASSERT_EQ(r.failures.total(), 1u);
  EXPECT_EQ(r.failures.records().front().cause, FailureCause::MemcgCharge);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplaySimulate, UnknownAndDoubleFreesAreCountedNotFatal) {
  const ReplayResult r = replay_text(read_text(case_path("bad_frees.txt")), simulate());
  EXPECT_EQ(r.counters.events, 13u);
  EXPECT_EQ(r.quality.get(DataQuality::free_of_unknown_page), 1u);
  EXPECT_GE(r.quality.get(DataQuality::free_of_unmapped_page), 1u);  // the second free of 0x10100
  EXPECT_EQ(r.quality.get(DataQuality::outside_zones), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::free_split_allocation), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::memcg_charge_failures), 1u);
  EXPECT_EQ(r.counters.model_served_kernel_failed, 0u);  // the memcg failure is not a disagreement
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// --- per-CPU refills, direct takes, drains, pageblock claims --------------------------------

TEST(ReplayMirror, RefillsDirectTakesAndDrainsKeepBuddyAndPcpApart) {
  const std::string text = std::string(kHeader) + R"(!start_free 0x10000+1024
1000 pcp_refill pfn=0x10000 order=0 mt=1 refill=1 cpu=0
1001 pcp_refill pfn=0x10001 order=0 mt=1 refill=1 cpu=0
1002 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=1 ctx=task
1100 pcp_refill pfn=0x10010 order=4 mt=0 refill=0 cpu=1
1101 alloc pfn=0x10010 order=4 mt=0 gfp=GFP_KERNEL|__GFP_COMP cpu=1 pid=2 ctx=task
1200 free pfn=0x10000 order=0 cpu=0 pid=1 ctx=task
)";
  testing::TempDir dir;
  const std::string path = testing::trace_from_text(dir, text);
  const ReplayResult r = testing::replay_file(path, mirror());
  EXPECT_EQ(r.counters.pcp_refills, 2u);
  EXPECT_EQ(r.counters.pcp_direct_takes, 1u);
  EXPECT_EQ(r.counters.allocations, 2u);
  EXPECT_EQ(r.quality.get(DataQuality::alloc_range_resync), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 0u);
  // 0x10001 is still on CPU 0's list and 0x10000 went back to it: 2 pcp pages, not buddy.
  const auto& z = r.timeline.front().samples.back();
  EXPECT_EQ(z.pcp_pages, 2u);
  EXPECT_EQ(z.free_pages, 1024u - 2u - 16u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

TEST(ReplayMirror, DrainOfAPageOnAPcpListAtTheStartFreesItIntoTheBuddy) {
  const std::string text = std::string(kHeader) + R"(!start_free 0x10000+1023
1000 pcp_drain pfn=0x103ff order=0 mt=1 cpu=0
)";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.quality.get(DataQuality::drain_of_start_pcp_page), 1u);
  const auto& s = r.timeline.front().samples.back();
  EXPECT_EQ(s.free_pages, 1024u);
  EXPECT_EQ(s.nr_free[10], 1u);  // merged back into one order-10 block
  EXPECT_EQ(s.pcp_pages, 0u);
}

TEST(ReplayMirror, ExtfragClaimChangesThePageblockAndStealRefillsThePcpList) {
  const std::string text = std::string(kHeader) + R"(!start_free 0x10000+2048
1000 extfrag pfn=0x10200 order=0 mt=0 fb_order=9 fb_mt=1 owner=1 cpu=0
1001 alloc pfn=0x10200 order=0 mt=0 gfp=GFP_KERNEL cpu=0 pid=3 ctx=task
1100 extfrag pfn=0x10400 order=0 mt=2 fb_order=3 fb_mt=1 owner=0 cpu=1
1200 pcp_refill pfn=0x10600 order=4 mt=0 refill=0 cpu=0
1201 alloc pfn=0x10600 order=4 mt=0 gfp=GFP_KERNEL|__GFP_COMP cpu=0 pid=3 ctx=task
)";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.counters.extfrag_events, 2u);
  EXPECT_EQ(r.counters.pageblock_changes, 1u);
  EXPECT_EQ(r.counters.pcp_refills, 2u);  // the claimed page (then allocated) and the stolen one
  EXPECT_EQ(r.counters.allocations, 2u);
  EXPECT_EQ(r.counters.pcp_direct_takes, 1u);
  const auto& s = r.timeline.front().samples.back();
  EXPECT_EQ(s.pcp_pages, 1u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// --- the high-order atomic reserve (reserve_highatomic_pageblock is not traced) --------------

// 65536 pages: the reserve may reach ALIGN(655, 512) = 1024 pages, two pageblocks. Pageblock
// 0x10000 holds a free order-6 and an order-5 block (96 pages), pageblock 0x10200 30 free
// order-1 blocks (60 pages): 156 free, under the low watermark (160).
std::string highatomic_case() {
  std::string t = R"(!labyrinth-text 1
!kernel 6.18.0-test
!cpus 2
!max_order 10
!pageblock_order 9
!option events=kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_alloc_zone_locked,kmem:mm_page_pcpu_drain,kmem:mm_page_alloc_extfrag
!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 100
!start_free 0x10000+96)";
  for (int i = 0; i < 30; ++i) t += fmt::format(" 0x{:x}+2", 0x10200 + 4 * i);
  return t + "\n";
}

// The check made with the kernel's own counters, by hand from __zone_watermark_ok: free pages
// less the highatomic ones a request without ALLOC_RESERVES may not use and 2^order - 1, above
// the effective min; for order > 0, a block on a list the request may take from.
TEST(KernelCounters, TheChecksCauseComesFromTheKernelsCounts) {
  ZoneState s;
  s.zone = 0;
  s.free_pages = 900;
  s.effective_min_pages = 128;
  s.block_lists = 0x7;  // Unmovable, Movable, Reclaimable: a GFP_NOWAIT request
  s.reserves_usable = false;
  traces::ZoneCounters c;
  c.free_pages = 200;
  c.highatomic_free = 80;
  // order 0: 200 - 80 - 0 - 128 = -8: the reserve's pages decide it (without them, +72).
  KernelCheck k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.margin_pages, -8);
  EXPECT_EQ(k.cause, FailureCause::Reserve);
  EXPECT_EQ(k.model_free_error, 700);
  // a request that may use the reserve (ALLOC_RESERVES): 200 - 0 - 128 = 72, it passes.
  s.reserves_usable = true;
  k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.margin_pages, 72);
  EXPECT_FALSE(k.cause.has_value());
  // order 3 with only a HighAtomic block of order 3 (bit 3 * 4 + 3) and Movable ones of order 2:
  // 200 - 7 - 128 = 65 above, but no block it may take: the reserve holds it.
  c.lists = 1ull << 15 | 1ull << 9;
  k = check_with_kernel_counters(s, 3, c);
  EXPECT_EQ(k.margin_pages, 65);
  EXPECT_FALSE(k.block_available);
  EXPECT_EQ(k.cause, FailureCause::Reserve);
  // an ALLOC_HIGHATOMIC request may take the reserve's lists too
  s.block_lists = 0xf;
  EXPECT_FALSE(check_with_kernel_counters(s, 3, c).cause.has_value());
  // no block of the order anywhere: fragmentation
  c.lists = 1ull << 9;
  EXPECT_EQ(check_with_kernel_counters(s, 3, c).cause, FailureCause::Fragmentation);
  // below the min, whatever the lists: the watermark (a boost 64 above the model's raises it)
  c.free_pages = 150;
  c.boost = 64;
  k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.margin_pages, 150 - 128 - 64);
  EXPECT_EQ(k.cause, FailureCause::Watermark);
}

// A recording of a 2-CPU 6.18 kernel that read the zone counters at its failures (format 1.7).
constexpr std::string_view kZoneCountersHeader = R"(!labyrinth-text 1
!kernel 6.18.0-test
!cpus 2
!max_order 10
!pageblock_order 9
!node_zones DMA,DMA32,Normal,Movable,Device
!option events=kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_alloc_zone_locked,kmem:mm_page_pcpu_drain,bpf:zone_counters
)";

// With the per-CPU diffs (format 1.9) the same check runs on the exact count, counter + diffs
// (mm/vmstat.c: zone_page_state_snapshot adds each CPU's vm_stat_diff). Counter 120, min 128:
// 8 short; diffs +30: exact 150, 22 above: in this zone the counter's lag alone failed it.
// Diffs +5: exact 125, 3 short: the exact count fails too. Order 3 with no block of it: not
// the lag's doing.
TEST(KernelCounters, ThePerCpuDiffsSayWhetherTheCountersLagAloneFailedIt) {
  ZoneState s;
  s.zone = 0;
  s.free_pages = 160;
  s.effective_min_pages = 128;
  s.block_lists = 0x7;
  traces::ZoneCounters c;
  c.free_pages = 120;
  c.lists = 0x1;  // an Unmovable order-0 block
  KernelCheck k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.margin_pages, -8);
  EXPECT_FALSE(k.exact_margin_pages.has_value());
  EXPECT_FALSE(k.exact_count_passes());
  c.free_diffs = 30;
  k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.margin_pages, -8);
  EXPECT_EQ(k.exact_margin_pages, 22);
  EXPECT_EQ(k.model_free_error, 40);
  EXPECT_EQ(k.model_exact_free_error, 10);
  EXPECT_EQ(k.cause, FailureCause::Watermark);  // what the kernel's check read
  EXPECT_TRUE(k.exact_count_passes());
  c.free_diffs = 5;
  k = check_with_kernel_counters(s, 0, c);
  EXPECT_EQ(k.exact_margin_pages, -3);
  EXPECT_FALSE(k.exact_count_passes());
  // order 3: 120 + 30 - 7 - 128 = 15 above, but no order-3 block: the lag did not decide it
  c.free_diffs = 30;
  k = check_with_kernel_counters(s, 3, c);
  EXPECT_EQ(k.exact_margin_pages, 15);
  EXPECT_FALSE(k.block_available);
  EXPECT_FALSE(k.exact_count_passes());
  // the tally: two failures with diffs, one the lag's alone
  KernelCounterTally t;
  t.add(check_with_kernel_counters(s, 0, c), true);
  c.free_diffs = 5;
  t.add(check_with_kernel_counters(s, 0, c), false);
  c.free_diffs.reset();
  t.add(check_with_kernel_counters(s, 0, c), false);
  EXPECT_EQ(t.failures, 3u);
  EXPECT_EQ(t.with_diffs, 2u);
  EXPECT_EQ(t.lag_only, 1u);
  EXPECT_EQ(t.exact_free_errors, (std::vector<std::uint64_t>{10, 35}));
}

// Whether the lag alone failed a request is asked of every zone it may use. A GFP_NOWAIT request
// (order 0, min with no reduction) in Normal (min 128) or DMA32 (min 64 + lowmem_reserve 100 =
// 164). At 1000: Normal 100 + 20 = 120 exact, 8 short; DMA32 150 + 20 = 170 exact, 6 above, its
// counter 14 short: no counter passes, DMA32's exact count does: the lag alone. At 2000 DMA32's
// counter reads 170 and passes: the counters did not fail it on the watermark. At 3000 nothing
// was read beside the counters: no verdict.
TEST(ReplayMirror, TheLagAloneFailedARequestWhenAZonesExactCountPassesAndNoCounterDoes) {
  const std::string text = std::string(kZoneCountersHeader) + R"(!zone node=0 name=DMA32 start_pfn=0x1000 spanned=4096 managed=4096 min=64 low=80 high=96 protection=0,0,100,100,0
!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 100
!start_free 0x1000+2048 0x10000+512
1000 zone_counters node=0 zone=1 free=150 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 diffs=20 cpu=1
1000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 diffs=20 cpu=1
1000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
2000 zone_counters node=0 zone=1 free=170 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 diffs=20 cpu=1
2000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 diffs=20 cpu=1
2000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
3000 zone_counters node=0 zone=1 free=150 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 cpu=1
3000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 cpu=1
3000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
)";
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 3u);
  const auto& f = r.failures.records();
  EXPECT_TRUE(f[0].kernel_lag_alone);
  EXPECT_NE(f[0].evidence.find("a zone's exact count passes the check: the counter's lag alone failed the request"),
            std::string::npos)
      << f[0].evidence;
  EXPECT_FALSE(f[1].kernel_lag_alone);
  EXPECT_FALSE(f[2].kernel_lag_alone);
  const KernelCounterTally& t = r.failures.kernel_counters();
  EXPECT_EQ(t.failures, 3u);
  EXPECT_EQ(t.with_diffs, 2u);
  EXPECT_EQ(t.lag_only, 1u);
  // Simulate asks the same before it serves them, and counts the request in its class's row.
  const ReplayResult sim = replay_text(text, simulate());
  EXPECT_EQ(sim.model_state_at_kernel_failures.lag_only, 1u);
  EXPECT_EQ(sim.agreement.by_class(FailureClass::Opportunistic).kernel_failed_lag_only, 1u);
  EXPECT_EQ(sim.agreement.atomic_requests().kernel_failed_lag_only, 1u);
}

// Mirror's state serves a GFP_NOWAIT request far above the min (512 free, min 128); the kernel's
// own counters, read at its failure, say 100 free: the cause is theirs, and the model's verdict
// stays beside it. A second failure without counters keeps the model's.
TEST(ReplayMirror, TheKernelsCountersAtAFailureDecideItsCause) {
  const std::string text = std::string(kZoneCountersHeader) + R"(!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 100
!start_free 0x10000+512
1000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x7 diffs=40 cpu=1
1000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
2000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
)";
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 2u);
  const FailureRecord& f = r.failures.records()[0];
  ASSERT_TRUE(f.kernel.has_value());
  EXPECT_EQ(f.cause, FailureCause::Watermark);
  EXPECT_EQ(f.model_cause, FailureCause::Unexplained);
  EXPECT_EQ(f.kernel->margin_pages, 100 - 128);
  EXPECT_EQ(f.kernel->model_free_error, 512 - 100);
  EXPECT_NE(f.evidence.find("the kernel's counters at the failure: 100 free pages, 28 short of the effective min "
                            "(+40 per-CPU changes not yet folded in: the exact count 12 above it)"),
            std::string::npos)
      << f.evidence;
  EXPECT_TRUE(f.kernel_lag_alone);
  EXPECT_EQ(f.kernel->model_exact_free_error, 512 - 140);
  const FailureRecord& g = r.failures.records()[1];
  EXPECT_FALSE(g.kernel.has_value());
  EXPECT_EQ(g.cause, FailureCause::Unexplained);
  const KernelCounterTally& t = r.failures.kernel_counters();
  EXPECT_EQ(t.failures, 1u);
  EXPECT_EQ(t.model_cause_differed, 1u);
  EXPECT_EQ(t.their_check_passes(), 0u);
  EXPECT_EQ(t.free_error_quantile(1.0), 412u);
  EXPECT_EQ(t.lag_only, 1u);
  EXPECT_EQ(t.exact_free_error_quantile(1.0), 372u);
  // Simulate serves both (512 free, min 128) and sets its state beside the kernel's at the
  // failure that carries counters: 412 pages more than their count.
  const ReplayResult sim = replay_text(text, simulate());
  EXPECT_EQ(sim.counters.model_served_kernel_failed, 2u);
  const KernelCounterTally& st = sim.model_state_at_kernel_failures;
  EXPECT_EQ(st.failures, 1u);
  EXPECT_EQ(st.their_check_passes(), 0u);
  EXPECT_EQ(st.free_errors, (std::vector<std::uint64_t>{412}));
  EXPECT_EQ(st.lag_only, 1u);
}

// Simulate sorts the kernel's failures by what failed them on the kernel's own counters and free
// lists, and counts the ones it served. Normal: min 128 (GFP_NOWAIT has no reduction), the model
// starts with 120 free pages.
// - 1000: order 0, their count 100: the watermark; the model, at 120 <= 128, fails it too.
// - 2000: order 0, their count 300 with an order-3 block (bit 12): their check passes (the
//   request failed elsewhere, or after the counters changed); the model fails it.
// - 3000: the kernel frees an order-5 block from before the recording: the model has 152.
// - 4000: order 3; their count 400 - 7 - 128 = 265 above the min, but their lists hold only
//   order-0 and order-1 blocks (bits 0 and 4): fragmentation. The model, 152 - 7 = 145 above
//   128 with blocks of order 3 and up, serves it from a block the kernel did not have.
TEST(ReplaySimulate, TheKernelsFailuresAreSortedByWhatFailedThemOnItsOwnCountersAndLists) {
  const std::string text = std::string(kZoneCountersHeader) + R"(!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 100
!start_free 0x10000+120
1000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 cpu=1
1000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
2000 zone_counters node=0 zone=2 free=300 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1000 cpu=1
2000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
3000 free pfn=0x10100 order=5 cpu=1 pid=7 ctx=task
4000 zone_counters node=0 zone=2 free=400 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x11 cpu=1
4000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
)";
  const ReplayResult sim = replay_text(text, simulate());
  EXPECT_EQ(sim.counters.model_served_kernel_failed, 1u);
  const KernelCounterTally& t = sim.model_state_at_kernel_failures;
  ASSERT_EQ(t.failures, 3u);
  const auto row = [&](FailureCause c) { return t.by_their_cause[static_cast<std::size_t>(c)]; };
  EXPECT_EQ(row(FailureCause::Fragmentation).failures, 1u);
  EXPECT_EQ(row(FailureCause::Fragmentation).model_served, 1u);
  EXPECT_EQ(row(FailureCause::Watermark).failures, 1u);
  EXPECT_EQ(row(FailureCause::Watermark).model_served, 0u);
  EXPECT_EQ(row(FailureCause::Reserve).failures, 0u);
  EXPECT_EQ(t.by_their_cause[KernelCounterTally::kTheyPass].failures, 1u);
  EXPECT_EQ(t.by_their_cause[KernelCounterTally::kTheyPass].model_served, 0u);
  EXPECT_EQ(t.their_check_passes(), 1u);

  const auto causes = replay_to_json(sim, 10)["summary"]["simulation"]["model_state_at_kernel_failures"]["by_their_cause"];
  EXPECT_EQ(causes["fragmentation"]["failures"], 1);
  EXPECT_EQ(causes["fragmentation"]["model_served"], 1);
  EXPECT_EQ(causes["watermark"]["model_served"], 0);
  EXPECT_EQ(causes["none"]["failures"], 1);
  EXPECT_FALSE(causes.contains("reserve"));
  const std::string report = testing::text_report(sim);
  EXPECT_NE(report.find("by their counters and free lists: watermark 1 (the model served 0), fragmentation 1 (the model "
                        "served 1), their check passes 1 (the model served 0)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("(1 served from a free block of the order where the kernel had none it could use"), std::string::npos)
      << report;

  // Mirror's tally of the same failures has the causes and no verdict of the model's.
  const ReplayResult mir = replay_text(text, mirror());
  const KernelCounterTally& m = mir.failures.kernel_counters();
  EXPECT_EQ(m.by_their_cause[static_cast<std::size_t>(FailureCause::Fragmentation)].failures, 1u);
  EXPECT_EQ(m.by_their_cause[static_cast<std::size_t>(FailureCause::Fragmentation)].model_served, 0u);
  EXPECT_EQ(mir.missed.total(), 0u);
  EXPECT_TRUE(replay_to_json(mir, 10)["missed"].is_null());
}

// The kernel's failures the model served are listed with both sides: the model's state before
// it served the request and the kernel's counters there. The case above: the order-3 request at
// 4000, the model 152 - 7 - 128 = 17 pages above its min with its largest free block of order 6
// (120 = 64 + 32 + 16 + 8 from the start, and the kernel's order-5 block), the kernel 265 above
// with no block of the order. No watermark boost: the model's order-3 steal would raise its min.
TEST(ReplaySimulate, TheKernelsFailuresTheModelServedAreListedWithTheModelsStateAndTheirCounters) {
  const std::string text = std::string(kZoneCountersHeader) + R"(!sysctl watermark_boost_factor=0
!zone node=0 name=Normal start_pfn=0x10000 spanned=65536 managed=65536 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 100
!start_free 0x10000+120
1000 zone_counters node=0 zone=2 free=100 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x1 cpu=1
1000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
3000 free pfn=0x10100 order=5 cpu=1 pid=7 ctx=task
4000 zone_counters node=0 zone=2 free=400 highatomic_free=0 highatomic_reserved=0 boost=0 lists=0x11 cpu=1
4000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
4500 free pfn=0x10200 order=6 cpu=1 pid=7 ctx=task
5000 alloc pfn=failed order=0 mt=0 gfp=GFP_NOWAIT cpu=1 pid=7 ctx=task
)";
  const ReplayResult sim = replay_text(text, simulate());
  // 5000: with 64 more pages free the model serves an order-0 request too; no counters were read.
  ASSERT_EQ(sim.missed.total(), 2u);
  const FailureRecord& f = sim.missed.records()[0];
  EXPECT_EQ(f.ts_ns, 4000u);
  EXPECT_EQ(f.order, 3u);
  EXPECT_TRUE(f.kernel_failed);
  EXPECT_EQ(f.cause, FailureCause::Fragmentation);
  EXPECT_EQ(f.state.margin_pages(), 17);
  EXPECT_EQ(f.state.largest_free_order, 6);
  ASSERT_TRUE(f.kernel.has_value());
  EXPECT_EQ(f.kernel->margin_pages, 265);
  EXPECT_NE(f.evidence.find("the model served it, 17 free pages above its effective min, largest free order 6; the "
                            "kernel's counters at the failure: 400 free pages, 265 above the effective min, no free "
                            "block of order 3 or more on a list it may use"),
            std::string::npos)
      << f.evidence;
  const FailureRecord& g = sim.missed.records()[1];
  EXPECT_FALSE(g.kernel.has_value());
  EXPECT_EQ(g.cause, FailureCause::Unexplained);
  EXPECT_NE(g.evidence.find("the recorder read no counters at it"), std::string::npos) << g.evidence;
  // The model's own failure at 1000 is not among them.
  EXPECT_EQ(sim.failures.total(), 1u);

  const auto missed = replay_to_json(sim, 10)["missed"];
  EXPECT_EQ(missed["total"], 2);
  EXPECT_EQ(missed["items"][0]["cause"], "fragmentation");
  EXPECT_EQ(missed["items"][0]["free_above_min_pages"], 17);
  EXPECT_EQ(missed["items"][0]["kernel_counters"]["free_above_min_pages"], 265);
  EXPECT_TRUE(missed["items"][1]["kernel_counters"].is_null());
  const std::string report = testing::text_report(sim);
  EXPECT_NE(report.find("Missed: the kernel's failures the model served (2 of 2 shown)"), std::string::npos) << report;
  EXPECT_NE(report.find("fragmentation   0/Normal"), std::string::npos) << report;
}

// The kernel reserves the pageblock of a high-order GFP_ATOMIC request that the slow path
// served (get_page_from_freelist with ALLOC_HIGHATOMIC, after the fast path's low watermark
// failed): mirror does the same where the kernel would, and a GFP_NOWAIT order-3 request then
// fails because every free order-3 block left is in the reserve, which only ALLOC_HIGHATOMIC
// may take (__zone_watermark_ok). 156 - 8 = 148 free pages are above min + 7 = 135.
TEST(ReplayMirror, AHighOrderAtomicRequestFromTheSlowPathReservesItsPageblock) {
  const std::string text = highatomic_case() +
                           "1000 alloc pfn=0x10000 order=3 mt=0 gfp=GFP_ATOMIC|__GFP_COMP cpu=0 pid=0 ctx=softirq\n"
                           "2000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.counters.highatomic_reservations, 1u);
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Reserve);
  EXPECT_EQ(f.state.free_pages, 148);
  EXPECT_FALSE(f.state.block_available);
  EXPECT_EQ(f.state.reserve_blocks_at_order, 4u);  // orders 3, 4, 5 left of the order-6 block, and the order-5
  // The timeline shows the reserve: one pageblock, holding the 96 - 8 pages still free in it.
  const TimelineSample& s = r.timeline.front().samples.back();
  EXPECT_EQ(s.highatomic_reserved_pages, 512u);
  EXPECT_EQ(s.highatomic_free_pages, 88u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // Above the low watermark the fast path serves it: no reservation, and the order-3 request
  // would have been served (the failure is unexplained).
  std::string calm = text;
  calm.insert(calm.find("\n1000 alloc"), " 0x10400+512");
  const ReplayResult c = replay_text(calm, mirror());
  EXPECT_EQ(c.counters.highatomic_reservations, 0u);
  EXPECT_EQ(c.timeline.front().samples.back().highatomic_reserved_pages, 0u);
  EXPECT_EQ(c.timeline.front().samples.back().highatomic_free_pages, 0u);
  ASSERT_EQ(c.failures.total(), 1u);
  EXPECT_EQ(c.failures.records().front().cause, FailureCause::Unexplained);
}

// Where the recorder had fexit/move_freepages_block, the trace holds the kernel's own
// reservations and give-backs, and mirror guesses none: reserve_highatomic_pageblock runs
// inside get_page_from_freelist, so the move comes before its allocation's event, and a
// give-back (unreserve_highatomic_pageblock, here to Unmovable) empties the reserve.
TEST(ReplayMirror, RecordedPageblockMovesReplaceTheGuessedHighatomicReserve) {
  std::string head = highatomic_case();
  const std::string extfrag = "kmem:mm_page_alloc_extfrag";
  head.replace(head.find(extfrag), extfrag.size(), extfrag + ",fexit:move_freepages_block");
  const std::string atomic = "1000 alloc pfn=0x10000 order=3 mt=0 gfp=GFP_ATOMIC|__GFP_COMP cpu=0 pid=0 ctx=softirq\n";
  const std::string nowait =
      " alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";

  // No move recorded: no reservation, so the order-3 failure finds its blocks free and is put
  // down to the watermark, 13 pages above it (within the counters' drift).
  const ReplayResult unmoved = replay_text(head + atomic + "2000" + nowait, mirror());
  EXPECT_EQ(unmoved.counters.highatomic_reservations, 0u);
  ASSERT_EQ(unmoved.failures.total(), 1u);
  EXPECT_EQ(unmoved.failures.records().front().cause, FailureCause::Watermark);
  EXPECT_TRUE(unmoved.failures.records().front().state.block_available);

  const ReplayResult r = replay_text(head + "999 pageblock_move pfn=0x10000 order=0 mt=3 fb_mt=1 cpu=0 pid=0 ctx=softirq\n" +
                                         atomic + "2000" + nowait +
                                         "3000 pageblock_move pfn=0x10000 order=0 mt=0 fb_mt=3 cpu=1 pid=7 ctx=task\n",
                                     mirror());
  EXPECT_EQ(r.counters.highatomic_reservations, 1u);
  EXPECT_EQ(r.counters.pageblock_changes, 2u);
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Reserve);
  EXPECT_EQ(f.state.reserve_blocks_at_order, 4u);
  EXPECT_EQ(r.timeline.front().samples.back().highatomic_reserved_pages, 0u);  // given back
  EXPECT_EQ(r.quality.get(DataQuality::highatomic_reserve_shown), 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// A take from the highatomic list shows a reservation the model did not make; a take from
// the movable list of a reserved pageblock shows that direct reclaim unreserved it.
TEST(ReplayMirror, TakesFromTheFreeListsShowReservationsAndUnreservationsTheModelMissed) {
  const std::string text = highatomic_case() +
                           "1000 pcp_refill pfn=0x10000 order=3 mt=3 refill=0 cpu=0\n"
                           "1001 alloc pfn=0x10000 order=3 mt=0 gfp=GFP_ATOMIC|__GFP_COMP cpu=0 pid=0 ctx=softirq\n"
                           "2000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n"
                           "3000 pcp_refill pfn=0x10040 order=3 mt=1 refill=0 cpu=1\n"
                           "3001 alloc pfn=0x10040 order=3 mt=1 gfp=GFP_HIGHUSER_MOVABLE|__GFP_COMP cpu=1 pid=7 ctx=task\n"
                           "4000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.quality.get(DataQuality::highatomic_reserve_shown), 1u);
  EXPECT_EQ(r.quality.get(DataQuality::highatomic_unreserve_shown), 1u);
  EXPECT_EQ(r.counters.pageblock_changes, 2u);
  ASSERT_EQ(r.failures.total(), 2u);
  EXPECT_EQ(r.failures.records()[0].cause, FailureCause::Reserve);
  EXPECT_EQ(r.failures.records()[0].state.reserve_blocks_at_order, 4u);
  EXPECT_EQ(r.failures.records()[1].state.reserve_blocks_at_order, 0u);  // movable again
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// An atomic order-3 request may take from the highatomic reserve (ALLOC_HIGHATOMIC), so
// __zone_watermark_ok looks there too: the kernel failing one far above the watermark had no
// block of the order in the reserve either. The model's two (order 6 and 5, in the pageblock
// the drain shows reserved) are taken as in use by an unseen owner, and the same request a
// moment later fails on fragmentation: the other blocks are order 1.
TEST(ReplayMirror, AnAtomicFailureShowsTheHighatomicBlocksGoneToo) {
  const std::string text = highatomic_case() +
                           "1000 free pfn=0x10060 order=0 cpu=0 pid=7 comm=a ctx=task\n"
                           "1100 pcp_drain pfn=0x10060 order=0 mt=3 cpu=0\n"
                           "2000 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP cpu=1 "
                           "pid=0 ctx=softirq\n"
                           "3000 alloc pfn=failed order=3 mt=0 gfp=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP cpu=1 "
                           "pid=0 ctx=softirq\n";
  const ReplayResult r = replay_text(text, mirror());
  ASSERT_EQ(r.failures.total(), 2u);
  const FailureRecord& first = r.failures.records()[0];
  EXPECT_EQ(first.cause, FailureCause::Unexplained);
  EXPECT_TRUE(first.state.block_available);
  EXPECT_EQ(first.state.other_blocks_at_order, 0u);
  EXPECT_EQ(first.state.reserve_blocks_at_order, 2u);
  EXPECT_NE(static_cast<unsigned>(first.state.block_lists) & (1u << allocator::index_of(allocator::MigrateType::HighAtomic)), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::failure_shows_blocks_gone), 2u);
  EXPECT_EQ(r.failures.records()[1].cause, FailureCause::Fragmentation);
  EXPECT_EQ(r.failures.records()[1].state.reserve_blocks_at_order, 0u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;
}

// free_pcppages_bulk names the pageblock's type in every drain (get_pfnblock_migratetype):
// a drain into a highatomic pageblock shows a reservation the model did not make, and a
// GFP_NOWAIT order-3 request then finds its blocks only in the reserve. Free: 96 + 1 + 60 =
// 157 pages, 150 usable at order 3 above min + 7 = 135; the order-6 and order-5 blocks are
// in the reserved pageblock, the others are order 1.
TEST(ReplayMirror, ADrainIntoAHighatomicPageblockShowsTheReservation) {
  const std::string text = highatomic_case() +
                           "1000 free pfn=0x10060 order=0 cpu=0 pid=7 comm=a ctx=task\n"
                           "1100 pcp_drain pfn=0x10060 order=0 mt=3 cpu=0\n"
                           "2000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.quality.get(DataQuality::highatomic_reserve_shown), 1u);
  EXPECT_EQ(r.counters.pageblock_changes, 1u);
  ASSERT_EQ(r.failures.total(), 1u);
  const FailureRecord& f = r.failures.records().front();
  EXPECT_EQ(f.cause, FailureCause::Reserve);
  EXPECT_EQ(f.state.free_pages, 157);
  EXPECT_FALSE(f.state.block_available);
  EXPECT_EQ(f.state.reserve_blocks_at_order, 2u);
  EXPECT_FALSE(r.invariant_violation.has_value()) << *r.invariant_violation;

  // The same drain naming the movable type changes nothing: the model has the blocks, and
  // only the kernel's counter drift (2 CPUs x (160 - 128) / 2, 32 pages) could have failed it.
  std::string movable = text;
  movable.replace(movable.find("mt=3 cpu=0"), 4, "mt=1");
  const ReplayResult m = replay_text(movable, mirror());
  EXPECT_EQ(m.quality.get(DataQuality::highatomic_reserve_shown), 0u);
  ASSERT_EQ(m.failures.total(), 1u);
  EXPECT_TRUE(m.failures.records().front().state.block_available);
  EXPECT_EQ(m.failures.records().front().cause, FailureCause::Watermark);
  EXPECT_EQ(m.quality.get(DataQuality::failure_shows_blocks_gone), 0u);  // within the drift: no evidence
  EXPECT_NE(m.failures.records().front().evidence.find("22 pages above the effective min"), std::string::npos)
      << m.failures.records().front().evidence;

  // One free order-3 block in another pageblock, and 40 pages more in order-1 blocks: the model
  // serves the request from that block, 70 pages above min, beyond the drift. The kernel did
  // not: the evidence names how little stood between the request and the reserve.
  std::string one_block = text;
  std::string more = " 0x10400+8";
  for (int i = 0; i < 20; ++i) more += fmt::format(" 0x{:x}+2", 0x10600 + 4 * i);
  one_block.insert(one_block.find("\n1000 free"), more);
  one_block += "3000 alloc pfn=failed order=3 mt=0 gfp=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP cpu=1 pid=7 ctx=task\n";
  const ReplayResult o = replay_text(one_block, mirror());
  ASSERT_EQ(o.failures.total(), 2u);
  const FailureRecord& u = o.failures.records().front();
  EXPECT_EQ(u.cause, FailureCause::Unexplained);
  EXPECT_EQ(u.state.reserve_blocks_at_order, 2u);
  EXPECT_EQ(u.state.other_blocks_at_order, 1u);
  EXPECT_EQ(u.state.highatomic_free_pages, 97u);
  EXPECT_NE(u.evidence.find("outside the highatomic reserve (97 of the zone's 205 free pages) only 1 block of the "
                            "order was free: if the kernel had given it away unseen, or reserved its pageblock "
                            "(untraced: 1 reservation shown so far by later takes)"),
            std::string::npos)
      << u.evidence;
  // The failure shows the kernel had no such block: the model takes it (its count, 70 pages
  // above min, is beyond the drift), and the same request a moment later fails on the reserve.
  EXPECT_EQ(o.quality.get(DataQuality::failure_shows_blocks_gone), 1u);
  EXPECT_EQ(o.failures.records()[1].cause, FailureCause::Reserve);
  EXPECT_EQ(o.failures.records()[1].state.other_blocks_at_order, 0u);
  EXPECT_FALSE(o.invariant_violation.has_value()) << *o.invariant_violation;
}

// --- ordering -------------------------------------------------------------------------------

TEST(ReplayMirror, EventsOutOfOrderInTheFileAreSortedBeforeTheModelSeesThem) {
  // The free of 0x10000 is written before the allocation it follows in time.
  const std::string text = std::string(kHeader) + R"(!start_free 0x10000+1024
1000 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=0 pid=1 ctx=task
3000 free pfn=0x10000 order=0 cpu=1 pid=1 ctx=task
2000 free pfn=0x10000 order=0 cpu=0 pid=1 ctx=task
2500 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu=1 pid=1 ctx=task
)";
  const ReplayResult r = replay_text(text, mirror());
  EXPECT_EQ(r.quality.get(DataQuality::out_of_order_events), 2u);
  EXPECT_EQ(r.quality.get(DataQuality::late_events), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::double_free), 0u);
  EXPECT_EQ(r.quality.get(DataQuality::double_alloc), 0u);
}

// --- timeline -------------------------------------------------------------------------------

TEST(ReplayTimeline, SamplesEveryIntervalWithAtomicCountsAndDoublesWhenFull) {
  std::string text = std::string(kHeader) + "!start_free 0x10000+4096\n";
  for (int i = 0; i < 64; ++i) {
    text += fmt::format("{} alloc pfn=0x{:x} order=0 mt=0 gfp=GFP_ATOMIC cpu=0 pid=0 ctx=softirq\n", 1000 + i * 100,
                        0x10000 + i);
  }
  ReplayOptions o = mirror();
  o.interval_ns = 100;
  const ReplayResult fine = replay_text(text, o);
  ASSERT_EQ(fine.timeline.size(), 1u);
  std::uint64_t atomic = 0;
  for (const auto& s : fine.timeline.front().samples) atomic += s.atomic_allocations;
  EXPECT_EQ(atomic, 64u);
  EXPECT_EQ(fine.timeline_samples, 64u);
  EXPECT_EQ(fine.timeline.front().samples.back().free_pages, 4096u - 64u);

  o.timeline_points = 8;
  const ReplayResult capped = replay_text(text, o);
  EXPECT_LE(capped.timeline.front().samples.size(), 8u);
  EXPECT_GT(capped.timeline_kept_interval_ns, 100u);
  atomic = 0;
  for (const auto& s : capped.timeline.front().samples) atomic += s.atomic_allocations;
  EXPECT_EQ(atomic, 64u);  // merged samples keep every count
}

// --- balloon --------------------------------------------------------------------------------

TEST(ReplaySimulate, BalloonBelowTheMinWatermarkPredictsAtomicFailures) {
  std::string text = std::string(kHeader) + "!start_free 0x10000+4096\n";
  for (int i = 0; i < 20; ++i) {
    text += fmt::format("{} alloc pfn=0x{:x} order=0 mt=0 gfp=GFP_ATOMIC cpu=0 pid=0 ctx=softirq\n", 1000 + i, 0x10000 + i);
  }
  ReplayOptions o = simulate(false);
  o.what_if.balloon_bytes = (4096 - 40) * 4096ull;  // leaves 40 pages: below 3/8 of min (48)
  const ReplayResult r = replay_text(text, o);
  EXPECT_EQ(r.counters.balloon_pages, 4096u - 40u);
  EXPECT_EQ(r.failures.total(), 20u);
  for (const auto& f : r.failures.records()) {
    EXPECT_EQ(f.cause, FailureCause::Watermark);
    EXPECT_EQ(f.cls, FailureClass::Atomic);
    EXPECT_FALSE(f.kernel_failed);
    EXPECT_EQ(f.state.free_pages, 40);
  }
  EXPECT_EQ(r.counters.model_failed_kernel_succeeded, 20u);
  // The balloon took the highest pfns: what is left is the bottom of the zone.
  EXPECT_FALSE(r.invariant_violation.has_value());
}

}  // namespace
}  // namespace labyrinth::replay

namespace labyrinth::replay {
namespace {

// Seeded random garbage (any kind, order, pfn, cpu, out of order, pfns outside the zones):
// every event is counted or applied, the model never becomes inconsistent, nothing throws.
TEST(ReplayRobustness, RandomEventsNeverBreakTheModel) {
  testing::TempDir dir;
  const std::string path = dir.file("random.trace");
  traces::TraceHeader h;
  h.nr_cpus = 2;
  h.gfp_table = traces::GfpTable::builtin_linux_6_10();
  h.migratetype_names = traces::default_migratetype_names();
  traces::ZoneInfo z;
  z.name = "Normal";
  z.start_pfn = 0x10000;
  z.spanned_pages = z.present_pages = z.managed_pages = 1u << 14;
  z.min_pages = 64, z.low_pages = 80, z.high_pages = 96;
  h.zones = {z};
  std::minstd_rand0 rng(7);
  {
    traces::TraceWriter w(path, h);
    traces::Snapshot start;
    start.present = true;
    for (std::uint64_t p = 0x10000; p < 0x14000; p += 64) start.free_runs.push_back({p, 1 + rng() % 63});
    w.write_start_snapshot(start);
    for (int i = 0; i < 200000; ++i) {
      traces::PageEvent e;
      e.ts_ns = 1000 + static_cast<std::uint64_t>(i) * 10 + rng() % 5000;
      e.kind = traces::kEventBlockKinds[rng() % traces::kEventBlockKinds.size()];
      e.order = static_cast<std::uint8_t>(rng() % 8 == 0 ? rng() % 16 : rng() % 4);
      e.pfn = rng() % 50 == 0 ? rng() : 0x10000 + (rng() % 0x4400 & ~((1u << (e.order % 11)) - 1));
      if (e.kind == traces::EventKind::Alloc && rng() % 10 == 0) e.pfn = traces::kFailedPfn;
      e.cpu = static_cast<std::uint16_t>(rng() % 3);
      e.gfp = rng() % 2 ? 0x820 : 0x140cca;
      e.migratetype = static_cast<std::int8_t>(static_cast<int>(rng() % 8) - 1);
      e.fallback_order = static_cast<std::uint8_t>(rng() % 11);
      e.change_ownership = rng() % 2;
      e.percpu_refill = rng() % 2;
      w.append(e);
    }
    traces::TraceFooter f;
    f.present = true;
    w.finish(traces::Snapshot{}, f);
  }
  for (const ReplayMode mode : {ReplayMode::Mirror, ReplayMode::Simulate}) {
    ReplayOptions o;
    o.mode = mode;
    o.interval_ns = 10'000;
    const ReplayResult r = testing::replay_file(path, o);
    EXPECT_EQ(r.counters.events, 200000u);
    EXPECT_FALSE(r.invariant_violation.has_value()) << to_string(mode) << ": " << *r.invariant_violation;
    EXPECT_GT(r.quality.get(DataQuality::invalid_events), 0u);
    EXPECT_GT(r.quality.get(DataQuality::outside_zones), 0u);
  }
}

}  // namespace
}  // namespace labyrinth::replay

namespace labyrinth::replay {
namespace {

TEST(ReplayMirror, PerCpuListsAreModelledOnlyWhenRefillsAndDrainsAreBothRecorded) {
  const std::string zone =
      "!cpus 1\n!zone node=0 name=Normal start_pfn=0x10000 spanned=4096 managed=4096 min=128 low=160 high=192\n"
      "!start_free 0x10000+1024\n";
  // An import with zone_locked but no pcpu_drain: frees would pile up on pcp lists for ever.
  const ReplayResult refills_only = testing::replay_text(zone + R"(1000 pcp_refill pfn=0x10000 order=0 mt=1 refill=1
1001 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE
1002 free pfn=0x10000 order=0
)",
                                                         testing::mirror());
  EXPECT_EQ(refills_only.pcp_mode, allocator::PcpMode::Off);
  EXPECT_EQ(refills_only.timeline.front().samples.back().free_pages, 1024u);
  const ReplayResult both = testing::replay_text(zone + R"(1000 pcp_refill pfn=0x10000 order=0 mt=1 refill=1
1001 alloc pfn=0x10000 order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE
1002 free pfn=0x10000 order=0
1003 pcp_drain pfn=0x10000 order=0 mt=1
)",
                                                 testing::mirror());
  EXPECT_EQ(both.pcp_mode, allocator::PcpMode::Manual);
  EXPECT_EQ(both.timeline.front().samples.back().free_pages, 1024u);
  EXPECT_EQ(both.counters.pcp_drains, 1u);
}

}  // namespace
}  // namespace labyrinth::replay

namespace labyrinth::replay {
namespace {

using testing::case_path;
using testing::mirror;
using testing::read_text;
using testing::replay_text;
using testing::simulate;

// Kernel generations (docs/kernel-rules.md §1): simulate refuses a recording whose allocation
// policy the model does not have, naming the rule; mirror replays it with a note.
TEST(ReplayKernelGeneration, SimulateRefusesGenerationsNotModelled) {
  EXPECT_TRUE(kernel_generation("6.18.44-fc").modelled);
  EXPECT_TRUE(kernel_generation("6.18.44-fc").why.empty());
  EXPECT_TRUE(kernel_generation("6.10.3").modelled);
  EXPECT_TRUE(kernel_generation("6.12.95-amd64").modelled);
  EXPECT_NE(kernel_generation("5.15.0-91-generic").why.find("ALLOC_HARDER"), std::string::npos);
  EXPECT_FALSE(kernel_generation("4.18.0-553.el8_10.x86_64").modelled);
  EXPECT_FALSE(kernel_generation("6.1.0-28-amd64").modelled);
  EXPECT_NE(kernel_generation("6.6.30").why.find("6.10"), std::string::npos);
  EXPECT_NE(kernel_generation("6.13.2").why.find("__rmqueue_fallback"), std::string::npos);
  EXPECT_FALSE(kernel_generation("6.12.10").modelled);
  EXPECT_TRUE(kernel_generation("").modelled);
  EXPECT_NE(kernel_generation("").why.find("not recorded"), std::string::npos);
  EXPECT_TRUE(kernel_generation("8.1.0").modelled);
  EXPECT_FALSE(kernel_generation("8.1.0").why.empty());

  std::string text = read_text(case_path("atomic_below_min.txt"));
  const std::string recorded = "!kernel 6.18.0-test";
  text.replace(text.find(recorded), recorded.size(), "!kernel 5.15.0-91-generic");
  try {
    (void)replay_text(text, simulate(false));
    ADD_FAILURE() << "simulate replayed a 5.15 recording";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ALLOC_HARDER"), std::string::npos) << e.what();
  }
  const ReplayResult m = replay_text(text, mirror());
  EXPECT_EQ(m.failures.total(), 1u);
  bool noted = false;
  for (const auto& n : m.notes) noted = noted || n.find("Linux 5.15") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace labyrinth::replay
