// GFP tables of the kernel eras (docs/kernel-rules.md §2.2, plus the include/linux/gfp.h history
// of 2.6.24 .. 6.2 read from upstream patch mails: the 4.4 reclaim split, the 4.10 removal of
// __GFP_OTHER_NODE, the 4.18 refill of stranded bits, the 5.1 shuffle, the 6.3 removal of
// __GFP_ATOMIC). Names are what %pGg prints; a renamed flag gets two entries with the same
// bits, the first for printing, both for parsing.
#include "labyrinth/traces/gfp_history.hpp"

#include <charconv>
#include <vector>

namespace labyrinth::traces {
namespace {

// Single-bit positions of one era (0 = the flag does not exist there).
struct EraBits {
  std::uint64_t dma = 0x1, highmem = 0x2, dma32 = 0x4, movable = 0x8;
  std::uint64_t reclaimable = 0, high = 0x20, io = 0x40, fs = 0x80;
  std::uint64_t wait = 0, cold = 0, zero = 0, atomic = 0, direct_reclaim = 0, kswapd_reclaim = 0;
  std::uint64_t write = 0, nowarn = 0, retry_mayfail = 0, nofail = 0, noretry = 0, memalloc = 0;
  std::uint64_t comp = 0, nomemalloc = 0, hardwall = 0, thisnode = 0, account = 0, notrack = 0;
  std::uint64_t other_node = 0, no_kswapd = 0;
  bool repeat_name = false;   // 0x400 printed as __GFP_REPEAT (before 4.13)
  bool temporary = false;     // GFP_TEMPORARY exists (before 4.14)
};

EraBits era_bits(GfpEra era) {
  EraBits b;
  switch (era) {
    case GfpEra::Legacy:
      b.wait = 0x10; b.cold = 0x100; b.nowarn = 0x200; b.retry_mayfail = 0x400; b.nofail = 0x800;
      b.noretry = 0x1000; b.memalloc = 0x2000; b.comp = 0x4000; b.zero = 0x8000; b.nomemalloc = 0x10000;
      b.hardwall = 0x20000; b.thisnode = 0x40000; b.reclaimable = 0x80000; b.notrack = 0x200000;
      b.no_kswapd = 0x400000; b.other_node = 0x800000; b.write = 0x1000000;
      b.repeat_name = true; b.temporary = true;
      break;
    case GfpEra::V4_4:
    case GfpEra::V4_10:
      b.reclaimable = 0x10; b.cold = 0x100; b.nowarn = 0x200; b.retry_mayfail = 0x400; b.nofail = 0x800;
      b.noretry = 0x1000; b.memalloc = 0x2000; b.comp = 0x4000; b.zero = 0x8000; b.nomemalloc = 0x10000;
      b.hardwall = 0x20000; b.thisnode = 0x40000; b.atomic = 0x80000; b.account = 0x100000;
      b.notrack = 0x200000; b.direct_reclaim = 0x400000;
      b.repeat_name = true; b.temporary = true;
      if (era == GfpEra::V4_4) {
        b.other_node = 0x800000; b.write = 0x1000000; b.kswapd_reclaim = 0x2000000;
      } else {
        b.write = 0x800000; b.kswapd_reclaim = 0x1000000;
      }
      break;
    case GfpEra::V4_18:
      b.reclaimable = 0x10; b.write = 0x100; b.nowarn = 0x200; b.retry_mayfail = 0x400; b.nofail = 0x800;
      b.noretry = 0x1000; b.memalloc = 0x2000; b.comp = 0x4000; b.zero = 0x8000; b.nomemalloc = 0x10000;
      b.hardwall = 0x20000; b.thisnode = 0x40000; b.atomic = 0x80000; b.account = 0x100000;
      b.direct_reclaim = 0x200000; b.kswapd_reclaim = 0x400000;
      break;
    case GfpEra::V5_1:
    case GfpEra::V6_3:
      b.reclaimable = 0x10; b.zero = 0x100; b.direct_reclaim = 0x400; b.kswapd_reclaim = 0x800;
      b.write = 0x1000; b.nowarn = 0x2000; b.retry_mayfail = 0x4000; b.nofail = 0x8000; b.noretry = 0x10000;
      b.memalloc = 0x20000; b.comp = 0x40000; b.nomemalloc = 0x80000; b.hardwall = 0x100000;
      b.thisnode = 0x200000; b.account = 0x400000;
      if (era == GfpEra::V5_1) b.atomic = 0x200;
      break;
  }
  return b;
}

GfpTable build(GfpEra era) {
  const EraBits b = era_bits(era);
  std::vector<GfpFlagName> t;
  auto add = [&t](std::uint64_t mask, const char* name) {
    if (mask != 0) t.push_back({mask, name});
  };
  // Before 4.4 "may sleep" was one bit; since then it is the pair of reclaim bits.
  const std::uint64_t reclaim = b.wait != 0 ? b.wait : (b.direct_reclaim | b.kswapd_reclaim);
  const std::uint64_t kernel = reclaim | b.io | b.fs;
  const std::uint64_t user = kernel | b.hardwall;
  const std::uint64_t highuser_movable = user | b.highmem | b.movable;
  const std::uint64_t atomic = b.high | b.atomic | b.kswapd_reclaim;
  if (b.kswapd_reclaim != 0) {
    const std::uint64_t light = (highuser_movable | b.comp | b.nomemalloc | b.nowarn) & ~reclaim;
    add(light | b.direct_reclaim, "GFP_TRANSHUGE");
    add(light, "GFP_TRANSHUGE_LIGHT");
  }
  add(highuser_movable, "GFP_HIGHUSER_MOVABLE");
  add(user | b.highmem, "GFP_HIGHUSER");
  add(user, "GFP_USER");
  if (b.temporary && b.reclaimable != 0) add(kernel | b.reclaimable, "GFP_TEMPORARY");
  if (b.account != 0) add(kernel | b.account, "GFP_KERNEL_ACCOUNT");
  add(kernel, "GFP_KERNEL");
  add(reclaim | b.io, "GFP_NOFS");
  add(atomic, "GFP_ATOMIC");
  add(reclaim, "GFP_NOIO");
  if (b.kswapd_reclaim != 0) {
    if (era == GfpEra::V6_3) add(b.kswapd_reclaim | b.nowarn, "GFP_NOWAIT");  // 6.8 added __GFP_NOWARN to it
    add(b.kswapd_reclaim, "GFP_NOWAIT");
  }
  add(b.dma, "GFP_DMA");
  add(b.dma32, "GFP_DMA32");
  if (b.wait == 0) add(reclaim, "__GFP_RECLAIM");
  add(b.dma, "__GFP_DMA");
  add(b.highmem, "__GFP_HIGHMEM");
  add(b.dma32, "__GFP_DMA32");
  add(b.movable, "__GFP_MOVABLE");
  add(b.reclaimable, "__GFP_RECLAIMABLE");
  add(b.high, "__GFP_HIGH");
  add(b.atomic, "__GFP_ATOMIC");
  add(b.io, "__GFP_IO");
  add(b.fs, "__GFP_FS");
  add(b.wait, "__GFP_WAIT");
  add(b.cold, "__GFP_COLD");
  add(b.zero, "__GFP_ZERO");
  add(b.direct_reclaim, "__GFP_DIRECT_RECLAIM");
  add(b.kswapd_reclaim, "__GFP_KSWAPD_RECLAIM");
  add(b.write, "__GFP_WRITE");
  add(b.nowarn, "__GFP_NOWARN");
  if (b.repeat_name) {
    add(b.retry_mayfail, "__GFP_REPEAT");
    if (era != GfpEra::Legacy) add(b.retry_mayfail, "__GFP_RETRY_MAYFAIL");  // 4.13 renamed it
  } else {
    add(b.retry_mayfail, "__GFP_RETRY_MAYFAIL");
  }
  add(b.nofail, "__GFP_NOFAIL");
  add(b.noretry, "__GFP_NORETRY");
  add(b.memalloc, "__GFP_MEMALLOC");
  add(b.comp, "__GFP_COMP");
  add(b.nomemalloc, "__GFP_NOMEMALLOC");
  add(b.hardwall, "__GFP_HARDWALL");
  add(b.thisnode, "__GFP_THISNODE");
  add(b.account, "__GFP_ACCOUNT");
  add(b.notrack, "__GFP_NOTRACK");
  add(b.other_node, "__GFP_OTHER_NODE");
  add(b.no_kswapd, "__GFP_NO_KSWAPD");
  return GfpTable(std::move(t));
}

bool parse_uint(std::string_view& text, unsigned& out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc{} || ptr == begin) return false;
  text.remove_prefix(static_cast<std::size_t>(ptr - begin));
  return true;
}

}  // namespace

std::optional<KernelVersion> parse_kernel_version(std::string_view text) {
  KernelVersion v;
  if (!parse_uint(text, v.major) || text.empty() || text.front() != '.') return std::nullopt;
  text.remove_prefix(1);
  if (!parse_uint(text, v.minor)) return std::nullopt;
  if (!text.empty() && text.front() == '.') {
    text.remove_prefix(1);
    if (!parse_uint(text, v.patch)) v.patch = 0;
    // 2.6.32.61: the fourth number of 2.6 stable releases is of no interest here.
  }
  if (v.major == 0 || v.major > 99 || v.minor > 255) return std::nullopt;
  return v;
}

std::string_view to_string(GfpEra era) {
  switch (era) {
    case GfpEra::Legacy: return "2.6.24-4.3";
    case GfpEra::V4_4: return "4.4-4.9";
    case GfpEra::V4_10: return "4.10-4.17";
    case GfpEra::V4_18: return "4.18-5.0";
    case GfpEra::V5_1: return "5.1-6.2";
    case GfpEra::V6_3: return "6.3+";
  }
  return "unknown";
}

GfpEra gfp_era_of(const KernelVersion& v) {
  auto at_least = [&v](unsigned major, unsigned minor) {
    return v.major > major || (v.major == major && v.minor >= minor);
  };
  if (at_least(6, 3)) return GfpEra::V6_3;
  if (at_least(5, 1)) return GfpEra::V5_1;
  if (at_least(4, 18)) return GfpEra::V4_18;
  if (at_least(4, 10)) return GfpEra::V4_10;
  if (at_least(4, 4)) return GfpEra::V4_4;
  return GfpEra::Legacy;
}

GfpTable gfp_table_of(GfpEra era) { return build(era); }

}  // namespace labyrinth::traces
