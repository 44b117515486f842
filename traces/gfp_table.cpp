#include "labyrinth/traces/gfp_table.hpp"

#include <charconv>
#include <utility>

namespace labyrinth::traces {
namespace {

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t{1} << n; }

// Single-bit flags of Linux 6.10+ (include/linux/gfp_types.h), config bits off except
// SLAB_OBJ_EXT, which is the layout this project's reference kernel (6.18) prints.
struct Bits {
  static constexpr std::uint64_t dma = bit(0), highmem = bit(1), dma32 = bit(2), movable = bit(3),
                                 reclaimable = bit(4), high = bit(5), io = bit(6), fs = bit(7),
                                 zero = bit(8), direct_reclaim = bit(10), kswapd_reclaim = bit(11),
                                 write = bit(12), nowarn = bit(13), retry_mayfail = bit(14),
                                 nofail = bit(15), noretry = bit(16), memalloc = bit(17), comp = bit(18),
                                 nomemalloc = bit(19), hardwall = bit(20), thisnode = bit(21),
                                 account = bit(22), zerotags = bit(23), no_obj_ext = bit(24);
  static constexpr std::uint64_t reclaim = direct_reclaim | kswapd_reclaim;
  static constexpr std::uint64_t kernel = reclaim | io | fs;
  static constexpr std::uint64_t user = kernel | hardwall;
  static constexpr std::uint64_t highuser = user | highmem;
  static constexpr std::uint64_t highuser_movable = highuser | movable;
  static constexpr std::uint64_t transhuge_light = (highuser_movable | comp | nomemalloc | nowarn) & ~reclaim;
};

}  // namespace

std::string_view to_string(GfpTableSource source) {
  switch (source) {
    case GfpTableSource::FormatFile: return "format-file";
    case GfpTableSource::RunningKernel: return "running-kernel";
    case GfpTableSource::BuiltIn: return "built-in";
    case GfpTableSource::Trace: return "trace";
  }
  return "unknown";
}

GfpTable::GfpTable(std::vector<GfpFlagName> entries) : entries_(std::move(entries)) {}

GfpTable GfpTable::builtin_linux_6_10() {
  using B = Bits;
  return GfpTable({
      {B::transhuge_light | B::direct_reclaim, "GFP_TRANSHUGE"},
      {B::transhuge_light, "GFP_TRANSHUGE_LIGHT"},
      {B::highuser_movable, "GFP_HIGHUSER_MOVABLE"},
      {B::highuser, "GFP_HIGHUSER"},
      {B::user, "GFP_USER"},
      {B::kernel | B::account, "GFP_KERNEL_ACCOUNT"},
      {B::kernel, "GFP_KERNEL"},
      {B::reclaim | B::io, "GFP_NOFS"},
      {B::high | B::kswapd_reclaim, "GFP_ATOMIC"},
      {B::reclaim, "GFP_NOIO"},
      {B::kswapd_reclaim | B::nowarn, "GFP_NOWAIT"},
      {B::dma, "GFP_DMA"},
      {B::dma32, "GFP_DMA32"},
      {B::reclaim, "__GFP_RECLAIM"},
      {B::dma, "__GFP_DMA"},
      {B::highmem, "__GFP_HIGHMEM"},
      {B::dma32, "__GFP_DMA32"},
      {B::movable, "__GFP_MOVABLE"},
      {B::reclaimable, "__GFP_RECLAIMABLE"},
      {B::high, "__GFP_HIGH"},
      {B::io, "__GFP_IO"},
      {B::fs, "__GFP_FS"},
      {B::zero, "__GFP_ZERO"},
      {B::direct_reclaim, "__GFP_DIRECT_RECLAIM"},
      {B::kswapd_reclaim, "__GFP_KSWAPD_RECLAIM"},
      {B::write, "__GFP_WRITE"},
      {B::nowarn, "__GFP_NOWARN"},
      {B::retry_mayfail, "__GFP_RETRY_MAYFAIL"},
      {B::nofail, "__GFP_NOFAIL"},
      {B::noretry, "__GFP_NORETRY"},
      {B::memalloc, "__GFP_MEMALLOC"},
      {B::comp, "__GFP_COMP"},
      {B::nomemalloc, "__GFP_NOMEMALLOC"},
      {B::hardwall, "__GFP_HARDWALL"},
      {B::thisnode, "__GFP_THISNODE"},
      {B::account, "__GFP_ACCOUNT"},
      {B::zerotags, "__GFP_ZEROTAGS"},
      {B::no_obj_ext, "__GFP_NO_OBJ_EXT"},
  });
}

std::string GfpTable::format(std::uint64_t gfp) const {
  if (gfp == 0) return "none";
  std::string out;
  std::uint64_t rest = gfp;
  // kernel/trace/trace_output.c:trace_print_flags_seq: greedy, in table order.
  for (const auto& entry : entries_) {
    if (entry.mask == 0 || (rest & entry.mask) != entry.mask) continue;
    if (!out.empty()) out += '|';
    out += entry.name;
    rest &= ~entry.mask;
    if (rest == 0) break;
  }
  if (rest != 0) {
    if (!out.empty()) out += '|';
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, rest, 16);
    (void)ec;
    out += "0x";
    out.append(buf, end);
  }
  return out;
}

std::optional<std::uint64_t> GfpTable::parse(std::string_view text) const {
  if (text == "none" || text == "0") return 0;
  std::uint64_t bits = 0;
  while (!text.empty()) {
    const auto bar = text.find('|');
    const std::string_view name = text.substr(0, bar);
    text = bar == std::string_view::npos ? std::string_view{} : text.substr(bar + 1);
    if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
      std::uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), value, 16);
      if (ec != std::errc{} || ptr != name.data() + name.size()) return std::nullopt;
      bits |= value;
      continue;
    }
    const std::uint64_t mask = bits_of(name);
    if (mask == 0) return std::nullopt;
    bits |= mask;
  }
  return bits;
}

std::uint64_t GfpTable::bits_of(std::string_view name) const {
  for (const auto& entry : entries_) {
    if (entry.name == name) return entry.mask;
  }
  return 0;
}

GfpBits GfpBits::from(const GfpTable& table) {
  GfpBits bits;
  bits.high = table.bits_of("__GFP_HIGH");
  bits.direct_reclaim = table.bits_of("__GFP_DIRECT_RECLAIM");
  bits.kswapd_reclaim = table.bits_of("__GFP_KSWAPD_RECLAIM");
  bits.nowarn = table.bits_of("__GFP_NOWARN");
  bits.noretry = table.bits_of("__GFP_NORETRY");
  bits.nomemalloc = table.bits_of("__GFP_NOMEMALLOC");
  bits.memalloc = table.bits_of("__GFP_MEMALLOC");
  bits.movable = table.bits_of("__GFP_MOVABLE");
  bits.reclaimable = table.bits_of("__GFP_RECLAIMABLE");
  bits.dma = table.bits_of("__GFP_DMA");
  bits.dma32 = table.bits_of("__GFP_DMA32");
  bits.highmem = table.bits_of("__GFP_HIGHMEM");
  bits.account = table.bits_of("__GFP_ACCOUNT");
  bits.atomic = table.bits_of("__GFP_ATOMIC");
  bits.wait = table.bits_of("__GFP_WAIT");
  return bits;
}

}  // namespace labyrinth::traces
