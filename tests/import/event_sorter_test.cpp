// The reorder buffer: in-order input passes through, small disorder is fixed and counted,
// disorder beyond the window is counted as late; a seeded stress test.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "labyrinth/traces/import/event_sorter.hpp"

namespace labyrinth {
namespace {

using traces::PageEvent;
using traces::import::EventSorter;

PageEvent at(std::uint64_t ts, std::uint64_t tag) {
  PageEvent e;
  e.ts_ns = ts;
  e.pfn = tag;
  return e;
}

std::vector<std::uint64_t> tags(const std::vector<PageEvent>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e.pfn);
  return out;
}

TEST(EventSorter, InOrderAndTiesKeepInputOrder) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000, [&](const PageEvent& e) { out.push_back(e); });
  sorter.push(at(10, 1));
  sorter.push(at(10, 2));
  sorter.push(at(20, 3));
  sorter.push(at(20, 4));
  sorter.flush();
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(sorter.reordered(), 0U);
  EXPECT_EQ(sorter.late(), 0U);
}

TEST(EventSorter, FixesDisorderWithinTheWindow) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000, [&](const PageEvent& e) { out.push_back(e); });
  sorter.push(at(10, 1));
  sorter.push(at(50, 2));
  sorter.push(at(30, 3));  // earlier than 50, within the window
  sorter.push(at(50, 4));  // tie with 2: after it
  sorter.push(at(40, 5));
  sorter.flush();
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 3, 5, 2, 4}));
  EXPECT_EQ(sorter.reordered(), 2U);
  EXPECT_EQ(sorter.late(), 0U);
}

TEST(EventSorter, ReleasesByWindowAndCountsLateEvents) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000, [&](const PageEvent& e) { out.push_back(e); });
  sorter.push(at(10, 1));
  sorter.push(at(20, 2));
  sorter.push(at(200, 3));  // 10 and 20 are now more than 100 older: released
  EXPECT_EQ(out.size(), 2U);
  EXPECT_EQ(sorter.held(), 1U);
  sorter.push(at(15, 4));   // older than something already released: late, passed through
  EXPECT_EQ(sorter.late(), 1U);
  sorter.flush();
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 2, 4, 3}));
}

TEST(EventSorter, BoundedMemory) {
  std::size_t emitted = 0;
  EventSorter sorter(~std::uint64_t{0} / 2, 8, [&](const PageEvent&) { ++emitted; });
  for (std::uint64_t i = 0; i < 100; ++i) {
    sorter.push(at(i, i));
    EXPECT_LE(sorter.held(), 8U);
  }
  sorter.flush();
  EXPECT_EQ(emitted, 100U);
}

TEST(EventSorter, SeededStressPerCpuStreamsWithJitter) {
  // Four CPUs each produce ordered timestamps; the merged arrival order is shuffled by up to
  // 50 units, as a trace_pipe reader does across CPUs. With a 100-unit window the output
  // must be completely sorted and nothing may be lost or late.
  std::minstd_rand0 rng(0);
  std::vector<PageEvent> arrivals;
  for (std::uint64_t i = 0; i < 20000; ++i) arrivals.push_back(at(i * 3 + rng() % 3, i));
  for (std::size_t i = 0; i + 1 < arrivals.size(); ++i) {
    const std::size_t j = std::min(arrivals.size() - 1, i + rng() % 8);
    if (arrivals[j].ts_ns < arrivals[i].ts_ns + 50) std::swap(arrivals[i], arrivals[j]);
  }
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1 << 20, [&](const PageEvent& e) { out.push_back(e); });
  for (const auto& e : arrivals) sorter.push(e);
  sorter.flush();
  ASSERT_EQ(out.size(), arrivals.size());
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end(), [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; }));
  EXPECT_GT(sorter.reordered(), 1000U);
  EXPECT_EQ(sorter.late(), 0U);
}

}  // namespace
}  // namespace labyrinth
