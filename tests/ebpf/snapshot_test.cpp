// The free-page map (kpageflags runs and their decomposition) and the kallsyms symbolizer,
// on samples (no privileges needed). The /proc text parsers are tested in tests/procfs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "labyrinth/ebpf/kallsyms.hpp"
#include "labyrinth/ebpf/system_snapshot.hpp"

namespace labyrinth::ebpf {
namespace {

using traces::decompose_free_runs;
using traces::FreeRun;

TEST(FreeRuns, BuildsRunsOfBuddyPagesWithinTheZone) {
  const std::uint64_t buddy = 1ull << kKpfBuddyBit;
  const std::uint64_t flags[] = {0, buddy, buddy, 0, buddy | 1, buddy, buddy, buddy, buddy};
  // zone ends at pfn 100 + 8: the last page is outside
  const auto runs = free_runs_from_flags(flags, 9, 100, 108);
  EXPECT_EQ(runs, (std::vector<FreeRun>{{101, 2}, {104, 4}}));
}

TEST(FreeRuns, DecomposesIntoLargestAlignedBlocks) {
  // [3, 17): 3 (o0), 4-7 (o2), 8-15 (o3), 16 (o0)
  auto blocks = decompose_free_runs({{3, 14}}, 10);
  EXPECT_EQ(blocks[0], 2u);
  EXPECT_EQ(blocks[1], 0u);
  EXPECT_EQ(blocks[2], 1u);
  EXPECT_EQ(blocks[3], 1u);
  // a 4 MiB-aligned run of 2048 pages is two order-10 blocks, never an order-11 one
  blocks = decompose_free_runs({{4096, 2048}}, 10);
  EXPECT_EQ(blocks[10], 2u);
  // clipping to a zone
  blocks = decompose_free_runs({{0, 16}}, 10, 8, 12);
  EXPECT_EQ(blocks[2], 1u);
  EXPECT_EQ(blocks[3], 0u);
}

TEST(FreeRuns, DecompositionRoundTripsBuddyCounts) {
  // Free blocks laid out the way the buddy allocator leaves them: no two free buddies of
  // the same order are adjacent and aligned, so the decomposition must give them back.
  const std::vector<FreeRun> runs = {{0x1000, 1024}, {0x1400 + 512, 512}, {0x2001, 1}, {0x2002, 2}, {0x2004, 4}};
  const auto blocks = decompose_free_runs(runs, 10);
  EXPECT_EQ(blocks[10], 1u);
  EXPECT_EQ(blocks[9], 1u);
  EXPECT_EQ(blocks[0], 1u);
  EXPECT_EQ(blocks[1], 1u);
  EXPECT_EQ(blocks[2], 1u);
}

TEST(KernelSymbols, SymbolizesWithOffsetAndModule) {
  std::istringstream in(
      "ffffffff81000000 T _stext\n"
      "ffffffff81200000 T __alloc_pages_noprof\n"
      "ffffffff81200400 t get_page_from_freelist\n"
      "ffffffff81300000 D some_data\n"
      "ffffffffc0001000 t e1000_xmit\t[e1000]\n");
  KernelSymbols syms;
  syms.load(in);
  EXPECT_EQ(syms.size(), 4u);  // data symbols are left out
  EXPECT_EQ(syms.symbolize(0xffffffff81200010), "__alloc_pages_noprof+0x10");
  EXPECT_EQ(syms.symbolize(0xffffffff81200400), "get_page_from_freelist+0x0");
  EXPECT_EQ(syms.symbolize(0xffffffffc0001234), "e1000_xmit+0x234 [e1000]");
  EXPECT_EQ(syms.symbolize(0x1000), "0x1000");
}

TEST(KernelSymbols, RestrictedKallsymsIsReportedAsUnusable) {
  std::istringstream in("0000000000000000 T _stext\n0000000000000000 T foo\n");
  KernelSymbols syms;
  syms.load(in);
  EXPECT_EQ(syms.size(), 0u);
  EXPECT_EQ(syms.symbolize(0xffffffff81000000), "0xffffffff81000000");
}

TEST(KernelSymbols, FromFileLoadsOrSaysWhyNot) {
  const std::string missing = "/nonexistent/kallsyms";
  const auto none = KernelSymbols::from_file(missing);
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.why(), missing + ": No such file or directory");

  auto from_text = [](const std::string& text) {
    char path[] = "/tmp/labyrinth-kallsyms-XXXXXX";
    const int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    auto symbols = KernelSymbols::from_file(path);
    ::unlink(path);
    return symbols;
  };
  const auto hidden = from_text("0000000000000000 T _stext\n0000000000000000 T foo\n");
  EXPECT_FALSE(hidden.ok());
  EXPECT_NE(hidden.why().find("kptr_restrict"), std::string::npos) << hidden.why();

  const auto shown = from_text("ffffffff81000000 T _stext\nffffffff81200000 T __alloc_pages_noprof\n");
  ASSERT_TRUE(shown.ok()) << shown.why();
  EXPECT_EQ(shown.why(), "");
  EXPECT_EQ(shown->symbolize(0xffffffff81200010), "__alloc_pages_noprof+0x10");
}

}  // namespace
}  // namespace labyrinth::ebpf
