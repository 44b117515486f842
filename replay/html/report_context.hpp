// What every section of the report reads: the results, the options, names and time origin.
// Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "labyrinth/html/report.hpp"
#include "markup.hpp"

namespace labyrinth::html {

struct ReportContext {
  ReportContext(const replay::ReplayResult& r, const replay::StatResult& s, const ReportOptions& o);

  const replay::ReplayResult& replay;
  const replay::StatResult& stat;
  const ReportOptions& options;
  std::uint64_t t0_ns = 0;  // the time axis starts here

  [[nodiscard]] double seconds(std::uint64_t ts_ns) const {
    return ts_ns >= t0_ns ? static_cast<double>(ts_ns - t0_ns) / 1e9 : 0.0;
  }
  [[nodiscard]] std::string comm(std::uint32_t comm_id) const;
  [[nodiscard]] std::string callsite(std::uint32_t stack_id) const;  // "" without a stack
  [[nodiscard]] std::string zone_label(std::optional<std::uint16_t> zone) const;
  [[nodiscard]] std::string migratetype_name(int type) const;
  [[nodiscard]] std::string pages(std::uint64_t n) const;  // "1234 pages (4.8 MiB)"
  // The model zones charted: those with pages, the largest `max_zones`, in model order.
  [[nodiscard]] const std::vector<std::uint16_t>& charted_zones() const { return charted_; }

 private:
  std::unordered_map<std::uint32_t, std::string> comms_, callsites_;
  std::vector<std::uint16_t> charted_;
};

// One-line forensics of a failure, for a hover title and the table.
std::string failure_summary(const ReportContext& c, const replay::FailureRecord& f);

// The sections, each appending its <section> to the page.
void summary_section(Markup& m, const ReportContext& c);
void timeline_section(Markup& m, const ReportContext& c);
void failure_section(Markup& m, const ReportContext& c);
void memory_map_section(Markup& m, const ReportContext& c);
void breakdown_section(Markup& m, const ReportContext& c);
void quality_section(Markup& m, const ReportContext& c);
void validation_section(Markup& m, const ReportContext& c);

}  // namespace labyrinth::html
