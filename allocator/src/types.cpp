// Names of migratetypes and zone types, as the kernel prints them.
#include <array>
#include <string_view>

#include "labyrinth/allocator/types.hpp"

namespace labyrinth::allocator {

namespace {
constexpr std::array<std::string_view, kMigrateTypes> kMigrateNames{"Unmovable", "Movable", "Reclaimable",
                                                                    "HighAtomic", "CMA", "Isolate"};
constexpr std::array<std::string_view, kZoneTypes> kZoneNames{"DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"};
}  // namespace

std::string_view migratetype_name(MigrateType mt) {
  const unsigned i = index_of(mt);
  return i < kMigrateTypes ? kMigrateNames[i] : std::string_view{"?"};
}

std::optional<MigrateType> migratetype_from_name(std::string_view name) {
  for (unsigned i = 0; i < kMigrateTypes; ++i) {
    if (kMigrateNames[i] == name) {
      return static_cast<MigrateType>(i);
    }
  }
  return std::nullopt;
}

std::string_view zone_type_name(ZoneType zt) {
  const unsigned i = index_of(zt);
  return i < kZoneTypes ? kZoneNames[i] : std::string_view{"?"};
}

std::optional<ZoneType> zone_type_from_name(std::string_view name) {
  for (unsigned i = 0; i < kZoneTypes; ++i) {
    if (kZoneNames[i] == name) {
      return static_cast<ZoneType>(i);
    }
  }
  return std::nullopt;
}

}  // namespace labyrinth::allocator
