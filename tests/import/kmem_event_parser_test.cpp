// Fields of the six kmem page events into PageEvents.
#include <gtest/gtest.h>

#include "labyrinth/traces/import/kmem_event_parser.hpp"

namespace labyrinth {
namespace {

using traces::EventKind;
using traces::GfpTable;
using traces::kFailedPfn;
using traces::PageEvent;
using namespace traces::import;

class KmemFields : public ::testing::Test {
 protected:
  KmemParseResult parse(EventKind kind, std::string_view fields) {
    event_ = PageEvent{};
    return parse_kmem_fields(kind, fields, decoder_, event_);
  }
  GfpTable table_ = GfpTable::builtin_linux_6_10();
  GfpDecoder decoder_{table_};
  PageEvent event_;
};

TEST_F(KmemFields, EventNames) {
  EXPECT_EQ(kmem_event_kind("mm_page_alloc"), EventKind::Alloc);
  EXPECT_EQ(kmem_event_kind("mm_page_free"), EventKind::Free);
  EXPECT_EQ(kmem_event_kind("mm_page_free_batched"), EventKind::FreeBatched);
  EXPECT_EQ(kmem_event_kind("mm_page_alloc_zone_locked"), EventKind::PcpRefill);
  EXPECT_EQ(kmem_event_kind("mm_page_pcpu_drain"), EventKind::PcpDrain);
  EXPECT_EQ(kmem_event_kind("mm_page_alloc_extfrag"), EventKind::Extfrag);
  EXPECT_EQ(kmem_event_kind("mm_vmscan_direct_reclaim_begin"), EventKind::ReclaimBegin);
  EXPECT_EQ(kmem_event_kind("mm_vmscan_direct_reclaim_end"), EventKind::ReclaimEnd);
  EXPECT_EQ(traces::tracepoint_system(EventKind::ReclaimEnd), "vmscan");
  EXPECT_EQ(traces::tracepoint_system(EventKind::Isolate), "compaction");
  EXPECT_EQ(traces::tracepoint_system(EventKind::Free), "kmem");
  EXPECT_FALSE(kmem_event_kind("mm_compaction_isolate_freepages"));  // not read from text captures
  EXPECT_EQ(kmem_event_kind("mm_vmscan_kswapd_wake"), EventKind::KswapdWake);
  EXPECT_EQ(kmem_event_kind("mm_vmscan_kswapd_sleep"), EventKind::KswapdSleep);
  EXPECT_FALSE(kmem_event_kind("mm_page_alloc_foo"));
  EXPECT_FALSE(kmem_event_kind("kmalloc"));
  EXPECT_FALSE(kmem_event_kind("tracing_mark_write"));
}

TEST_F(KmemFields, Alloc) {
  const auto r = parse(EventKind::Alloc, "page=00000000dc85b400 pfn=0x21c222 order=3 migratetype=0 "
                                         "gfp_flags=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(event_.kind, EventKind::Alloc);
  EXPECT_EQ(event_.pfn, 0x21c222U);  // from pfn=, never from ftrace's hashed page=
  EXPECT_EQ(event_.order, 3);
  EXPECT_EQ(event_.migratetype, 0);
  EXPECT_EQ(event_.gfp, 0x52820U);
  EXPECT_FALSE(event_.failed());
  EXPECT_EQ(r.unknown_gfp_name_count, 0U);
}

TEST_F(KmemFields, FailuresInEveryNotation) {
  for (const char* page : {"(nil)", "0000000000000000", "(null)", "00000000"}) {
    const auto r = parse(EventKind::Alloc, std::string("page=") + page +
                                               " pfn=0x0 order=3 migratetype=0 gfp_flags=GFP_USER|__GFP_NORETRY");
    ASSERT_TRUE(r.ok) << page << ": " << r.error;
    EXPECT_EQ(event_.pfn, kFailedPfn) << page;
    EXPECT_TRUE(event_.failed());
  }
  // pfn 0 with a real page is a page, not a failure.
  ASSERT_TRUE(parse(EventKind::Alloc, "page=ffffea0000000000 pfn=0x0 order=0 migratetype=1 gfp_flags=GFP_KERNEL").ok);
  EXPECT_EQ(event_.pfn, 0U);
  EXPECT_FALSE(event_.failed());
  // Only allocations can fail.
  const auto bad = parse(EventKind::Free, "page=(nil) pfn=0x0 order=0");
  EXPECT_FALSE(bad.ok);
}

TEST_F(KmemFields, GfpNamesHexLeftoversNoneAndUnknownNames) {
  ASSERT_TRUE(parse(EventKind::Alloc, "page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=none").ok);
  EXPECT_EQ(event_.gfp, 0U);
  ASSERT_TRUE(parse(EventKind::Alloc, "page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_KERNEL|0x4000000").ok);
  EXPECT_EQ(event_.gfp, 0x4000cc0U);
  const auto r = parse(EventKind::Alloc, "page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_ATOMIC|__GFP_X");
  ASSERT_TRUE(r.ok) << "unknown names are reported, not fatal";
  EXPECT_EQ(event_.gfp, 0xcc0U);
  EXPECT_EQ(r.unknown_gfp_name_count, 2U);
  EXPECT_EQ(r.unknown_gfp_names, "__GFP_ATOMIC");
  // The cache returns the same answer the second time.
  const auto again = parse(EventKind::Alloc, "pfn=0x2 order=0 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_ATOMIC|__GFP_X");
  EXPECT_EQ(again.unknown_gfp_name_count, 2U);
  EXPECT_EQ(event_.gfp, 0xcc0U);
}

TEST_F(KmemFields, FreesRefillDrainExtfrag) {
  ASSERT_TRUE(parse(EventKind::Free, "page=0x1ed800 pfn=0x1ed800 order=9").ok);
  EXPECT_EQ(event_.pfn, 0x1ed800U);
  EXPECT_EQ(event_.order, 9);
  EXPECT_EQ(event_.migratetype, -1);
  ASSERT_TRUE(parse(EventKind::FreeBatched, "page=000000004e3b1c9a pfn=0x11ba14 order=0").ok);
  EXPECT_EQ(event_.kind, EventKind::FreeBatched);
  ASSERT_TRUE(parse(EventKind::PcpRefill, "page=0x1 pfn=0x127778 order=3 migratetype=2 percpu_refill=1").ok);
  EXPECT_EQ(event_.kind, EventKind::PcpRefill);
  EXPECT_EQ(event_.migratetype, 2);
  EXPECT_TRUE(event_.percpu_refill);
  ASSERT_TRUE(parse(EventKind::PcpDrain, "page=0x1 pfn=0x1234 order=0 migratetype=1").ok);
  EXPECT_EQ(event_.kind, EventKind::PcpDrain);
  EXPECT_EQ(event_.migratetype, 1);
  ASSERT_TRUE(parse(EventKind::Extfrag, "page=0x1 pfn=0x4000 alloc_order=0 fallback_order=9 pageblock_order=9 "
                                        "alloc_migratetype=0 fallback_migratetype=1 fragmenting=0 change_ownership=1")
                  .ok);
  EXPECT_EQ(event_.kind, EventKind::Extfrag);
  EXPECT_EQ(event_.pfn, 0x4000U);
  EXPECT_EQ(event_.order, 0);
  EXPECT_EQ(event_.fallback_order, 9);
  EXPECT_EQ(event_.migratetype, 0);
  EXPECT_EQ(event_.fallback_migratetype, 1);
  EXPECT_TRUE(event_.change_ownership);
  ASSERT_TRUE(parse(EventKind::Free, "page=c1234 pfn=4660 order=1").ok) << "old kernels print a decimal pfn";
  EXPECT_EQ(event_.pfn, 4660U);
}

// vmscan's direct reclaim: "order=0 gfp_flags=GFP_KERNEL" and "nr_reclaimed=32", no page.
TEST_F(KmemFields, DirectReclaimBeginAndEnd) {
  auto r = parse(EventKind::ReclaimBegin, "order=9 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(event_.kind, EventKind::ReclaimBegin);
  EXPECT_EQ(event_.order, 9);
  EXPECT_EQ(event_.gfp, table_.parse("GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL").value());
  EXPECT_EQ(event_.pfn, 0u);
  r = parse(EventKind::ReclaimEnd, "nr_reclaimed=32");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(event_.kind, EventKind::ReclaimEnd);
  EXPECT_EQ(event_.reclaimed_pages, 32u);
  EXPECT_FALSE(parse(EventKind::ReclaimEnd, "nr_reclaimed=lots").ok);
  EXPECT_FALSE(parse(EventKind::ReclaimEnd, "").ok);
  EXPECT_FALSE(parse(EventKind::ReclaimBegin, "gfp_flags=GFP_KERNEL").ok);  // no order
  EXPECT_FALSE(parse(EventKind::ReclaimBegin, "order=0").ok);               // no gfp_flags
}

// vmscan's kswapd passes: "nid=0 order=3" and "nid=0", no page; the node rides in gfp.
TEST_F(KmemFields, KswapdWakeAndSleep) {
  auto r = parse(EventKind::KswapdWake, "nid=1 order=3");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(event_.kind, EventKind::KswapdWake);
  EXPECT_EQ(event_.gfp, 1u);
  EXPECT_EQ(event_.order, 3);
  EXPECT_EQ(event_.pfn, 0u);
  r = parse(EventKind::KswapdSleep, "nid=0");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(event_.kind, EventKind::KswapdSleep);
  EXPECT_EQ(event_.gfp, 0u);
  EXPECT_STREQ(parse(EventKind::KswapdSleep, "").error, "no nid= field");
  EXPECT_FALSE(parse(EventKind::KswapdWake, "nid=0").ok);  // no order
  EXPECT_FALSE(parse(EventKind::KswapdSleep, "nid=x").ok);
}

TEST_F(KmemFields, BadFields) {
  EXPECT_STREQ(parse(EventKind::Free, "page=0x1 order=0").error, "no pfn= field");
  EXPECT_FALSE(parse(EventKind::Free, "pfn=0xzz order=0").ok);
  EXPECT_FALSE(parse(EventKind::Free, "pfn=0x1").ok);
  EXPECT_FALSE(parse(EventKind::Free, "pfn=0x1 order=16").ok);
  EXPECT_FALSE(parse(EventKind::Alloc, "pfn=0x1 order=0 migratetype=0").ok);
  EXPECT_FALSE(parse(EventKind::Alloc, "pfn=0x1 order=0 migratetype=500 gfp_flags=none").ok);
  EXPECT_FALSE(parse(EventKind::Extfrag, "pfn=0x1 fallback_order=1").ok);
}

}  // namespace
}  // namespace labyrinth
