// Writing metrics in the text formats Prometheus scrapes and node_exporter's textfile
// collector reads: OpenMetrics 1.0 (https://openmetrics.io, `# TYPE`/`# UNIT`/`# HELP`,
// counters sampled as `<name>_total`, `# EOF` at the end), or the older Prometheus text
// exposition format 0.0.4, which is what node_exporter's textfile collector parses
// (prometheus/common expfmt.TextParser): there a counter's `# TYPE` line must name the
// `_total` series itself, and `# UNIT`/`# EOF` are mere comments, so they are left out.
// The same families give either text; only the framing differs.
//
// The writer checks what the formats forbid (bad names, a unit the name does not end with,
// a family declared twice, the same label set twice in a family, a negative counter) and
// throws std::invalid_argument: those are programming errors of the exporter, not input.
// Label values are escaped (backslash, double quote, newline) and made valid UTF-8.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "labyrinth/common/output_file.hpp"

namespace labyrinth::common {

enum class MetricType { Counter, Gauge };

enum class MetricsDialect {
  OpenMetrics,     // application/openmetrics-text; version=1.0.0
  PrometheusText,  // text/plain; version=0.0.4 (node_exporter's textfile collector)
};

// Label name and value, in the order they are written.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
 public:
  explicit MetricsWriter(MetricsDialect dialect = MetricsDialect::OpenMetrics) : dialect_(dialect) {}

  // Starts a metric family; the samples that follow belong to it. `name` is the family's
  // name without `_total`; `unit` is a base unit ("bytes", "seconds", "ratio", "pages" ...)
  // that `name` must end with (`_<unit>`), or empty.
  void family(std::string_view name, MetricType type, std::string_view help, std::string_view unit = {});

  // One sample of the current family. Counters must not be negative.
  void sample(const MetricLabels& labels, double value);
  void sample(const MetricLabels& labels, std::uint64_t value);

  // The whole text (ends with `# EOF` in OpenMetrics). The writer is finished afterwards.
  [[nodiscard]] std::string finish();

  // finish() written through OutputFile: a temporary file renamed into place, so a scraper
  // never reads half a file. Throws OutputError.
  void write_file(const std::string& path, OutputPolicy policy);

  [[nodiscard]] MetricsDialect dialect() const { return dialect_; }

 private:
  void sample_text(const MetricLabels& labels, std::string_view value_text, bool negative);

  MetricsDialect dialect_;
  std::string out_;
  std::string current_;  // the current family's sample name (with `_total` for counters)
  MetricType current_type_ = MetricType::Gauge;
  std::set<std::string> families_;       // every name used so far, to refuse a second family
  std::set<std::string> current_label_sets_;
  bool finished_ = false;
};

// The dialect a file name asks for: `*.prom` (the only files node_exporter's textfile
// collector reads) gets the Prometheus text format, everything else OpenMetrics.
MetricsDialect metrics_dialect_for_path(std::string_view path);

// `value` as a label value: escaped for the text formats, invalid UTF-8 replaced by U+FFFD.
std::string escape_label_value(std::string_view value);

}  // namespace labyrinth::common
