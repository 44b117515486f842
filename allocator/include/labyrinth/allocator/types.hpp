// Basic vocabulary of the allocator model: page frame numbers, owners, migratetypes, zones.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string_view>

namespace labyrinth::allocator {

/// A page frame number. A strong type so that a pfn, a page count and an order cannot be
/// swapped by accident at a call site.
struct Pfn {
  std::uint64_t value = 0;
  friend constexpr auto operator<=>(Pfn, Pfn) = default;
};
[[nodiscard]] constexpr Pfn operator+(Pfn pfn, std::uint64_t pages) { return Pfn{pfn.value + pages}; }

/// Who holds an allocated block: an opaque tag chosen by the caller (a pid, an allocation id...).
using Owner = std::uint64_t;
/// Owner of every page that the seed snapshot did not list as free: allocated before the
/// recording started, by someone unknown. Such pages may be freed or carved without complaint.
inline constexpr Owner kSeedOwner = ~Owner{0};

/// Largest max_order (inclusive, the kernel's MAX_PAGE_ORDER) the model supports.
inline constexpr unsigned kMaxOrderLimit = 15;
/// The largest machine a model takes: the span of all its zones, holes included.
inline constexpr std::uint64_t kMaxMachineBytes = std::uint64_t{16} << 40;
/// Array extent for per-order tables (orders 0..kMaxOrderLimit).
inline constexpr unsigned kOrderSlots = kMaxOrderLimit + 1;

/// include/linux/mmzone.h, numbered as in a CONFIG_CMA=y kernel. A kernel without CMA numbers
/// Isolate 4: map recorded numbers by name (migratetype_names[]), not by value.
enum class MigrateType : std::uint8_t {
  Unmovable = 0,
  Movable = 1,
  Reclaimable = 2,
  HighAtomic = 3,
  Cma = 4,
  Isolate = 5,
};
inline constexpr unsigned kMigrateTypes = 6;
/// Types with per-cpu lists and fallbacks (MIGRATE_PCPTYPES).
inline constexpr unsigned kPcpTypes = 3;

[[nodiscard]] constexpr unsigned index_of(MigrateType mt) { return static_cast<unsigned>(mt); }
/// migratetype_is_mergeable(): only Unmovable, Movable and Reclaimable blocks merge freely.
[[nodiscard]] constexpr bool is_mergeable(MigrateType mt) { return index_of(mt) < kPcpTypes; }
/// "Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate" (migratetype_names[]).
[[nodiscard]] std::string_view migratetype_name(MigrateType mt);
[[nodiscard]] std::optional<MigrateType> migratetype_from_name(std::string_view name);

/// Zone kinds, ordered like the kernel's enum zone_type. A kernel without HIGHMEM simply has no
/// zone of that kind; per-zone-kind tables (lowmem_reserve, ratios) are indexed by this enum.
enum class ZoneType : std::uint8_t { Dma = 0, Dma32 = 1, Normal = 2, HighMem = 3, Movable = 4, Device = 5 };
inline constexpr unsigned kZoneTypes = 6;

[[nodiscard]] constexpr unsigned index_of(ZoneType zt) { return static_cast<unsigned>(zt); }
/// "DMA", "DMA32", "Normal", "HighMem", "Movable", "Device" (as in /proc/zoneinfo).
[[nodiscard]] std::string_view zone_type_name(ZoneType zt);
[[nodiscard]] std::optional<ZoneType> zone_type_from_name(std::string_view name);

}  // namespace labyrinth::allocator
