// Encoding of a snapshot block: a JSON part (zones, counts) and the free-page runs as
// delta varints. Also the small definition blocks (process names, stacks).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

void encode_snapshot(const Snapshot& snapshot, std::string& out);
bool decode_snapshot(const unsigned char* data, std::size_t size, Snapshot& out, std::string& error);

void encode_comms(const std::vector<std::pair<std::uint32_t, std::string>>& comms, std::string& out);
bool decode_comms(const unsigned char* data, std::size_t size, std::uint32_t count,
                  std::unordered_map<std::uint32_t, std::string>& table, std::string& error);

void encode_stacks(const std::vector<StackTrace>& stacks, std::string& out);
bool decode_stacks(const unsigned char* data, std::size_t size, std::uint32_t count,
                   std::unordered_map<std::uint32_t, StackTrace>& table, std::string& error);

}  // namespace labyrinth::traces
