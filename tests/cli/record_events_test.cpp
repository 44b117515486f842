// `labyrinth record -e LIST`: names, tracepoint names, "default" and "all".
#include <gtest/gtest.h>

#include <algorithm>

#include "labyrinth/ebpf/record_session.hpp"
#include "record_events.hpp"

namespace labyrinth::cli {
namespace {

using traces::EventKind;

TEST(RecordEvents, ParsesShortAndTracepointNames) {
  auto l = parse_event_list("alloc,free");
  ASSERT_TRUE(l.ok()) << l.error;
  EXPECT_EQ(l.kinds, (std::vector<EventKind>{EventKind::Alloc, EventKind::Free}));
  l = parse_event_list("kmem:mm_page_alloc,mm_page_free,alloc");
  ASSERT_TRUE(l.ok()) << l.error;
  EXPECT_EQ(l.kinds, (std::vector<EventKind>{EventKind::Alloc, EventKind::Free}));  // no repeats
}

TEST(RecordEvents, DefaultAndAll) {
  auto l = parse_event_list("default");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.kinds, ebpf::default_record_events());
  EXPECT_EQ(std::count(l.kinds.begin(), l.kinds.end(), EventKind::FreeBatched), 0);  // off by default
  // alloc, free, zone_locked, pcpu_drain, extfrag, isolate, reclaim_begin, reclaim_end,
  // kswapd_wake, kswapd_sleep
  EXPECT_EQ(l.kinds.size(), 10u);
  l = parse_event_list("all");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.kinds.size(), 11u);
}

TEST(RecordEvents, KswapdNamesItsWakeAndSleep) {
  const auto l = parse_event_list("alloc,kswapd");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.kinds, (std::vector<EventKind>{EventKind::Alloc, EventKind::KswapdWake, EventKind::KswapdSleep}));
}

TEST(RecordEvents, ReclaimNamesBothEndsOfADirectReclaim) {
  const auto l = parse_event_list("alloc,reclaim");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.kinds, (std::vector<EventKind>{EventKind::Alloc, EventKind::ReclaimBegin, EventKind::ReclaimEnd}));
}

TEST(RecordEvents, UnknownOrEmptyIsRefusedWithTheKnownNames) {
  auto l = parse_event_list("alloc,bogus");
  EXPECT_FALSE(l.ok());
  EXPECT_NE(l.error.find("bogus"), std::string::npos);
  EXPECT_NE(l.error.find("extfrag"), std::string::npos);
  EXPECT_FALSE(parse_event_list(",").ok());
  EXPECT_FALSE(parse_event_list("").ok());
}

}  // namespace
}  // namespace labyrinth::cli
