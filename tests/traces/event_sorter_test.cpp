// The event sorter of replay and import: windowed, stable, constant memory (after Perfetto's
// sorter tests). Chunks as the replayer pushes them, and one event at a time as the importer does.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "labyrinth/traces/event_sorter.hpp"

namespace labyrinth::traces {
namespace {


std::vector<PageEvent> run(EventSorter& sorter, const std::vector<PageEvent>& in, std::size_t chunk) {
  std::vector<PageEvent> out;
  auto sink = [&out](std::span<const PageEvent> s) { out.insert(out.end(), s.begin(), s.end()); };
  for (std::size_t i = 0; i < in.size(); i += chunk) {
    sorter.push(std::span<const PageEvent>(in).subspan(i, std::min(chunk, in.size() - i)), sink);
  }
  sorter.finish(sink);
  return out;
}

TEST(EventSorter, SortedInputPassesThroughUnchanged) {
  std::vector<PageEvent> in(1000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i].ts_ns = i / 3;  // ties keep file order
  for (std::size_t i = 0; i < in.size(); ++i) in[i].pfn = i;
  EventSorter sorter(50);
  const auto out = run(sorter, in, 64);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].pfn, i);
  EXPECT_EQ(sorter.out_of_order(), 0u);
  EXPECT_EQ(sorter.late(), 0u);
}

// The decoder's word that a chunk is in order (TraceReader::in_time_order()) saves the
// sorter's own pass, and changes nothing: given for every chunk that is in order, the output
// and the counters are those of a sorter that checks for itself.
TEST(EventSorter, AChunkKnownInOrderGivesTheSameOutput) {
  std::minstd_rand0 rng(3);
  std::vector<PageEvent> in(30000);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i].ts_ns = 1000 + i * 10 + (i % 4000 < 2000 ? 0 : rng() % 400);  // ordered and jittered stretches
    in[i].pfn = i;
  }
  for (const std::size_t chunk : {std::size_t{100}, std::size_t{1500}, std::size_t{7000}}) {
    EventSorter checking(1000, 1u << 12);
    EventSorter told(1000, 1u << 12);
    std::vector<PageEvent> a, b;
    std::size_t told_in_order = 0;
    for (std::size_t i = 0; i < in.size(); i += chunk) {
      const auto part = std::span<const PageEvent>(in).subspan(i, std::min(chunk, in.size() - i));
      const bool in_order = std::is_sorted(part.begin(), part.end(),
                                           [](const PageEvent& x, const PageEvent& y) { return x.ts_ns < y.ts_ns; });
      told_in_order += in_order ? 1 : 0;
      checking.push(part, [&a](std::span<const PageEvent> s) { a.insert(a.end(), s.begin(), s.end()); });
      told.push(part, [&b](std::span<const PageEvent> s) { b.insert(b.end(), s.begin(), s.end()); }, in_order);
    }
    checking.finish([&a](std::span<const PageEvent> s) { a.insert(a.end(), s.begin(), s.end()); });
    told.finish([&b](std::span<const PageEvent> s) { b.insert(b.end(), s.begin(), s.end()); });
    EXPECT_GT(told_in_order, 0u) << chunk;
    ASSERT_EQ(a.size(), in.size()) << chunk;
    EXPECT_TRUE(a == b) << chunk;
    EXPECT_EQ(checking.out_of_order(), told.out_of_order()) << chunk;
    EXPECT_EQ(checking.late(), told.late()) << chunk;
  }
}

TEST(EventSorter, DisorderWithinTheWindowIsFixedStably) {
  std::minstd_rand0 rng(0);
  std::vector<PageEvent> in(20000);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i].ts_ns = 1000 + i * 10 + rng() % 400;  // jitter of up to 400 ns, window 1000 ns
    in[i].pfn = i;
  }
  EventSorter sorter(1000, 1u << 20);
  const auto out = run(sorter, in, 777);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 1; i < out.size(); ++i) {
    ASSERT_LE(out[i - 1].ts_ns, out[i].ts_ns) << i;
    if (out[i - 1].ts_ns == out[i].ts_ns) {
      EXPECT_LT(out[i - 1].pfn, out[i].pfn);  // stable
    }
  }
  EXPECT_GT(sorter.out_of_order(), 0u);
  EXPECT_EQ(sorter.late(), 0u);
}

TEST(EventSorter, EventsOlderThanTheWindowAreCountedLateNotDropped) {
  std::vector<PageEvent> in;
  for (std::uint64_t t = 0; t < 100; ++t) in.push_back(PageEvent{.ts_ns = 1000 + t * 100});
  in.push_back(PageEvent{.ts_ns = 5});  // far behind everything released
  EventSorter sorter(200);
  const auto out = run(sorter, in, 10);
  EXPECT_EQ(out.size(), in.size());
  EXPECT_EQ(sorter.late(), 1u);
}

TEST(EventSorter, HeldEventsStayBoundedWhateverTheWindow) {
  std::vector<PageEvent> in(100000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i].ts_ns = i;
  EventSorter sorter(~std::uint64_t{0} / 2, 4096);  // a window that never closes
  std::size_t max_held = 0;
  auto sink = [](std::span<const PageEvent>) {};
  for (std::size_t i = 0; i < in.size(); i += 1000) {
    sorter.push(std::span<const PageEvent>(in).subspan(i, 1000), sink);
    max_held = std::max(max_held, sorter.held());
  }
  EXPECT_LE(max_held, 4096u);
}

// The held events live in a ring: many turns of it, with jitter (sorts that find the held
// events wrapped) and an infinite window (bounded by the count held only), must give exactly
// the stable sort of the input.
TEST(EventSorter, RingTurnsGiveTheStableSortWhateverTheChunking) {
  std::mt19937_64 rng(7);
  std::vector<PageEvent> in(400000);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i].ts_ns = 1000 + i * 10 + (rng() % 8 == 0 ? rng() % 400 : 0) - (rng() % 8 == 0 ? rng() % 400 : 0);
    in[i].pfn = i;
  }
  std::vector<PageEvent> want = in;
  std::stable_sort(want.begin(), want.end(), [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; });
  for (const std::size_t chunk : {std::size_t{1000}, std::size_t{70000}, std::size_t{1} << 16}) {
    EventSorter windowed(1000, 5000);
    const auto out = run(windowed, in, chunk);
    ASSERT_EQ(out.size(), want.size());
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i].pfn, want[i].pfn) << "chunk " << chunk << " at " << i;
    EXPECT_EQ(windowed.late(), 0u);

    EventSorter by_count(~std::uint64_t{0} / 2, 100000);
    std::vector<PageEvent> got;
    auto sink = [&got](std::span<const PageEvent> sp) { got.insert(got.end(), sp.begin(), sp.end()); };
    for (std::size_t i = 0; i < in.size(); i += chunk) {
      by_count.push(std::span<const PageEvent>(in).subspan(i, std::min(chunk, in.size() - i)), sink);
      EXPECT_LE(by_count.held(), 100000u);
    }
    by_count.finish(sink);
    ASSERT_EQ(got.size(), want.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += got[i].pfn != want[i].pfn ? 1u : 0u;
    // Jitter of 400 ns at 10 ns per event never spans the 100000 events held: exact.
    EXPECT_EQ(mismatches, 0u) << "chunk " << chunk;
  }
}

// One event at a time, as the importer pushes them.
template <typename Sink>
void push_one(EventSorter& sorter, const PageEvent& e, Sink&& sink) {
  sorter.push(std::span<const PageEvent>(&e, 1), sink);
}

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

TEST(EventSorterOneAtATime, InOrderAndTiesKeepInputOrder) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000);
  auto sink = [&out](std::span<const PageEvent> s) { out.insert(out.end(), s.begin(), s.end()); };
  push_one(sorter, at(10, 1), sink);
  push_one(sorter, at(10, 2), sink);
  push_one(sorter, at(20, 3), sink);
  push_one(sorter, at(20, 4), sink);
  sorter.finish(sink);
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(sorter.out_of_order() - sorter.late(), 0U);
  EXPECT_EQ(sorter.late(), 0U);
}

TEST(EventSorterOneAtATime, FixesDisorderWithinTheWindow) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000);
  auto sink = [&out](std::span<const PageEvent> s) { out.insert(out.end(), s.begin(), s.end()); };
  push_one(sorter, at(10, 1), sink);
  push_one(sorter, at(50, 2), sink);
  push_one(sorter, at(30, 3), sink);  // earlier than 50, within the window
  push_one(sorter, at(50, 4), sink);  // tie with 2: after it
  push_one(sorter, at(40, 5), sink);
  sorter.finish(sink);
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 3, 5, 2, 4}));
  EXPECT_EQ(sorter.out_of_order() - sorter.late(), 2U);
  EXPECT_EQ(sorter.late(), 0U);
}

TEST(EventSorterOneAtATime, ReleasesByWindowAndCountsLateEvents) {
  std::vector<PageEvent> out;
  EventSorter sorter(100, 1000);
  auto sink = [&out](std::span<const PageEvent> s) { out.insert(out.end(), s.begin(), s.end()); };
  push_one(sorter, at(10, 1), sink);
  push_one(sorter, at(20, 2), sink);
  push_one(sorter, at(200, 3), sink);  // 10 and 20 are now more than 100 older: released
  EXPECT_EQ(out.size(), 2U);
  EXPECT_EQ(sorter.held(), 1U);
  push_one(sorter, at(15, 4), sink);   // older than something already released: late, released at once
  EXPECT_EQ(sorter.late(), 1U);
  sorter.finish(sink);
  EXPECT_EQ(tags(out), (std::vector<std::uint64_t>{1, 2, 4, 3}));
}

TEST(EventSorterOneAtATime, BoundedMemory) {
  std::size_t emitted = 0;
  EventSorter sorter(~std::uint64_t{0} / 2, 8);
  auto sink = [&emitted](std::span<const PageEvent> s) { emitted += s.size(); };
  for (std::uint64_t i = 0; i < 100; ++i) {
    push_one(sorter, at(i, i), sink);
    EXPECT_LE(sorter.held(), 8U);
  }
  sorter.finish(sink);
  EXPECT_EQ(emitted, 100U);
}

TEST(EventSorterOneAtATime, SeededStressPerCpuStreamsWithJitter) {
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
  EventSorter sorter(100, 1 << 20);
  auto sink = [&out](std::span<const PageEvent> s) { out.insert(out.end(), s.begin(), s.end()); };
  for (const auto& e : arrivals) push_one(sorter, e, sink);
  sorter.finish(sink);
  ASSERT_EQ(out.size(), arrivals.size());
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end(), [](const PageEvent& a, const PageEvent& b) { return a.ts_ns < b.ts_ns; }));
  EXPECT_GT(sorter.out_of_order() - sorter.late(), 1000U);
  EXPECT_EQ(sorter.late(), 0U);
}

}  // namespace
}  // namespace labyrinth::traces
