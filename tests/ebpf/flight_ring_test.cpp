// The flight recorder without a kernel: the ring keeps its memory and drops whole blocks in
// order; a dump is a complete trace that reads back with every event of its blocks; dump
// names; triggers against synthetic events and keyframes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "flight_buffer.hpp"
#include "flight_dump.hpp"
#include "flight_ring.hpp"
#include "flight_triggers.hpp"
#include "labyrinth/ebpf/flight_recorder.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::ebpf {
namespace {

namespace fs = std::filesystem;
using traces::EventKind;
using traces::PageEvent;

std::vector<PageEvent> events(std::uint64_t first_ts, std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<PageEvent> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].kind = i % 2 == 0 ? EventKind::Alloc : EventKind::Free;
    out[i].ts_ns = first_ts + i * 1000;
    out[i].pfn = rng() % 1000000;  // random: compresses poorly, so blocks have real sizes
    out[i].order = static_cast<std::uint8_t>(rng() % 4);
    out[i].gfp = 0xcc0;
  }
  return out;
}

traces::Snapshot keyframe(std::uint64_t ts, bool with_map) {
  traces::Snapshot s;
  s.present = true;
  s.ts_ns = ts;
  traces::ZoneSnapshot z;
  z.zone = "Normal";
  z.free_pages = 5000;
  z.managed_pages = 100000;
  z.buddyinfo = {10, 5, 1};
  s.zones.push_back(z);
  if (with_map) s.free_runs = {{100, 4}, {200, 8}};
  return s;
}

TEST(ChunkRing, DropsTheOldestBlocksWholeAndKeepsItsCapacity) {
  ChunkRing ring(256 << 10);
  traces::ChunkEncoder enc;
  traces::EncodedBlock b;
  std::uint64_t pushed = 0;
  for (std::uint32_t i = 0; i < 200; ++i) {
    enc.encode_events(events(i * 1'000'000ull, 2000, i), b);
    ASSERT_TRUE(ring.push(b, false, 0));
    pushed += 2000;
    EXPECT_LE(ring.used(), ring.capacity());
    EXPECT_EQ(ring.capacity(), 256u << 10);
  }
  const auto& e = ring.entries();
  ASSERT_FALSE(e.empty());
  EXPECT_GT(ring.dropped_blocks(), 0u);
  // The newest blocks are kept, in order, and add up with the dropped ones.
  std::uint64_t kept = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    kept += e[i].meta.count;
    if (i > 0) {
      EXPECT_LT(e[i - 1].meta.first_ts_ns, e[i].meta.first_ts_ns);
    }
    // No two blocks share bytes.
    for (std::size_t j = i + 1; j < e.size(); ++j)
      EXPECT_TRUE(e[i].offset + e[i].size <= e[j].offset || e[j].offset + e[j].size <= e[i].offset);
  }
  EXPECT_EQ(e.back().meta.first_ts_ns, 199 * 1'000'000ull);
  EXPECT_EQ(kept + ring.dropped_events(), pushed);
  // Full most of the time: a block is dropped only when the new one needs its bytes.
  EXPECT_GT(static_cast<double>(ring.used()), 0.8 * static_cast<double>(ring.capacity()));
  EXPECT_LT(ring.footprint(), ring.capacity() * 105 / 100);
  // A block larger than the ring is refused without dropping anything.
  traces::EncodedBlock huge;
  huge.payload.assign(ring.capacity() + 1, 'x');
  const std::size_t before = e.size();
  EXPECT_FALSE(ring.push(huge, false, 0));
  EXPECT_EQ(ring.entries().size(), before);
}

TEST(ChunkRing, DropsWhatIsOlderThanTheWindow) {
  ChunkRing ring(1 << 20);
  traces::ChunkEncoder enc;
  traces::EncodedBlock b;
  for (std::uint32_t i = 0; i < 10; ++i) {
    enc.encode_events(events(i * 1'000'000'000ull, 100, i), b);
    ring.push(b, false, 0);
  }
  ring.drop_older_than(5'000'000'000ull);
  ASSERT_EQ(ring.entries().size(), 5u);
  EXPECT_EQ(ring.entries().front().meta.first_ts_ns, 5'000'000'000ull);
}

TEST(FlightDump, IsACompleteTraceFromTheOldestMapKeyframe) {
  const fs::path dir = fs::temp_directory_path() / ("labyrinth-flight-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ChunkRing ring(4 << 20);
  std::vector<FlightTrigger> specs{{FlightTrigger::Kind::Failure, "failure", {}, {}, {}, 0, {}}};
  const traces::GfpTable table = traces::GfpTable::builtin_linux_6_10();
  TriggerWatch watch(specs, table);
  FlightBuffer buffer(ring, watch, 1000);
  const std::uint32_t comm = buffer.intern_comm("worker");
  // events, a plain keyframe, a map keyframe, events, a plain keyframe, events with a failure
  auto feed = [&](std::uint64_t ts, std::size_t n) {
    for (auto e : events(ts, n, static_cast<std::uint32_t>(ts))) {
      e.comm_id = comm;
      buffer.append(e);
    }
  };
  feed(1'000'000, 1500);
  buffer.push_keyframe(keyframe(3'000'000, false));
  buffer.push_keyframe(keyframe(3'500'000, true));
  feed(4'000'000, 2500);
  buffer.push_keyframe(keyframe(8'000'000, false));
  PageEvent failed;
  failed.kind = EventKind::Alloc;
  failed.pfn = traces::kFailedPfn;
  failed.order = 9;
  failed.gfp = 0x140cca;
  failed.ts_ns = 9'000'000;
  failed.ctx = traces::ExecContext::Task;
  failed.task_state = traces::kTaskOomVictim;  // its task state reaches the dump (its own block)
  buffer.append(failed);
  buffer.flush();
  const auto hit = watch.take();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->ts_ns, 9'000'000u);
  EXPECT_NE(hit->detail.find("order=9"), std::string::npos);

  DumpRequest req;
  req.path = (dir / "d.trace").string();
  req.header.source = "record";
  req.header.zones.resize(1);
  req.hit = *hit;
  req.end = keyframe(9'500'000, true);
  const DumpResult r = write_dump(req, ring, buffer);
  EXPECT_TRUE(r.started_at_free_map);
  EXPECT_EQ(r.events, 2501u);  // the 1500 events before the map keyframe are left out

  struct stat st {};
  ASSERT_EQ(::stat(req.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const auto& f : fs::directory_iterator(dir)) EXPECT_EQ(f.path().filename(), "d.trace");  // no temporary left

  traces::TraceReader reader(req.path);
  EXPECT_EQ(reader.start_snapshot().free_runs, keyframe(0, true).free_runs);
  EXPECT_EQ(reader.start_snapshot().ts_ns, 3'500'000u);
  std::vector<PageEvent> got;
  std::span<const PageEvent> batch;
  while (reader.next(batch)) got.insert(got.end(), batch.begin(), batch.end());
  ASSERT_EQ(got.size(), 2501u);
  EXPECT_TRUE(got.back().failed());
  EXPECT_EQ(got.back().task_state, traces::kTaskOomVictim);
  EXPECT_EQ(got.front().task_state, 0);
  EXPECT_EQ(reader.comm(got.front().comm_id), "worker");
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(reader.keyframes().size(), 1u);  // the plain keyframe after the start
  EXPECT_EQ(reader.footer().stop_reason, "trigger");
  EXPECT_EQ(reader.header().options.at("flight_trigger"), "failure");
  EXPECT_TRUE(reader.end_snapshot().present);
  // A second dump to the same name is refused and leaves the first intact.
  EXPECT_ANY_THROW(write_dump(req, ring, buffer));
  traces::TraceReader again(req.path);
  while (again.next(batch)) {
  }
  EXPECT_EQ(again.footer().events, 2501u);
  fs::remove_all(dir);
}

// Events that come while a free-page map is scanned go into the ring before its keyframe,
// which names the first of them; a dump that starts at the keyframe writes them after it, and
// a later map keyframe where its own scan began, as a recording does.
TEST(FlightBuffer, EventsDuringAMapScanFollowTheKeyframeInADump) {
  const fs::path dir = fs::temp_directory_path() / ("labyrinth-flight-scan-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ChunkRing ring(1 << 20);
  std::vector<FlightTrigger> specs;
  const traces::GfpTable table = traces::GfpTable::builtin_linux_6_10();
  TriggerWatch watch(specs, table);
  FlightBuffer buffer(ring, watch, 100);
  for (const auto& e : events(1000, 150, 1)) buffer.append(e);  // a full chunk in the ring, 50 pending
  buffer.begin_map_scan();
  for (const auto& e : events(900'000, 250, 2)) buffer.append(e);  // during the scan
  EXPECT_TRUE(buffer.push_keyframe(keyframe(800'000, true)));
  const auto& e = ring.entries();
  ASSERT_EQ(e.size(), 6u);  // 100 + 50 before; 100 + 100 + 50 during; the keyframe
  EXPECT_EQ(e[5].meta.role, traces::BlockRole::Keyframe);
  EXPECT_TRUE(e[5].free_map);
  EXPECT_EQ(e[5].events_from, e[2].seq);
  EXPECT_EQ(e[2].meta.first_ts_ns, 900'000u);
  buffer.begin_map_scan();  // a second scan with events during it
  for (const auto& e2 : events(2'000'000, 100, 3)) buffer.append(e2);
  EXPECT_TRUE(buffer.push_keyframe(keyframe(1'900'000, true)));
  for (const auto& e3 : events(3'000'000, 100, 4)) buffer.append(e3);
  buffer.flush();

  DumpRequest req;
  req.path = (dir / "d.trace").string();
  req.header.source = "record";
  req.header.zones.resize(1);
  req.hit = TriggerHit{"sigusr1", 3'500'000, ""};
  req.end = keyframe(3'600'000, true);
  const DumpResult r = write_dump(req, ring, buffer);
  EXPECT_TRUE(r.started_at_free_map);
  EXPECT_EQ(r.events, 450u);  // the 150 before the first scan are left out
  traces::TraceReader reader(req.path);
  EXPECT_EQ(reader.start_snapshot().ts_ns, 800'000u);
  std::vector<PageEvent> got;
  std::span<const PageEvent> batch;
  while (reader.next(batch)) got.insert(got.end(), batch.begin(), batch.end());
  ASSERT_EQ(got.size(), 450u);
  EXPECT_EQ(got.front().ts_ns, 900'000u);
  ASSERT_EQ(reader.keyframes().size(), 1u);  // the second map keyframe, before its scan's events
  EXPECT_EQ(reader.keyframes()[0].ts_ns, 1'900'000u);
  EXPECT_TRUE(reader.complete());
  fs::remove_all(dir);
}

// A scan during which the ring pushes out what was recorded since the scan began (a starved
// recorder) drops its keyframe: no dump could start there. No memory waits outside the ring,
// and the next scan's keyframe is kept.
TEST(FlightBuffer, AKeyframeWhoseScanEventsLeftTheRingIsDropped) {
  ChunkRing ring(4096);
  std::vector<FlightTrigger> specs;
  const traces::GfpTable table = traces::GfpTable::builtin_linux_6_10();
  TriggerWatch watch(specs, table);
  FlightBuffer buffer(ring, watch, 100);  // the 4 KiB ring holds a few chunks of 100 events
  buffer.begin_map_scan();
  for (const auto& e : events(1000, 3000, 3)) buffer.append(e);
  EXPECT_GT(ring.dropped_blocks(), 0u);
  EXPECT_FALSE(buffer.push_keyframe(keyframe(900, true)));
  EXPECT_EQ(buffer.keyframes_dropped(), 1u);
  for (const auto& e : ring.entries()) EXPECT_EQ(e.meta.role, traces::BlockRole::Events);

  buffer.begin_map_scan();  // a short scan: kept
  for (const auto& e : events(500'000, 50, 4)) buffer.append(e);
  EXPECT_TRUE(buffer.push_keyframe(keyframe(400'000, true)));
  EXPECT_EQ(ring.entries().back().meta.role, traces::BlockRole::Keyframe);
  EXPECT_EQ(buffer.keyframes_dropped(), 1u);
}

TEST(FlightDump, NamesFromThePattern) {
  const std::uint64_t t = 1'796'181'300'000'000'000ull;  // 2026-12-02T03:15:00Z
  EXPECT_EQ(dump_file_name("/d/x-%t-%r-%n.trace", t, "failure:atomic", 3), "/d/x-20261202T031500Z-failure-atomic-3.trace");
  EXPECT_EQ(dump_file_name("/d/oom.trace", t, "sigusr1", 1), "/d/oom-20261202T031500Z-sigusr1-1.trace");
  EXPECT_EQ(dump_file_name("/d/oom", t, "free<100", 2), "/d/oom-20261202T031500Z-free-lt-100-2.trace");
  EXPECT_EQ(dump_file_name("%n", t, "x", 7), "7.trace");
  EXPECT_EQ(dump_file_name("/d/%r-%n.trace", t, "../../etc", 1), "/d/etc-1.trace");  // a trigger adds no path
}

TEST(TriggerWatch, NarrowsFailuresByClassOrderAndFlags) {
  const traces::GfpTable table = traces::GfpTable::builtin_linux_6_10();
  const traces::GfpBits bits = traces::GfpBits::from(table);
  FlightTrigger atomic{FlightTrigger::Kind::Failure, "failure:atomic", {traces::FailureClass::Atomic}, {}, {}, 0, {}};
  FlightTrigger big{FlightTrigger::Kind::Failure, "failure:order>=4:gfp=__GFP_HIGH", {}, 4, "__GFP_HIGH", 0, {}};
  std::vector<FlightTrigger> specs{atomic, big};
  TriggerWatch w(specs, table);
  PageEvent e;
  e.kind = EventKind::Alloc;
  e.pfn = traces::kFailedPfn;
  e.gfp = table.bits_of("__GFP_DIRECT_RECLAIM");  // may reclaim: not atomic; order 0
  w.on_event(e);
  EXPECT_FALSE(w.take());
  e.gfp = bits.high | bits.kswapd_reclaim;  // GFP_ATOMIC
  w.on_event(e);
  auto h = w.take();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->trigger, "failure:atomic");
  e.gfp = bits.high | bits.direct_reclaim;
  e.order = 5;
  w.on_event(e);
  h = w.take();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->trigger, "failure:order>=4:gfp=__GFP_HIGH");
  e.pfn = 42;  // a success never fires
  w.on_event(e);
  EXPECT_FALSE(w.take());
  EXPECT_EQ(w.hits(), 2u);
  std::vector<FlightTrigger> bad{{FlightTrigger::Kind::Failure, "failure:gfp=__GFP_BOGUS", {}, {}, "__GFP_BOGUS", 0, {}}};
  EXPECT_THROW(TriggerWatch(bad, table), RecordError);
}

TEST(TriggerWatch, FreeFloorFiresOnceWhenCrossed) {
  const traces::GfpTable table = traces::GfpTable::builtin_linux_6_10();
  std::vector<FlightTrigger> specs{{FlightTrigger::Kind::FreeBelow, "free<4000:Normal", {}, {}, {}, 4000, "Normal"}};
  TriggerWatch w(specs, table);
  auto snap = keyframe(1, false);
  w.on_keyframe(snap);  // 5000: above
  EXPECT_FALSE(w.take());
  snap.zones[0].free_pages = 3000;
  w.on_keyframe(snap);
  EXPECT_TRUE(w.take());
  w.on_keyframe(snap);  // still below: no new hit
  EXPECT_FALSE(w.take());
  snap.zones[0].free_pages = 4500;
  w.on_keyframe(snap);
  snap.zones[0].free_pages = 100;
  w.on_keyframe(snap);
  EXPECT_TRUE(w.take());
}

}  // namespace
}  // namespace labyrinth::ebpf
