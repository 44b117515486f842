// labyrinth stat --json and perf kmem --page stat agree on the same recording
// (tests/fixtures/perf-kmem: the perf script text of one perf.data and perf kmem's output on it).
//
// Definitions differ in one place, documented in tests/fixtures/perf-kmem/README.md:
// perf's "Total allocation requests" counts failed requests too, labyrinth's "allocations" counts
// successful ones and reports failures apart; so requests = allocations + failures.
// Both ignore mm_page_free_batched for frees (labyrinth shows it as batched_frees).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "import_test_util.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using import_testing::fixture_path;
using import_testing::read_file;
using import_testing::sample_path;
using import_testing::TempDir;
using testing::run_labyrinth;

struct PerfKmem {
  std::map<std::string, std::uint64_t> totals;        // "Total allocation requests" -> count
  std::map<std::pair<int, int>, std::uint64_t> matrix;  // (order, column) -> allocations
};

PerfKmem parse_perf_kmem(const std::string& text) {
  PerfKmem out;
  const std::regex total(R"(^(Total [a-z+\- ]+?)\s*:\s*(\d+)\s*\[)");
  const std::regex row(R"(^\s*(\d+)((?:\s+(?:\d+|\.))+)\s*$)");
  std::istringstream lines(text);
  std::string line;
  std::smatch m;
  while (std::getline(lines, line)) {
    if (std::regex_search(line, m, total)) {
      out.totals[m[1].str()] = std::stoull(m[2].str());
    } else if (std::regex_match(line, m, row)) {
      std::istringstream cells(m[2].str());
      std::string cell;
      for (int column = 0; cells >> cell; ++column) {
        if (cell != ".") out.matrix[{std::stoi(m[1].str()), column}] = std::stoull(cell);
      }
    }
  }
  return out;
}

TEST(PerfKmemAgreement, StatAgreesWithPerfKmemOnTheSameRecording) {
  const PerfKmem perf = parse_perf_kmem(read_file(fixture_path("perf-kmem/perf-kmem-stat.txt")));
  ASSERT_EQ(perf.totals.count("Total allocation requests"), 1U) << "perf kmem output not understood";
  ASSERT_EQ(perf.totals.count("Total free requests"), 1U);
  ASSERT_EQ(perf.totals.count("Total allocation failures"), 1U);
  ASSERT_FALSE(perf.matrix.empty());

  TempDir dir;
  const std::string trace = dir.file("perf.trace");
  const auto imported = run_labyrinth({"import", "perf-script", fixture_path("perf-kmem/perf-script.txt.zst"), "-o",
                                       trace, "--format-file", sample_path("mm_page_alloc.format")});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const auto stat = run_labyrinth({"stat", trace, "--json", "-"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  const auto doc = nlohmann::json::parse(stat.out);
  const auto& summary = doc.at("summary");
  const std::uint64_t allocations = summary.at("allocations");
  const std::uint64_t frees = summary.at("frees");
  const std::uint64_t failures = summary.at("failures");

  // The three totals of issue #2.
  EXPECT_EQ(allocations + failures, perf.totals.at("Total allocation requests"));
  EXPECT_EQ(frees, perf.totals.at("Total free requests"));
  EXPECT_EQ(failures, perf.totals.at("Total allocation failures"));
  EXPECT_GT(failures, 0U) << "the fixture's workload has refused allocations";

  // The pairing of frees with allocations by pfn, too.
  EXPECT_EQ(summary.at("alloc_freed").get<std::uint64_t>(), perf.totals.at("Total alloc+freed requests"));
  EXPECT_EQ(summary.at("free_only").get<std::uint64_t>(), perf.totals.at("Total free-only requests"));
  // perf's alloc-only is requests minus alloc+freed: it includes the failures and every
  // allocation of a pfn perf already held live; labyrinth's alloc_only counts pages still
  // live at the end. Only perf's own identity is checked here.
  EXPECT_EQ(perf.totals.at("Total alloc-only requests"), allocations + failures - perf.totals.at("Total alloc+freed requests"));
  // perf kmem ignores mm_page_free_batched; the capture holds some and labyrinth does not count
  // them as frees either.
  EXPECT_GT(summary.at("batched_frees").get<std::uint64_t>(), 0U);

  // perf's order x migratetype table of successful allocations. Its column labels are the
  // pre-4.4 order (Unmovable, Reclaimable, Movable, ...), but it indexes the columns with the
  // kernel's migratetype value (0 Unmovable, 1 Movable, 2 Reclaimable, ...): compare by index.
  const std::map<std::string, int> index = {{"Unmovable", 0}, {"Movable", 1}, {"Reclaimable", 2},
                                            {"HighAtomic", 3}, {"CMA", 4}, {"Isolate", 5}};
  std::map<std::pair<int, int>, std::uint64_t> ours;
  for (const auto& row : doc.at("breakdowns").at("order_migratetype")) {
    const std::uint64_t n = row.at("allocations");
    if (n > 0) ours[{row.at("order").get<int>(), index.at(row.at("migratetype").get<std::string>())}] += n;
  }
  EXPECT_EQ(ours, perf.matrix);
}

TEST(PerfKmemAgreement, FixtureTextIsTheRecordingPerfCounted) {
  // The perf script text holds exactly the samples perf kmem processed.
  const std::string text = import_testing::read_capture(fixture_path("perf-kmem/perf-script.txt.zst"));
  const PerfKmem perf = parse_perf_kmem(read_file(fixture_path("perf-kmem/perf-kmem-stat.txt")));
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  for (std::string_view line : import_testing::lines_of(text)) {
    allocs += line.find(" kmem:mm_page_alloc: ") != std::string_view::npos ? 1U : 0U;
    frees += line.find(" kmem:mm_page_free: ") != std::string_view::npos ? 1U : 0U;
  }
  EXPECT_EQ(allocs, perf.totals.at("Total allocation requests"));
  EXPECT_EQ(frees, perf.totals.at("Total free requests"));
}

}  // namespace
}  // namespace labyrinth
