#include <gtest/gtest.h>

#include "labyrinth/traces/gfp_table.hpp"

namespace labyrinth::traces {
namespace {

TEST(GfpTable, FormatsGreedilyInKernelOrder) {
  const GfpTable t = GfpTable::builtin_linux_6_10();
  EXPECT_EQ(t.format(0), "none");
  EXPECT_EQ(t.format(0x820), "GFP_ATOMIC");
  EXPECT_EQ(t.format(0xcc0), "GFP_KERNEL");
  EXPECT_EQ(t.format(0x140cca), "GFP_HIGHUSER_MOVABLE|__GFP_COMP");
  // GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP as seen on loopback softirq refills
  EXPECT_EQ(t.format(0x52820), "GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
  // A mask with no composite prints single bits only.
  EXPECT_EQ(t.format(0xc0 | 0x2000 | 0x10000 | 0x40000 | 0x80000),
            "__GFP_IO|__GFP_FS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC");
  // Unknown bits survive as hex.
  EXPECT_EQ(t.format(0x820 | (1ull << 40)), "GFP_ATOMIC|0x10000000000");
}

TEST(GfpTable, ParsesWhatItFormats) {
  const GfpTable t = GfpTable::builtin_linux_6_10();
  for (std::uint64_t bits : {0x0ull, 0x820ull, 0xcc0ull, 0x140ccaull, 0x52820ull, 0x400cc0ull, 0x1c24caull,
                             0x820ull | (1ull << 40), 0x2800ull, 0x1ffffffull}) {
    const auto back = t.parse(t.format(bits));
    ASSERT_TRUE(back.has_value()) << t.format(bits);
    EXPECT_EQ(*back, bits) << t.format(bits);
  }
  EXPECT_FALSE(t.parse("GFP_BOGUS").has_value());
  EXPECT_FALSE(t.parse("GFP_KERNEL|0xzz").has_value());
}

TEST(GfpTable, KnowsTheBitsTheAnalysisNeeds) {
  const GfpBits b = GfpBits::from(GfpTable::builtin_linux_6_10());
  EXPECT_EQ(b.high, 0x20u);
  EXPECT_EQ(b.direct_reclaim, 0x400u);
  EXPECT_EQ(b.kswapd_reclaim, 0x800u);
  EXPECT_EQ(b.nowarn, 0x2000u);
  EXPECT_EQ(b.noretry, 0x10000u);
  EXPECT_EQ(b.movable, 0x8u);
  EXPECT_EQ(b.account, 0x400000u);
}

}  // namespace
}  // namespace labyrinth::traces
