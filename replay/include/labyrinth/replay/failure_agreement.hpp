// Simulate against the recording: which failures the model predicted, per caller class, in
// fixed time windows. A success-dominated agreement ratio hides a missed failure (8 real
// failures in 400,000 requests are "99.998% agreement" when the model predicts none), so the
// measure is precision and recall of failures: in each window and class, min(kernel, model)
// failures count as matched; precision = matched / model failures, recall = matched / kernel
// failures. Requests the kernel and the model both failed are also counted one by one.
// Across the classes, the same is kept for atomic requests (no __GFP_DIRECT_RECLAIM, order 0
// to 3, with or without __GFP_NOWARN): the failures `labyrinth tune` sets out to remove. On
// 6.18, GFP_NOWAIT carries __GFP_NOWARN and an skb's page fragment is asked for with it, so
// these are mostly in the opportunistic class.
//
// The kernel tests a lagging NR_FREE_PAGES (per-CPU counter drift); a disagreement where the
// model's own check came within that drift of its effective min could have gone either way. So
// each window also gets the best count the drift allows: the model's failures moved towards the
// kernel's by at most those near ones, each way. Its precision and recall bound what an exact
// model could show on this recording, not what this one shows. Where the recording holds the
// per-CPU diffs at the kernel's failures (format 1.9), the failures the lag alone made are
// counted: the exact count passes their check, so a model that counts exactly serves them.
//
// Counts in a window hang on where each count sits against the watermark: under an atomic
// squeeze both sit at it, and a few pages either way change how many requests fail. So the
// windows are also counted by themselves: a window of a class in which the kernel failed such
// a request and the model failed one too (whichever, however many) is a window both had.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "labyrinth/replay/failure_class.hpp"

namespace labyrinth::replay {

inline constexpr std::uint64_t kAgreementWindowNs = 100'000'000;  // 100 ms

struct ClassAgreement {
  std::uint64_t kernel_failures = 0;  // memcg charge failures excluded
  std::uint64_t model_failures = 0;
  std::uint64_t matched = 0;       // sum over windows of min(kernel, model)
  std::uint64_t same_request = 0;  // requests both failed
  // Disagreements within the drift: kernel failures the model served, and model failures of
  // requests the kernel served.
  std::uint64_t kernel_failed_model_near = 0;
  std::uint64_t model_failed_near = 0;
  // Per window, the model's failures moved to the kernel's count within those: their sum and
  // the matches it gives.
  std::uint64_t drift_model_failures = 0;
  std::uint64_t drift_matched = 0;
  // Kernel failures whose exact count (counter + per-CPU diffs) passes the check.
  std::uint64_t kernel_failed_lag_only = 0;
  // Windows in which the kernel, the model, and both failed a request of the class (for
  // FailureAgreement::all(), window and class pairs).
  std::uint64_t kernel_windows = 0;
  std::uint64_t model_windows = 0;
  std::uint64_t both_windows = 0;
  // nullopt when there is nothing to divide by (no predicted, or no real, failure).
  [[nodiscard]] std::optional<double> precision() const;
  [[nodiscard]] std::optional<double> recall() const;
  [[nodiscard]] std::optional<double> drift_precision() const;
  [[nodiscard]] std::optional<double> drift_recall() const;
  [[nodiscard]] std::optional<double> window_precision() const;  // both_windows / model_windows
  [[nodiscard]] std::optional<double> window_recall() const;     // both_windows / kernel_windows
  ClassAgreement& operator+=(const ClassAgreement& other);
};

class FailureAgreement {
 public:
  explicit FailureAgreement(std::uint64_t window_ns = kAgreementWindowNs) : window_ns_(window_ns) {}
  // One request's outcome in both; ts_ns in replay order (not decreasing, except for events
  // the sorter could not place, which count in the window current at the time).
  // model_near: the model's watermark check was within the counter drift of its effective
  // min (read where the two disagree).
  // kernel_lag_only: a kernel failure the counter's lag alone made (KernelCheck::lag_only).
  void add(std::uint64_t ts_ns, FailureClass cls, bool kernel_failed, bool model_failed,
           bool atomic_request = false, bool model_near = false, bool kernel_lag_only = false);
  // Closes the open window; call before reading.
  void finish();

  [[nodiscard]] std::uint64_t window_ns() const { return window_ns_; }
  [[nodiscard]] const ClassAgreement& by_class(FailureClass cls) const {
    return totals_[static_cast<std::size_t>(cls)];
  }
  [[nodiscard]] ClassAgreement all() const;
  [[nodiscard]] const ClassAgreement& atomic_requests() const { return totals_[kFailureClassCount]; }

 private:
  void close_window();
  void count(std::size_t bucket, bool kernel_failed, bool model_failed, bool model_near, bool kernel_lag_only);

  std::uint64_t window_ns_;
  std::optional<std::uint64_t> window_;  // index of the open window
  struct OpenWindow {
    std::uint64_t kernel = 0, model = 0, kernel_failed_model_near = 0, model_failed_near = 0;
  };
  // Per class, then the atomic requests (index kFailureClassCount).
  std::array<OpenWindow, kFailureClassCount + 1> open_{};
  std::array<ClassAgreement, kFailureClassCount + 1> totals_{};
};

// The report's forms: {"window_ns", "classes": {class: {...}}, "all": {...},
// "atomic_requests": {...}} with
// kernel_failures, model_failures, matched, same_request, precision, recall (null when
// undefined), kernel_failures_lag_only, within_drift {kernel_failures_model_near, model_failures_near, model_failures,
// matched, precision, recall}, windows {kernel, model, both, precision, recall}; and a table,
// one row per class with failures on either side.
nlohmann::ordered_json agreement_json(const FailureAgreement& agreement);
void print_agreement(std::FILE* out, const FailureAgreement& agreement);

}  // namespace labyrinth::replay
