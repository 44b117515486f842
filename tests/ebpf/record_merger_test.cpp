// The per-CPU merge that puts batched records back into time order.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "record_merger.hpp"

namespace labyrinth::ebpf::detail {
namespace {

pgrec_event rec(std::uint64_t ts, std::uint16_t cpu, std::uint64_t pfn = 0) {
  pgrec_event r{};
  r.ts_ns = ts;
  r.cpu = cpu;
  r.pfn = pfn;
  return r;
}

std::vector<std::uint64_t> release(RecordMerger& m, std::uint64_t watermark) {
  std::vector<std::uint64_t> out;
  m.release(watermark, [&](const pgrec_event& r) { out.push_back(r.ts_ns); });
  return out;
}

TEST(RecordMerger, MergesBatchesOfDifferentCpusIntoTimeOrder) {
  RecordMerger m(2);
  // CPU 1's batch arrives before CPU 0's, as batches do
  for (std::uint64_t ts : {15u, 25u, 35u}) m.push(rec(ts, 1));
  for (std::uint64_t ts : {10u, 20u, 30u, 40u}) m.push(rec(ts, 0));
  EXPECT_EQ(release(m, 30), (std::vector<std::uint64_t>{10, 15, 20, 25, 30}));
  EXPECT_EQ(m.queued(), 2u);
  EXPECT_EQ(release(m, 100), (std::vector<std::uint64_t>{35, 40}));
  EXPECT_EQ(m.queued(), 0u);
  EXPECT_EQ(m.late(), 0u);
}

TEST(RecordMerger, HoldsBackWhatIsNewerThanTheWatermark) {
  RecordMerger m(2);
  m.push(rec(50, 0));
  EXPECT_TRUE(release(m, 40).empty());
  m.push(rec(45, 1));
  EXPECT_EQ(release(m, 60), (std::vector<std::uint64_t>{45, 50}));
}

TEST(RecordMerger, EqualTimesKeepCpuThenArrivalOrder) {
  RecordMerger m(2);
  m.push(rec(10, 1, 1));
  m.push(rec(10, 0, 2));
  m.push(rec(10, 0, 3));
  std::vector<std::uint64_t> pfns;
  m.release_all([&](const pgrec_event& r) { pfns.push_back(r.pfn); });
  EXPECT_EQ(pfns, (std::vector<std::uint64_t>{2, 3, 1}));
}

TEST(RecordMerger, PutsARecordThatBypassedTheBatchInPlace) {
  RecordMerger m(1);
  m.push(rec(10, 0));
  m.push(rec(30, 0));
  m.push(rec(20, 0));  // sent alone while a flush held the batch
  EXPECT_EQ(m.reordered(), 1u);
  EXPECT_EQ(release(m, 100), (std::vector<std::uint64_t>{10, 20, 30}));
}

TEST(RecordMerger, CountsRecordsOlderThanAReleasedWatermark) {
  RecordMerger m(2);
  m.push(rec(10, 0));
  release(m, 50);
  m.push(rec(40, 1));  // should have been in the ring before the sync
  EXPECT_EQ(m.late(), 1u);
  EXPECT_EQ(release(m, 60), (std::vector<std::uint64_t>{40}));
}

// A backlog of a million records (40 MB) drained at once: the queue gives its room back.
TEST(RecordMerger, ADrainedBacklogGivesItsMemoryBack) {
  RecordMerger m(2);
  for (std::uint64_t ts = 1; ts <= 1'000'000; ++ts) m.push(rec(ts, 0));
  EXPECT_GE(m.capacity_bytes(), 1'000'000 * sizeof(pgrec_event));
  std::uint64_t out = 0;
  m.release(800'000, [&](const pgrec_event&) { ++out; });
  EXPECT_EQ(out, 800'000u);
  EXPECT_LT(m.capacity_bytes(), 1'000'000 * sizeof(pgrec_event));  // mostly drained: shrunk to what is held
  m.release_all([&](const pgrec_event&) { ++out; });
  EXPECT_EQ(out, 1'000'000u);
  EXPECT_LE(m.capacity_bytes(), 2 * RecordMerger::kKeptCapacity * sizeof(pgrec_event));
}

TEST(RecordMerger, RandomBatchesComeOutSorted) {
  std::mt19937_64 rng(7);
  constexpr int kCpus = 4;
  RecordMerger m(kCpus);
  std::vector<std::uint64_t> clock(kCpus, 0);
  std::vector<std::uint64_t> all;
  std::vector<std::uint64_t> out;
  std::uint64_t now = 0;
  for (int round = 0; round < 200; ++round) {
    // each CPU produces a batch of increasing stamps; batches arrive in random CPU order
    std::vector<std::vector<pgrec_event>> batches(kCpus);
    for (int c = 0; c < kCpus; ++c) {
      const int n = static_cast<int>(rng() % 64);
      for (int i = 0; i < n; ++i) {
        clock[static_cast<std::size_t>(c)] = std::max(clock[static_cast<std::size_t>(c)], now) + 1 + rng() % 5;
        batches[static_cast<std::size_t>(c)].push_back(rec(clock[static_cast<std::size_t>(c)], static_cast<std::uint16_t>(c)));
      }
    }
    std::vector<int> order(kCpus);
    for (int c = 0; c < kCpus; ++c) order[static_cast<std::size_t>(c)] = c;
    std::shuffle(order.begin(), order.end(), rng);
    for (int c : order)
      for (const auto& r : batches[static_cast<std::size_t>(c)]) {
        m.push(r);
        all.push_back(r.ts_ns);
      }
    // everything stamped so far has arrived: release up to the newest stamp
    now = *std::max_element(clock.begin(), clock.end());
    m.release(now, [&](const pgrec_event& r) { out.push_back(r.ts_ns); });
  }
  m.release_all([&](const pgrec_event& r) { out.push_back(r.ts_ns); });
  std::sort(all.begin(), all.end());
  EXPECT_EQ(out, all);
  EXPECT_EQ(m.late(), 0u);
}

// A sample goes in whole when it is one CPU's run in time order after what that CPU holds, and
// record by record otherwise; either way the merger gives what pushing each record gives.
TEST(RecordMerger, ASampleGivesWhatItsRecordsPushedOneByOneGive) {
  const std::vector<std::vector<pgrec_event>> samples = {
      {rec(10, 0, 1), rec(20, 0, 2), rec(20, 0, 3), rec(30, 0, 4)},  // a batch, with a tie
      {rec(15, 1, 5), rec(25, 1, 6)},
      {rec(22, 0, 7)},                                                  // bypassed its batch: older than 30
      {rec(40, 0, 8), rec(35, 0, 9)},                                   // out of order within
      {rec(50, 1, 10), rec(45, 0, 11)},                                 // two CPUs
      {rec(5, 1, 12), rec(60, 1, 13)},                                  // older than the release
  };
  RecordMerger whole(2), single(2);
  std::vector<std::uint64_t> a, b;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    whole.push_sample(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    for (const auto& r : s) single.push(r);
    if (i == 3) {  // a release before the late sample
      whole.release(12, [&](const pgrec_event& r) { a.push_back(r.pfn); });
      single.release(12, [&](const pgrec_event& r) { b.push_back(r.pfn); });
    }
  }
  whole.release_all([&](const pgrec_event& r) { a.push_back(r.pfn); });
  single.release_all([&](const pgrec_event& r) { b.push_back(r.pfn); });
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 13u);
  EXPECT_EQ(whole.late(), single.late());
  EXPECT_EQ(whole.late(), 1u);
  EXPECT_EQ(whole.reordered(), single.reordered());
  EXPECT_EQ(whole.queued(), 0u);
}

}  // namespace
}  // namespace labyrinth::ebpf::detail
