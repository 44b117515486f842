// Parsing the flight recorder's options of `labyrinth record`: --flight-recorder
// DURATION|SIZE[,...] and --trigger WHAT. Only with the eBPF recorder.
#pragma once

#include <string>
#include <string_view>

#include "labyrinth/ebpf/flight_recorder.hpp"

namespace labyrinth::cli {

// "2m" (keep two minutes, in at most 64 MiB), "64M" (keep what fits in 64 MiB), "2m,256M"
// (both). A size has an upper-case unit (K, M, G) or ends in B; anything else is a duration.
// Returns an error text, empty on success.
std::string parse_flight_spec(std::string_view text, ebpf::FlightOptions& out);

// "failure", "failure:atomic", "failure:atomic:order>=4:gfp=__GFP_HIGH", "sigusr1",
// "free<20000", "free<20000:Normal". Returns an error text, empty on success.
std::string parse_trigger(std::string_view text, ebpf::FlightTrigger& out);

}  // namespace labyrinth::cli
