// The command-line size and duration parsers (cli/units.hpp): `-d 1.5s`, `--balloon 2G`.
// Whatever they accept must print and parse back to the same value.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::cli;
  const std::string_view text = labyrinth::fuzz::as_text(data, size);
  const ParsedUnit bytes = parse_size(text);
  if (bytes.ok()) {
    const ParsedUnit again = parse_size(std::to_string(bytes.value));
    if (!again.ok() || again.value != bytes.value) labyrinth::fuzz::fail("size does not parse back");
  } else if (bytes.error.find('\'') == std::string::npos) {
    labyrinth::fuzz::fail("size error does not quote the input");
  }
  const ParsedUnit ns = parse_duration(text);
  if (ns.ok()) {
    const ParsedUnit again = parse_duration(std::to_string(ns.value) + "ns");
    if (!again.ok() || again.value != ns.value) labyrinth::fuzz::fail("duration does not parse back");
  } else if (ns.error.find('\'') == std::string::npos) {
    labyrinth::fuzz::fail("duration error does not quote the input");
  }
  return 0;
}
