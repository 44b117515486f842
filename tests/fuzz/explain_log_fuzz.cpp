// labyrinth explain's whole path on arbitrary text: log normalisation, report parsing, the
// explanation (zonelist, watermark check, min_free_kbytes search) and both renderings.
// Oracles: every report gets a cause, an explained report has at least one zone, and the
// JSON document (with invalid UTF-8 replaced, as the CLI writes it) serialises.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "labyrinth/explain/explain_output.hpp"
#include "labyrinth/explain/kernel_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::explain;
  const auto lines = normalise_kernel_log(labyrinth::fuzz::as_text(data, size));
  const auto reports = parse_failure_reports(lines);
  std::vector<Explanation> results;
  for (const auto& r : reports) {
    results.push_back(explain_report(r, std::nullopt));
    const Explanation& e = results.back();
    if (e.status == Status::Explained && e.zones.empty()) labyrinth::fuzz::fail("explained without a zone");
    if (e.status == Status::Explained && e.cause == Cause::Incomplete) labyrinth::fuzz::fail("explained but incomplete");
    if (e.verdict.empty()) labyrinth::fuzz::fail("no verdict");
  }
  (void)explain_to_text(results);
  (void)explain_to_json(results, "fuzz").dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return 0;
}
