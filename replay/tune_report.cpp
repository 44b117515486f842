// `labyrinth tune`'s text and JSON.
#include <fmt/format.h>

#include "labyrinth/replay/report_common.hpp"
#include "labyrinth/replay/tune.hpp"

namespace labyrinth::replay {

using nlohmann::ordered_json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

ordered_json point_json(const TunePoint& p, const TuneResult& r) {
  ordered_json classes = ordered_json::object();
  for (int c = 0; c < kFailureClassCount; ++c) {
    classes[std::string(to_string(static_cast<FailureClass>(c)))] = p.failures_by_class[static_cast<std::size_t>(c)];
  }
  ordered_json causes = ordered_json::object();
  for (int j = 0; j < kFailureCauseCount; ++j) {
    causes[std::string(to_string(static_cast<FailureCause>(j)))] = p.atomic_by_cause[static_cast<std::size_t>(j)];
  }
  const double managed = static_cast<double>(std::max<std::uint64_t>(1, r.managed_pages));
  return ordered_json{{"setting", std::string(to_string(p.knob))},
                      {"value", p.value},
                      {"atomic_failures", p.atomic()},
                      {"failures_by_class", classes},
                      {"atomic_failures_by_cause", causes},
                      {"atomic_failures_without_reserve", p.atomic_without_reserve},
                      {"kernel_atomic_failures_served_near", p.atomic_served_near},
                      {"oom_kills", p.oom_kills},
                      {"min_watermark_bytes", p.min_pages * r.page_size},
                      {"high_watermark_bytes", p.high_pages * r.page_size},
                      {"min_watermark_share", static_cast<double>(p.min_pages) / managed},
                      {"high_watermark_share", static_cast<double>(p.high_pages) / managed},
                      {"seconds", p.seconds}};
}

ordered_json search_json(const TuneSearch& s, const TuneResult& r) {
  ordered_json tried = ordered_json::array();
  for (const auto& p : s.tried) tried.push_back(point_json(p, r));
  return ordered_json{{"start", s.recorded},
                      {"lowest", s.lowest},
                      {"highest", s.highest},
                      {"recommended", s.recommended ? ordered_json(*s.recommended) : ordered_json(nullptr)},
                      {"at_90_percent", s.at_90_percent ? point_json(*s.at_90_percent, r) : ordered_json(nullptr)},
                      {"refused", s.refused.empty() ? ordered_json(nullptr) : ordered_json(s.refused)},
                      {"tried", tried}};
}

const TunePoint* point_at(const TuneSearch& s, std::uint64_t value) {
  for (const auto& p : s.tried) {
    if (p.value == value) return &p;
  }
  return nullptr;
}

void print_search(std::FILE* out, const TuneSearch& s, const TuneResult& r) {
  fmt::print(out, "\nvm.{} (searched {} to {})\n", to_string(s.knob), s.lowest, s.highest);
  fmt::print(out, "  {:>10} {:>10} {:>7} {:>11} {:>7} {:>8} {:>14} {:>7} {:>5} {:>7}\n", "value", "min MiB", "of RAM",
             "high MiB", "of RAM", "atomic", "opportunistic", "costly", "other", "seconds");
  std::vector<const TunePoint*> rows;
  for (const auto& p : s.tried) rows.push_back(&p);
  std::sort(rows.begin(), rows.end(), [](const TunePoint* a, const TunePoint* b) { return a->value < b->value; });
  const double ram = static_cast<double>(std::max<std::uint64_t>(1, r.managed_pages));
  const double ps = static_cast<double>(r.page_size);
  for (const TunePoint* p : rows) {
    fmt::print(out, "  {:>10} {:>10.1f} {:>6.2f}% {:>11.1f} {:>6.2f}% {:>8} {:>14} {:>7} {:>5} {:>7.2f}{}\n", p->value,
               static_cast<double>(p->min_pages) * ps / kMiB, 100.0 * static_cast<double>(p->min_pages) / ram,
               static_cast<double>(p->high_pages) * ps / kMiB, 100.0 * static_cast<double>(p->high_pages) / ram,
               p->atomic(), p->failures_by_class[static_cast<std::size_t>(FailureClass::Opportunistic)],
               p->failures_by_class[static_cast<std::size_t>(FailureClass::Costly)],
               p->failures_by_class[static_cast<std::size_t>(FailureClass::Other)], p->seconds,
               s.recommended && p->value == *s.recommended ? "  <= recommended" : (p->value == s.recorded ? "  (recorded)" : ""));
  }
  if (!s.recommended) {
    fmt::print(out, "  => refused: {}\n", s.refused);
    return;
  }
  const TunePoint* rec = point_at(s, *s.recommended);
  fmt::print(out, "  => vm.{} = {}: no atomic failure predicted; the min watermarks keep {:.1f} MiB free ({:.2f}% of RAM), "
                  "kswapd reclaims up to {:.1f} MiB ({:.2f}%)\n",
             to_string(s.knob), *s.recommended, static_cast<double>(rec->min_pages) * ps / kMiB,
             100.0 * static_cast<double>(rec->min_pages) / ram, static_cast<double>(rec->high_pages) * ps / kMiB,
             100.0 * static_cast<double>(rec->high_pages) / ram);
  if (rec->atomic_served_near != 0) {
    fmt::print(out, "     {} of the recording's atomic failures are served there within the per-CPU counter drift of the "
                    "min: the kernel's lagging count could still fail them\n",
               rec->atomic_served_near);
  }
  if (s.at_90_percent) {
    fmt::print(out, "     at 90% of it ({}): {} atomic failure{}\n", s.at_90_percent->value, s.at_90_percent->atomic(),
               s.at_90_percent->atomic() == 1 ? "" : "s");
  } else if (*s.recommended <= s.lowest) {
    fmt::print(out, "     the lowest value searched already has none\n");
  }
}

}  // namespace

ordered_json tune_to_json(const TuneResult& r, const std::string& trace_path, const traces::TraceHeader& header) {
  ordered_json tried = ordered_json::array();
  for (const TuneSearch* s : {&r.min_free_kbytes, &r.watermark_scale_factor}) {
    for (const auto& p : s->tried) tried.push_back(point_json(p, r));
  }
  auto rec = [](const TuneSearch& s) { return s.recommended ? ordered_json(*s.recommended) : ordered_json(nullptr); };
  return ordered_json{
      {"schema_version", 1},
      {"tool", tool_json("tune")},
      {"trace", trace_path},
      {"kernel", kernel_json(header)},
      {"managed_bytes", r.managed_pages * r.page_size},
      {"recorded", point_json(r.recorded, r)},
      {"recommendation", ordered_json{{"min_free_kbytes", rec(r.min_free_kbytes)},
                                      {"watermark_scale_factor", rec(r.watermark_scale_factor)}}},
      {"searches", ordered_json{{"min_free_kbytes", search_json(r.min_free_kbytes, r)},
                                {"watermark_scale_factor", search_json(r.watermark_scale_factor, r)}}},
      {"tried", tried},
      {"simulate_runs", r.runs},
      {"seconds", r.seconds}};
}

void print_tune_text(std::FILE* out, const TuneResult& r, const std::string& trace_path,
                     const traces::TraceHeader& header) {
  fmt::print(out, "Tuning {} (Linux {}, {} managed)\n", trace_path,
             header.kernel_release.empty() ? std::string("unknown") : header.kernel_release,
             format_bytes(r.managed_pages * r.page_size));
  const TunePoint& p = r.recorded;
  fmt::print(out, "  as recorded: {} atomic failure{} predicted ({} opportunistic, {} costly, {} other)\n", p.atomic(),
             p.atomic() == 1 ? "" : "s", p.failures_by_class[static_cast<std::size_t>(FailureClass::Opportunistic)],
             p.failures_by_class[static_cast<std::size_t>(FailureClass::Costly)],
             p.failures_by_class[static_cast<std::size_t>(FailureClass::Other)]);
  print_search(out, r.min_free_kbytes, r);
  print_search(out, r.watermark_scale_factor, r);
  fmt::print(out, "\n{} simulate runs in {:.1f} s (two at a time)\n", r.runs, r.seconds);
}

}  // namespace labyrinth::replay
