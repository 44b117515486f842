// The page: head with the inline stylesheet, the summary, then each section. Nothing is
// fetched: no script, no font, no image but the inline SVG.
#include <ctime>

#include "labyrinth/replay/report_common.hpp"
#include "labyrinth/version.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

namespace {

constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d1d1d;margin:0 auto;max-width:1000px;padding:12px 20px 40px;background:#fff}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:28px}h3{font-size:15px;margin:18px 0 4px}
h3 small{font-weight:normal;color:#666}
nav a{margin-right:12px}
svg.chart{display:block;margin:4px 0 10px;font-size:11px;background:#fff}
svg.chart text{fill:#333}svg.chart .label{font-size:12px;fill:#111}
svg.chart .axis line{stroke:#444;stroke-width:1}svg.chart .axis line.grid{stroke:#e4e4e4}
svg.chart .legend text{font-size:11.5px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}td{font-variant-numeric:tabular-nums}
table.summary th{background:#fafafa;font-weight:600}
tr.zero td{color:#999}tr.DataLoss td,tr.Error td{background:#fff3e0}
.ok{color:#1e7d32}.warn{color:#b00020}td.unchecked{color:#888}
tr.predicted td{background:#fff7ec}
table.failures{font-size:11.5px}table.failures td{overflow-wrap:anywhere}table.failures td:nth-child(4){max-width:220px}
p.note{color:#555}code{font-size:12px}
)";

std::string utc(std::uint64_t unix_ns) {
  if (unix_ns == 0) return "unknown";
  const std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

void row(Markup& m, std::string_view key, const std::string& value) {
  m.put("<tr><th>{}</th><td>", escape(key));
  m.text(value);
  m.raw("</td></tr>\n");
}

}  // namespace

void summary_section(Markup& m, const ReportContext& c) {
  const auto& r = c.replay;
  const auto& h = r.header;
  const auto& k = r.counters;
  m.raw("<section id=\"summary\"><table class=\"summary\">\n");
  row(m, "trace", r.trace_path);
  row(m, "machine", fmt::format("{} ({}), Linux {}, {} CPUs, {}-byte pages", h.hostname.empty() ? "?" : h.hostname,
                                h.machine, h.kernel_release, h.nr_cpus, h.page_size));
  row(m, "recorded", fmt::format("{} from {}, {} of trace time", utc(h.start_time_unix_ns), h.source,
                                 replay::format_duration_ns(r.last_ts_ns >= r.first_ts_ns ? r.last_ts_ns - r.first_ts_ns : 0)));
  row(m, "events", fmt::format("{} read, {} replayed{}", r.events, k.events, r.complete ? "" : " (the trace is incomplete)"));
  row(m, "replay", fmt::format("{}, seeded from {}, pcp lists {}", replay::to_string(r.mode), replay::to_string(r.seeded_from),
                               r.pcp_mode == allocator::PcpMode::Off ? "not modelled" : "modelled"));
  row(m, "allocations", fmt::format("{} ({}), {} atomic", k.allocations, c.pages(k.allocated_pages), k.atomic_allocations));
  row(m, "failures", fmt::format("{} ({} pages), {} atomic", k.failures, k.failed_pages, k.atomic_failures));
  if (r.mode == replay::ReplayMode::Simulate) {
    row(m, "against the kernel", fmt::format("kernel failures {}, both failed {}, model only {}, kernel only {}",
                                             k.kernel_failures, k.both_failed, k.model_failed_kernel_succeeded,
                                             k.model_served_kernel_failed));
    const replay::KernelCounterCheck& kc = r.validation.kernel_counters;
    row(m, "direct compaction",
        fmt::format("model {} runs, {} requests served after one; kernel {}", k.compactions, k.compaction_successes,
                    kc.available ? fmt::format("{} stalls, {} succeeded", kc.compact_stall, kc.compact_success)
                                 : std::string("not counted in this trace")));
  }
  row(m, "validation", r.validation.available ? (r.validation.passed ? "end state within tolerance" : "end state off")
                                              : "not validated");
  row(m, "data quality", r.quality.lossy() ? fmt::format("{} losses (see below)", r.quality.losses()) : "no loss");
  m.raw("</table>\n");
  for (const auto& note : r.notes) {
    m.raw("<p class=\"note\">");
    m.text(note);
    m.raw("</p>\n");
  }
  m.raw("</section>\n");
}

std::string render_report(const replay::ReplayResult& replay, const replay::StatResult& stat, const ReportOptions& options) {
  const ReportContext c(replay, stat, options);
  Markup m;
  m.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta name=\"generator\" content=\"labyrinth " LABYRINTH_VERSION "\"><title>labyrinth report: ");
  m.text(replay.trace_path);
  m.put("</title><style>{}</style></head>\n<body>\n<h1>Page allocator report</h1>\n", kStyle);
  m.raw("<nav><a href=\"#timeline\">zones over time</a><a href=\"#failures\">failures</a><a href=\"#memory-map\">memory "
        "map</a><a href=\"#breakdowns\">who allocates</a><a href=\"#data-quality\">data quality</a><a "
        "href=\"#validation\">validation</a></nav>\n");
  summary_section(m, c);
  timeline_section(m, c);
  failure_section(m, c);
  memory_map_section(m, c);
  breakdown_section(m, c);
  quality_section(m, c);
  validation_section(m, c);
  m.raw("<footer><p class=\"note\">Made by labyrinth " LABYRINTH_VERSION
        " (<code>labyrinth report</code>); the numbers behind every chart are in <code>labyrinth replay --json</code> and "
        "<code>labyrinth stat --json</code>.</p></footer>\n</body></html>\n");
  return m.take();
}

}  // namespace labyrinth::html
