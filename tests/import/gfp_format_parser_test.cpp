// GfpTable::from_format_text / from_format_file and the choice of table for an import.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "import_test_util.hpp"
#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/traces/import/gfp_table_loader.hpp"
#include "labyrinth/traces/trace_error.hpp"

namespace labyrinth {
namespace {

using import_testing::sample_path;
using import_testing::TempDir;
using traces::GfpTable;

// Wraps a flag list the way the mm_page_alloc format file does.
std::string format_with(const std::string& list) {
  return "name: mm_page_alloc\nID: 653\nformat:\n\tfield:unsigned long pfn;\toffset:8;\tsize:8;\tsigned:0;\n\n"
         "print fmt: \"page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s\", REC->pfn != -1UL ? "
         "(((struct page *)vmemmap_base) + (REC->pfn)) : ((void *)0), REC->pfn != -1UL ? REC->pfn : 0, "
         "REC->order, REC->migratetype, (REC->gfp_flags) ? __print_flags(REC->gfp_flags, \"|\", " +
         list + ") : \"none\"\n";
}

TEST(GfpFormatParser, RealFormatFileOfThisMachine) {
  const auto table = GfpTable::from_format_file(sample_path("mm_page_alloc.format"));
  ASSERT_TRUE(table.ok()) << table.why();
  EXPECT_EQ(table.why(), "");
  EXPECT_EQ(table->bits_of("__GFP_HIGH"), 0x20U);
  EXPECT_EQ(table->bits_of("GFP_ATOMIC"), 0x820U);
  EXPECT_EQ(table->bits_of("__GFP_NO_OBJ_EXT"), std::uint64_t{1} << 24);
  EXPECT_EQ(table->bits_of("GFP_KERNEL"), 0xcc0U);
  EXPECT_EQ(table->bits_of("GFP_HIGHUSER_MOVABLE"), 0x100ccaU);
  EXPECT_EQ(table->bits_of("GFP_TRANSHUGE_LIGHT"), 0x1c20caU);  // uses & ~( gfp_t)(...)
  EXPECT_EQ(table->bits_of("GFP_TRANSHUGE"), 0x1c24caU);
  EXPECT_EQ(table->bits_of("__GFP_RECLAIM"), 0xc00U);
  EXPECT_EQ(table->entries().size(), 38U);
  EXPECT_EQ(table->entries().front().name, "GFP_TRANSHUGE");  // print order kept
  EXPECT_EQ(table->entries().back().name, "__GFP_NO_OBJ_EXT");
  // The kernel's own rendering comes back: greedy, in table order.
  EXPECT_EQ(table->format(0x820), "GFP_ATOMIC");
  EXPECT_EQ(table->format(0x52820), "GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
  // The built-in table describes this machine's 6.18 layout: both sources agree entry by entry.
  EXPECT_EQ(*table, GfpTable::builtin_linux_6_10());
}

TEST(GfpFormatParser, Pre610HexLiteralsAndCasts) {
  // The 6.1-6.2 layout: hex literals with a u suffix, __GFP_ATOMIC at bit 9, NOLOCKDEP at bit 26.
  const std::string text = format_with(
      "{(unsigned long)((((((( gfp_t)(0x400u|0x800u)) | (( gfp_t)0x40u) | (( gfp_t)0x80u) | "
      "(( gfp_t)0x100000u)) | (( gfp_t)0x02u)) | (( gfp_t)0x08u) | (( gfp_t)0)) | (( gfp_t)0x40000u) | "
      "(( gfp_t)0x80000u) | (( gfp_t)0x2000u)) & ~(( gfp_t)(0x400u|0x800u))), \"GFP_TRANSHUGE_LIGHT\"}, "
      "{(unsigned long)((( gfp_t)(0x400u|0x800u)) | (( gfp_t)0x40u) | (( gfp_t)0x80u)), \"GFP_KERNEL\"}, "
      "{(unsigned long)((( gfp_t)0x20u)|(( gfp_t)0x200u)|(( gfp_t)0x800u)), \"GFP_ATOMIC\"}, "
      "{(unsigned long)(( gfp_t)0x20u), \"__GFP_HIGH\"}, "
      "{(unsigned long)(( gfp_t)0x200u), \"__GFP_ATOMIC\"}, "
      "{(unsigned long)(( gfp_t)0x800u), \"__GFP_KSWAPD_RECLAIM\"}, "
      "{(unsigned long)(( gfp_t)0x1000000u), \"__GFP_SKIP_ZERO\"}, "
      "{(unsigned long)(( gfp_t)0), \"__GFP_SKIP_KASAN\"}, "
      "{(unsigned long)(( gfp_t)0x4000000u), \"__GFP_NOLOCKDEP\"}, { -1, NULL }");
  const auto table = GfpTable::from_format_text(text);
  ASSERT_TRUE(table.ok()) << table.why();
  EXPECT_EQ(table->bits_of("GFP_ATOMIC"), 0xa20U);
  EXPECT_EQ(table->bits_of("__GFP_ATOMIC"), 0x200U);
  EXPECT_EQ(table->bits_of("GFP_TRANSHUGE_LIGHT"), 0x1c20caU);
  EXPECT_EQ(table->bits_of("__GFP_NOLOCKDEP"), 0x4000000U);
  EXPECT_EQ(table->bits_of("__GFP_SKIP_KASAN"), 0U);  // configured out (value 0): dropped
  EXPECT_EQ(table->entries().size(), 8U);
  EXPECT_EQ(table->format(0xa20), "GFP_ATOMIC");
}

TEST(GfpFormatParser, UnresolvedEnumNamesFail) {
  // Unpatched 6.10-6.13 kernels print the enum names instead of numbers.
  const std::string text = format_with(
      "{( unsigned long)(( gfp_t)((((1UL))) << (___GFP_HIGH_BIT))), \"__GFP_HIGH\"}, "
      "{( unsigned long)(( gfp_t)((((1UL))) << (___GFP_IO_BIT))), \"__GFP_IO\"}, { 0, ((void *)0) }");
  const auto table = GfpTable::from_format_text(text);
  EXPECT_FALSE(table.ok());
  EXPECT_NE(table.why().find("___GFP_HIGH_BIT"), std::string::npos) << table.why();
  EXPECT_NE(table.why().find("__GFP_HIGH"), std::string::npos) << table.why();
}

TEST(GfpFormatParser, RejectsFilesWithoutAFlagList) {
  // Each unusable text gives no table and a reason that says what is wrong.
  auto why_not = [](const std::string& text) {
    const auto table = GfpTable::from_format_text(text);
    EXPECT_FALSE(table.ok()) << text;
    EXPECT_FALSE(table.why().empty()) << text;
    return table.why();
  };
  EXPECT_NE(why_not("name: mm_page_free\nprint fmt: \"page=%p pfn=0x%lx order=%d\", REC->pfn, REC->pfn, REC->order\n")
                .find("__print_flags"),
            std::string::npos);
  // a list cut short
  EXPECT_NE(why_not("print fmt: \"%s\", __print_flags(REC->gfp_flags, \"|\", {(unsigned long)0x20u, \"__GFP_HIGH\"}")
                .find("no end"),
            std::string::npos);
  EXPECT_NE(why_not(format_with("{(unsigned long)(0x20u +), \"__GFP_HIGH\"}, {0, NULL}")).find("__GFP_HIGH"),
            std::string::npos);
  EXPECT_NE(why_not(format_with("{(unsigned long)(1UL << 64), \"__GFP_HIGH\"}, {0, NULL}")).find("shift"),
            std::string::npos);
  why_not(format_with("{ 0, ((void *)0) }"));  // an empty table
}

TEST(GfpFormatParser, CIntegerSemantics) {
  // ~ on a 32-bit gfp_t stays 32 bits wide; ~ on an int sign-extends when widened.
  auto single = [](const std::string& expr) {
    const auto t = GfpTable::from_format_text(
        format_with("{" + expr + ", \"__GFP_X\"}, {(unsigned long)0x1u, \"__GFP_DMA\"}, { 0, ((void *)0) }"));
    EXPECT_TRUE(t.ok()) << expr << ": " << t.why();
    return t ? t->bits_of("__GFP_X") : 0;
  };
  EXPECT_EQ(single("(unsigned long)(~(( gfp_t)0x400u))"), 0xfffffbffULL);
  EXPECT_EQ(single("(unsigned long)(~0)"), ~0ULL);
  EXPECT_EQ(single("( unsigned long)((((1UL))) << (40))"), 1ULL << 40);
  EXPECT_EQ(single("(unsigned long)(0x80000000)"), 0x80000000ULL);     // unsigned int literal
  EXPECT_EQ(single("(unsigned long)(-1)"), ~0ULL);
  EXPECT_EQ(single("(unsigned long)((0x30 >> 4) ^ 0x1) * 3 + 010 - 1"), 13ULL);
}

TEST(GfpTableChoice, FormatFileWinsAndSaysSo) {
  const auto choice = traces::import::choose_gfp_table(sample_path("mm_page_alloc.format"), {});
  EXPECT_EQ(choice.source, traces::GfpTableSource::FormatFile);
  EXPECT_EQ(choice.path, sample_path("mm_page_alloc.format"));
  EXPECT_EQ(choice.table.bits_of("GFP_ATOMIC"), 0x820U);
  EXPECT_TRUE(choice.warnings.empty());
}

TEST(GfpTableChoice, MissingFormatFileIsAnError) {
  try {
    traces::import::choose_gfp_table(std::string("/nonexistent/format"), {});
    FAIL() << "no error";
  } catch (const traces::TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/format"), std::string::npos) << e.what();
  }
}

TEST(GfpTableChoice, UndecodableFormatFileFallsBackToBuiltIn) {
  TempDir dir;
  dir.write("format", format_with("{( unsigned long)(( gfp_t)((((1UL))) << (___GFP_IO_BIT))), \"__GFP_IO\"}, {0, NULL}"));
  const auto choice = traces::import::choose_gfp_table(dir.file("format"), {});
  EXPECT_EQ(choice.source, traces::GfpTableSource::BuiltIn);
  ASSERT_EQ(choice.warnings.size(), 1U);
  EXPECT_NE(choice.warnings[0].find("___GFP_IO_BIT"), std::string::npos) << choice.warnings[0];
  EXPECT_EQ(choice.table, GfpTable::builtin_linux_6_10());
}

TEST(GfpTableChoice, RunningKernelThenBuiltIn) {
  TempDir tracefs;
  std::filesystem::create_directories(tracefs.path() / "events/kmem/mm_page_alloc");
  std::filesystem::copy_file(sample_path("mm_page_alloc.format"),
                             tracefs.path() / "events/kmem/mm_page_alloc/format");
  TempDir empty;
  const auto running = traces::import::choose_gfp_table(std::nullopt, {empty.path().string(), tracefs.path().string()});
  EXPECT_EQ(running.source, traces::GfpTableSource::RunningKernel);
  EXPECT_EQ(running.path, (tracefs.path() / "events/kmem/mm_page_alloc/format").string());

  const auto builtin = traces::import::choose_gfp_table(std::nullopt, {empty.path().string()});
  EXPECT_EQ(builtin.source, traces::GfpTableSource::BuiltIn);
  EXPECT_TRUE(builtin.path.empty());

  ::setenv("LABYRINTH_TRACEFS", empty.path().string().c_str(), 1);
  EXPECT_EQ(traces::import::tracefs_candidates(), std::vector<std::string>{empty.path().string()});
  ::unsetenv("LABYRINTH_TRACEFS");
}

}  // namespace
}  // namespace labyrinth
