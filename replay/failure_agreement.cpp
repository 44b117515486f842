#include "labyrinth/replay/failure_agreement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace labyrinth::replay {

namespace {

std::optional<double> ratio(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::optional<double> ClassAgreement::precision() const { return ratio(matched, model_failures); }
std::optional<double> ClassAgreement::recall() const { return ratio(matched, kernel_failures); }
std::optional<double> ClassAgreement::drift_precision() const { return ratio(drift_matched, drift_model_failures); }
std::optional<double> ClassAgreement::drift_recall() const { return ratio(drift_matched, kernel_failures); }
std::optional<double> ClassAgreement::window_precision() const { return ratio(both_windows, model_windows); }
std::optional<double> ClassAgreement::window_recall() const { return ratio(both_windows, kernel_windows); }

ClassAgreement& ClassAgreement::operator+=(const ClassAgreement& o) {
  kernel_failures += o.kernel_failures;
  model_failures += o.model_failures;
  matched += o.matched;
  same_request += o.same_request;
  kernel_failed_model_near += o.kernel_failed_model_near;
  model_failed_near += o.model_failed_near;
  drift_model_failures += o.drift_model_failures;
  drift_matched += o.drift_matched;
  kernel_failed_lag_only += o.kernel_failed_lag_only;
  kernel_windows += o.kernel_windows;
  model_windows += o.model_windows;
  both_windows += o.both_windows;
  return *this;
}

void FailureAgreement::add(std::uint64_t ts_ns, FailureClass cls, bool kernel_failed, bool model_failed,
                           bool atomic_request, bool model_near, bool kernel_lag_only) {
  if (!kernel_failed && !model_failed) return;
  const std::uint64_t w = ts_ns / window_ns_;
  if (!window_ || w > *window_) {
    close_window();
    window_ = w;
  }
  count(static_cast<std::size_t>(cls), kernel_failed, model_failed, model_near, kernel_lag_only);
  if (atomic_request) count(kFailureClassCount, kernel_failed, model_failed, model_near, kernel_lag_only);
}

void FailureAgreement::count(std::size_t bucket, bool kernel_failed, bool model_failed, bool model_near,
                             bool kernel_lag_only) {
  OpenWindow& open = open_[bucket];
  ClassAgreement& t = totals_[bucket];
  if (kernel_failed) {
    ++open.kernel;
    ++t.kernel_failures;
  }
  if (model_failed) {
    ++open.model;
    ++t.model_failures;
  }
  if (kernel_failed && model_failed) ++t.same_request;
  if (kernel_failed && kernel_lag_only) ++t.kernel_failed_lag_only;
  if (model_near && kernel_failed != model_failed) {
    ++(kernel_failed ? open.kernel_failed_model_near : open.model_failed_near);
    ++(kernel_failed ? t.kernel_failed_model_near : t.model_failed_near);
  }
}

void FailureAgreement::close_window() {
  for (std::size_t c = 0; c < open_.size(); ++c) {
    const OpenWindow& o = open_[c];
    ClassAgreement& t = totals_[c];
    t.matched += std::min(o.kernel, o.model);
    t.kernel_windows += o.kernel != 0 ? 1 : 0;
    t.model_windows += o.model != 0 ? 1 : 0;
    t.both_windows += o.kernel != 0 && o.model != 0 ? 1 : 0;
    // The near disagreements may each go the kernel's way: the model's count nearest the
    // kernel's within [model - failed near, model + served near].
    const std::uint64_t drifted =
        std::clamp(o.kernel, o.model - o.model_failed_near, o.model + o.kernel_failed_model_near);
    t.drift_model_failures += drifted;
    t.drift_matched += std::min(o.kernel, drifted);
    open_[c] = {};
  }
}

void FailureAgreement::finish() { close_window(); }

ClassAgreement FailureAgreement::all() const {
  ClassAgreement a;
  for (int k = 0; k < kFailureClassCount; ++k) a += totals_[static_cast<std::size_t>(k)];
  return a;
}

namespace {

nlohmann::ordered_json ratio_json(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json class_json(const ClassAgreement& a) {
  return nlohmann::ordered_json{
      {"kernel_failures", a.kernel_failures},
      {"model_failures", a.model_failures},
      {"matched", a.matched},
      {"same_request", a.same_request},
      {"precision", ratio_json(a.precision())},
      {"recall", ratio_json(a.recall())},
      {"kernel_failures_lag_only", a.kernel_failed_lag_only},
      {"within_drift",
       {{"kernel_failures_model_near", a.kernel_failed_model_near},
        {"model_failures_near", a.model_failed_near},
        {"model_failures", a.drift_model_failures},
        {"matched", a.drift_matched},
        {"precision", ratio_json(a.drift_precision())},
        {"recall", ratio_json(a.drift_recall())}}},
      {"windows",
       {{"kernel", a.kernel_windows},
        {"model", a.model_windows},
        {"both", a.both_windows},
        {"precision", ratio_json(a.window_precision())},
        {"recall", ratio_json(a.window_recall())}}}};
}

std::string percent(const std::optional<double>& v) { return v ? fmt::format("{:.1f}%", 100.0 * *v) : "-"; }

void print_row(std::FILE* out, std::string_view name, const ClassAgreement& a) {
  fmt::print(out, "  {:<15} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>11} {:>8} {:>9} {:>12} {:>8}\n", name,
             a.kernel_failures, a.model_failures, a.matched, a.same_request, percent(a.precision()),
             percent(a.recall()), percent(a.drift_precision()), percent(a.drift_recall()), a.kernel_failed_lag_only,
             percent(a.window_precision()), percent(a.window_recall()));
}

}  // namespace

nlohmann::ordered_json agreement_json(const FailureAgreement& agreement) {
  nlohmann::ordered_json classes = nlohmann::ordered_json::object();
  for (int k = 0; k < kFailureClassCount; ++k) {
    const auto cls = static_cast<FailureClass>(k);
    classes[std::string(to_string(cls))] = class_json(agreement.by_class(cls));
  }
  return nlohmann::ordered_json{
      {"window_ns", agreement.window_ns()},
      {"classes", classes},
      {"all", class_json(agreement.all())},
      {"atomic_requests", class_json(agreement.atomic_requests())}};
}

void print_agreement(std::FILE* out, const FailureAgreement& agreement) {
  fmt::print(out, "  failures in {} ms windows, by class (precision: predicted failures the kernel also had;\n"
                  "  recall: the kernel's failures the model predicted; drift: the best the kernel's per-CPU\n"
                  "  counter drift allows, the disagreements within it of the model's min going the kernel's way;\n"
                  "  lag only: the kernel's failures whose exact count, with the per-CPU changes the recorder read,\n"
                  "  passes the check, which a model that counts exactly serves; windows: the windows in which\n"
                  "  the kernel failed such a request and the model did too, however many):\n",
             agreement.window_ns() / 1'000'000);
  fmt::print(out, "  {:<15} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>11} {:>8} {:>9} {:>12} {:>8}\n", "class", "kernel",
             "model", "matched", "same req", "precision", "recall", "drift: prec", "recall", "lag only", "windows: prec",
             "recall");
  for (int k = 0; k < kFailureClassCount; ++k) {
    const auto cls = static_cast<FailureClass>(k);
    const ClassAgreement& a = agreement.by_class(cls);
    if (a.kernel_failures + a.model_failures != 0) print_row(out, to_string(cls), a);
  }
  print_row(out, "all", agreement.all());
  const ClassAgreement& atomic = agreement.atomic_requests();
  if (atomic.kernel_failures + atomic.model_failures != 0) {
    print_row(out, "atomic requests", atomic);
    fmt::print(out, "  (atomic requests: no direct reclaim, order 0 to 3, with or without __GFP_NOWARN; what tune removes)\n");
  }
}

}  // namespace labyrinth::replay
