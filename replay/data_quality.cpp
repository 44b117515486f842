#include "labyrinth/replay/data_quality.hpp"

namespace labyrinth::replay {
namespace {

constexpr std::array<DataQualityInfo, kDataQualityCount> kInfo = {{
#define LABY_DQ_INFO(name, severity, description) {#name, Severity::severity, description},
    LABY_DATA_QUALITY(LABY_DQ_INFO)
#undef LABY_DQ_INFO
}};

}  // namespace

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::Info: return "info";
    case Severity::DataLoss: return "data_loss";
    case Severity::Error: return "error";
  }
  return "info";
}

const DataQualityInfo& info(DataQuality counter) { return kInfo[static_cast<std::size_t>(counter)]; }

std::uint64_t DataQualityCounters::losses() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < kDataQualityCount; ++i) {
    if (kInfo[i].severity != Severity::Info) n += values[i];
  }
  return n;
}

bool DataQualityCounters::lossy() const {
  for (std::size_t i = 0; i < kDataQualityCount; ++i) {
    if (values[i] != 0 && kInfo[i].severity != Severity::Info) return true;
  }
  return false;
}

}  // namespace labyrinth::replay
