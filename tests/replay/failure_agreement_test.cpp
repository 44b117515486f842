// Precision and recall of predicted failures in 100 ms windows (replay/failure_agreement.cpp).
#include <gtest/gtest.h>

#include "labyrinth/replay/failure_agreement.hpp"

namespace labyrinth::replay {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

// Window 0: kernel 3 atomic failures, model 1 (the same request as one of them) -> matched 1.
// Window 1: kernel 0, model 2 -> matched 0. Window 5: kernel 2, model 2, none the same
// request -> matched 2. Totals: kernel 5, model 5, matched 3: precision 3/5, recall 3/5.
// An opportunistic failure only in the kernel: recall 0, precision undefined.
TEST(FailureAgreement, MatchesByClassInWindows) {
  FailureAgreement a;
  a.add(10 * kMs, FailureClass::Atomic, true, true);
  a.add(20 * kMs, FailureClass::Atomic, true, false);
  a.add(99 * kMs, FailureClass::Atomic, true, false);
  a.add(100 * kMs, FailureClass::Atomic, false, true);
  a.add(150 * kMs, FailureClass::Atomic, false, true);
  a.add(150 * kMs, FailureClass::Opportunistic, true, false);
  a.add(160 * kMs, FailureClass::Atomic, false, false);  // both served: not counted
  a.add(510 * kMs, FailureClass::Atomic, true, false);
  a.add(520 * kMs, FailureClass::Atomic, false, true);
  a.add(530 * kMs, FailureClass::Atomic, true, false);
  a.add(599 * kMs, FailureClass::Atomic, false, true);
  a.finish();
  const ClassAgreement& at = a.by_class(FailureClass::Atomic);
  EXPECT_EQ(at.kernel_failures, 5u);
  EXPECT_EQ(at.model_failures, 5u);
  EXPECT_EQ(at.matched, 3u);
  EXPECT_EQ(at.same_request, 1u);
  EXPECT_DOUBLE_EQ(*at.precision(), 0.6);
  EXPECT_DOUBLE_EQ(*at.recall(), 0.6);
  const ClassAgreement& op = a.by_class(FailureClass::Opportunistic);
  EXPECT_FALSE(op.precision().has_value());
  EXPECT_DOUBLE_EQ(*op.recall(), 0.0);
  const ClassAgreement all = a.all();
  EXPECT_EQ(all.kernel_failures, 6u);
  EXPECT_EQ(all.matched, 3u);
  // Windows: the kernel failed atomic requests in 0 and 5, the model in 0, 1 and 5.
  EXPECT_EQ(at.kernel_windows, 2u);
  EXPECT_EQ(at.model_windows, 3u);
  EXPECT_EQ(at.both_windows, 2u);
  EXPECT_DOUBLE_EQ(*at.window_recall(), 1.0);
  EXPECT_DOUBLE_EQ(*at.window_precision(), 2.0 / 3.0);
  EXPECT_EQ(op.kernel_windows, 1u);
  EXPECT_FALSE(op.window_precision().has_value());
  EXPECT_EQ(all.kernel_windows, 3u);  // window and class pairs
  EXPECT_EQ(all.both_windows, 2u);
  const auto j = agreement_json(a);
  EXPECT_EQ(j["classes"]["atomic"]["windows"]["both"], 2u);
  EXPECT_EQ(j["window_ns"], 100 * kMs);
  EXPECT_TRUE(j["classes"]["opportunistic"]["precision"].is_null());
  EXPECT_EQ(j["classes"]["atomic"]["matched"], 3u);
}

// A predicted failure one window after the real one does not match: the measure is strict
// about time.
TEST(FailureAgreement, NeighbouringWindowsDoNotMatch) {
  FailureAgreement a;
  a.add(99 * kMs, FailureClass::Costly, true, false);
  a.add(101 * kMs, FailureClass::Costly, false, true);
  a.finish();
  EXPECT_EQ(a.by_class(FailureClass::Costly).matched, 0u);
  EXPECT_DOUBLE_EQ(*a.by_class(FailureClass::Costly).recall(), 0.0);
}

// Atomic requests are tallied across classes as well: window 0 has an opportunistic
// (GFP_NOWAIT-like) kernel failure and a model failure of another atomic request of the
// atomic class -> matched 1 among atomic requests, 0 in each class; window 1 has a costly
// failure that is no atomic request (left out of that tally) and an atomic one the model
// alone predicted. Atomic requests: kernel 1, model 2, matched 1: precision 1/2, recall 1.
TEST(FailureAgreement, AtomicRequestsMatchAcrossClasses) {
  FailureAgreement a;
  a.add(10 * kMs, FailureClass::Opportunistic, true, false, true);
  a.add(20 * kMs, FailureClass::Atomic, false, true, true);
  a.add(110 * kMs, FailureClass::Costly, true, true, false);
  a.add(120 * kMs, FailureClass::Opportunistic, false, true, true);
  a.finish();
  const ClassAgreement& at = a.atomic_requests();
  EXPECT_EQ(at.kernel_failures, 1u);
  EXPECT_EQ(at.model_failures, 2u);
  EXPECT_EQ(at.matched, 1u);
  EXPECT_DOUBLE_EQ(*at.precision(), 0.5);
  EXPECT_DOUBLE_EQ(*at.recall(), 1.0);
  EXPECT_EQ(a.by_class(FailureClass::Opportunistic).matched, 0u);
  EXPECT_EQ(a.by_class(FailureClass::Atomic).matched, 0u);
  const ClassAgreement all = a.all();  // the classes only: no atomic request counted twice
  EXPECT_EQ(all.kernel_failures, 2u);
  EXPECT_EQ(all.model_failures, 3u);
  EXPECT_EQ(agreement_json(a)["atomic_requests"]["matched"], 1u);
}

// Near disagreements move each window's model count towards the kernel's, never past it.
// Window 0: kernel 3, model 0, two of the kernel's failures served near -> 2, matched 2.
// Window 1: kernel 1, model 3 (two near, one not) -> 1, matched 1. Window 2: kernel 0, model 1
// near -> 0. Window 3: kernel 2, model 1, one of the kernel's served near, a near flag on a
// request both failed (no disagreement, not counted) -> 2, matched 2. Strict: kernel 6,
// model 5, matched 2. Bound: model 5, matched 5 -> precision 1, recall 5/6.
TEST(FailureAgreement, TheDriftBoundMovesTheModelsCountTowardsTheKernelsInEachWindow) {
  FailureAgreement a;
  a.add(10 * kMs, FailureClass::Atomic, true, false, false, true);
  a.add(20 * kMs, FailureClass::Atomic, true, false, false, true);
  a.add(30 * kMs, FailureClass::Atomic, true, false, false, false);
  a.add(110 * kMs, FailureClass::Atomic, true, false, false, false);
  a.add(120 * kMs, FailureClass::Atomic, false, true, false, true);
  a.add(130 * kMs, FailureClass::Atomic, false, true, false, true);
  a.add(140 * kMs, FailureClass::Atomic, false, true, false, false);
  a.add(210 * kMs, FailureClass::Atomic, false, true, false, true);
  a.add(310 * kMs, FailureClass::Atomic, true, true, false, true);
  a.add(320 * kMs, FailureClass::Atomic, true, false, false, true);
  a.finish();
  const ClassAgreement& at = a.by_class(FailureClass::Atomic);
  EXPECT_EQ(at.kernel_failures, 6u);
  EXPECT_EQ(at.model_failures, 5u);
  EXPECT_EQ(at.matched, 2u);
  EXPECT_EQ(at.kernel_failed_model_near, 3u);
  EXPECT_EQ(at.model_failed_near, 3u);
  EXPECT_EQ(at.drift_model_failures, 5u);
  EXPECT_EQ(at.drift_matched, 5u);
  EXPECT_DOUBLE_EQ(*at.drift_precision(), 1.0);
  EXPECT_DOUBLE_EQ(*at.drift_recall(), 5.0 / 6.0);
  const auto j = agreement_json(a)["classes"]["atomic"]["within_drift"];
  EXPECT_EQ(j["matched"], 5u);
  EXPECT_EQ(j["kernel_failures_model_near"], 3u);
  EXPECT_TRUE(agreement_json(a)["classes"]["costly"]["within_drift"]["precision"].is_null());
}

}  // namespace
}  // namespace labyrinth::replay
