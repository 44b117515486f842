// The GFP table parser of a tracepoint format file (the __print_flags list of
// events/kmem/mm_page_alloc/format), then the table rendering and parsing flag strings.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_support.hpp"
#include "labyrinth/traces/gfp_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labyrinth::traces;
  const auto table = GfpTable::from_format_text(labyrinth::fuzz::as_text(data, size));
  if (!table) {
    if (table.why().empty()) labyrinth::fuzz::fail("no table and no reason");
    return 0;
  }
  if (table->empty()) labyrinth::fuzz::fail("an empty table was accepted");
  // Render a few bit patterns and parse them back; the last 8 input bytes give one more.
  std::uint64_t tail = 0;
  if (size >= 8) std::memcpy(&tail, data + size - 8, 8);
  for (const std::uint64_t bits : {std::uint64_t{0}, ~std::uint64_t{0}, tail, table->entries().front().mask}) {
    const std::string text = table->format(bits);
    (void)table->parse(text);
  }
  (void)GfpBits::from(*table);
  return 0;
}
