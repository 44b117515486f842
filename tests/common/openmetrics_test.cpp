// The metrics writer: the exact framing of both dialects (the formats' own rules), escaping,
// what it refuses, the atomic write, and that a real parser (python3-prometheus-client) reads
// back every family, label and value it wrote.
#include "labyrinth/common/openmetrics.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "metrics_parser.hpp"
#include "temp_dir.hpp"

namespace labyrinth::common {
namespace {

using labyrinth::testing::parse_metrics_file;
using labyrinth::testing::samples_of;

// Two families covering a counter with a unit, labels that need escaping, and a gauge.
void write_example(MetricsWriter& w) {
  w.family("demo_allocated_bytes", MetricType::Counter, "Bytes \"allocated\"\nby zone", "bytes");
  w.sample({{"zone", "Normal"}, {"path", "a\\b\"c\nd"}}, std::uint64_t{4096});
  w.sample({{"zone", "DMA32"}, {"path", ""}}, std::uint64_t{0});
  w.family("demo_unusable_ratio", MetricType::Gauge, "Unusable free index", "ratio");
  w.sample({{"order", "3"}}, 0.25);
  w.sample({{"order", "4"}}, std::numeric_limits<double>::quiet_NaN());
}

TEST(OpenMetrics, OpenMetricsFramingTypeUnitHelpTotalAndEof) {
  MetricsWriter w(MetricsDialect::OpenMetrics);
  write_example(w);
  EXPECT_EQ(w.finish(),
            "# TYPE demo_allocated_bytes counter\n"
            "# UNIT demo_allocated_bytes bytes\n"
            "# HELP demo_allocated_bytes Bytes \\\"allocated\\\"\\nby zone\n"
            "demo_allocated_bytes_total{zone=\"Normal\",path=\"a\\\\b\\\"c\\nd\"} 4096\n"
            "demo_allocated_bytes_total{zone=\"DMA32\",path=\"\"} 0\n"
            "# TYPE demo_unusable_ratio gauge\n"
            "# UNIT demo_unusable_ratio ratio\n"
            "# HELP demo_unusable_ratio Unusable free index\n"
            "demo_unusable_ratio{order=\"3\"} 0.25\n"
            "demo_unusable_ratio{order=\"4\"} NaN\n"
            "# EOF\n");
}

TEST(OpenMetrics, PrometheusTextTypesTheTotalSeriesAndOmitsUnitAndEof) {
  MetricsWriter w(MetricsDialect::PrometheusText);
  write_example(w);
  const std::string text = w.finish();
  EXPECT_NE(text.find("# HELP demo_allocated_bytes_total Bytes \"allocated\"\\nby zone\n"
                      "# TYPE demo_allocated_bytes_total counter\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("# UNIT"), std::string::npos);
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
  EXPECT_NE(text.find("demo_unusable_ratio{order=\"3\"} 0.25\n"), std::string::npos);
}

TEST(OpenMetrics, InvalidUtf8InLabelsBecomesReplacementCharacter) {
  EXPECT_EQ(escape_label_value("ok\xff"), "ok\xEF\xBF\xBD");
  EXPECT_EQ(escape_label_value("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong NUL
  EXPECT_EQ(escape_label_value("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(escape_label_value("kswapd\xC3\xA9"), "kswapd\xC3\xA9");  // valid 2-byte stays
  EXPECT_EQ(escape_label_value("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(OpenMetrics, RefusesWhatTheFormatsForbid) {
  MetricsWriter w;
  EXPECT_THROW(w.sample({}, 1.0), std::logic_error);                               // no family yet
  EXPECT_THROW(w.family("1bad", MetricType::Gauge, "h"), std::invalid_argument);   // name
  EXPECT_THROW(w.family("x_pages", MetricType::Gauge, "h", "bytes"), std::invalid_argument);  // unit suffix
  EXPECT_THROW(w.family("x_total", MetricType::Counter, "h"), std::invalid_argument);  // we add _total
  w.family("x_events", MetricType::Counter, "h");
  EXPECT_THROW(w.sample({}, -1.0), std::invalid_argument);                         // negative counter
  EXPECT_THROW(w.sample({{"__name__", "y"}}, 1.0), std::invalid_argument);         // reserved label
  EXPECT_THROW(w.sample({{"a-b", "y"}}, 1.0), std::invalid_argument);              // label name
  EXPECT_THROW(w.sample({{"a", "1"}, {"a", "2"}}, 1.0), std::invalid_argument);    // label twice
  w.sample({{"a", "1"}}, 1.0);
  EXPECT_THROW(w.sample({{"a", "1"}}, 2.0), std::invalid_argument);                // same labels twice
  EXPECT_THROW(w.family("x_events", MetricType::Gauge, "h"), std::invalid_argument);  // family twice
  EXPECT_THROW(w.family("x_events_total", MetricType::Gauge, "h"), std::invalid_argument);
  (void)w.finish();
  EXPECT_THROW(w.family("y", MetricType::Gauge, "h"), std::logic_error);
}

TEST(OpenMetrics, DialectFollowsTheTextfileCollectorsExtension) {
  EXPECT_EQ(metrics_dialect_for_path("/var/lib/node_exporter/textfile/labyrinth.prom"), MetricsDialect::PrometheusText);
  EXPECT_EQ(metrics_dialect_for_path("metrics.txt"), MetricsDialect::OpenMetrics);
  EXPECT_EQ(metrics_dialect_for_path("prom"), MetricsDialect::OpenMetrics);
}

TEST(OpenMetrics, WriteFileIsAtomicAndLeavesNoTemporary) {
  labyrinth::testing::TempDir dir;
  const std::string path = dir.file("m.om");
  MetricsWriter first;
  write_example(first);
  first.write_file(path, {.overwrite = true});
  MetricsWriter second;
  second.family("other_pages", MetricType::Gauge, "h", "pages");
  second.sample({}, std::uint64_t{7});
  second.write_file(path, {.overwrite = true});
  std::stringstream s;
  s << std::ifstream(path).rdbuf();
  EXPECT_EQ(s.str(), "# TYPE other_pages gauge\n# UNIT other_pages pages\n# HELP other_pages h\nother_pages 7\n# EOF\n");
  EXPECT_EQ(dir.entries().size(), 1u);  // the temporary was renamed, not left behind
  MetricsWriter third;
  EXPECT_THROW(third.write_file(path, {.overwrite = false}), OutputError);
}

// Both dialects through the real parser: every label, escape and value reads back.
TEST(OpenMetrics, RealParserReadsBothDialectsBack) {
  labyrinth::testing::TempDir dir;
  for (const char* name : {"m.txt", "m.prom"}) {
    const std::string path = dir.file(name);
    MetricsWriter w(metrics_dialect_for_path(path));
    write_example(w);
    w.write_file(path, {});
    const auto parsed = parse_metrics_file(path);
    LABYRINTH_REQUIRE_PARSED(parsed);
    const auto normal = samples_of(parsed.families, "demo_allocated_bytes_total", {{"zone", "Normal"}});
    ASSERT_EQ(normal.size(), 1u) << name << parsed.families.dump();
    EXPECT_EQ(normal[0]["labels"]["path"], "a\\b\"c\nd") << name;
    EXPECT_EQ(normal[0]["value"], 4096.0);
    const auto ratio = samples_of(parsed.families, "demo_unusable_ratio", {{"order", "3"}});
    ASSERT_EQ(ratio.size(), 1u);
    EXPECT_EQ(ratio[0]["value"], 0.25);
    EXPECT_EQ(samples_of(parsed.families, "demo_unusable_ratio", {{"order", "4"}})[0]["value"], "nan");
    const std::string promtool = labyrinth::testing::promtool_path();
    if (!promtool.empty() && w.dialect() == MetricsDialect::PrometheusText) {
      EXPECT_EQ(std::system((promtool + " check metrics < '" + path + "'").c_str()), 0) << "promtool: " << name;
    }
    for (const auto& fam : parsed.families) {
      if (fam["name"] == "demo_allocated_bytes") {
        EXPECT_EQ(fam["type"], "counter") << name;
        EXPECT_EQ(fam["help"], "Bytes \"allocated\"\nby zone") << name;
      }
    }
  }
}

}  // namespace
}  // namespace labyrinth::common
