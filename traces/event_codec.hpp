// Column encoding of a chunk of events: each field in its own stream, delta and varint
// coded, so that zstd finds the repetition. See labyrinth-trace(5), "Events block".
#pragma once

#include <string>
#include <vector>

#include "labyrinth/traces/page_event.hpp"

namespace labyrinth::traces {

// Appends the encoded chunk to `out` (which is cleared first).
void encode_events(const std::vector<PageEvent>& events, std::string& out);

// Decodes exactly `count` events; false (with a reason) if the bytes are inconsistent.
bool decode_events(const unsigned char* data, std::size_t size, std::uint32_t count,
                   std::vector<PageEvent>& out, std::string& error);

}  // namespace labyrinth::traces
