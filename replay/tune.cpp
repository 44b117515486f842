#include "labyrinth/replay/tune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include "labyrinth/replay/replay.hpp"
#include "labyrinth/traces/trace_reader.hpp"

namespace labyrinth::replay {

std::string_view to_string(TuneKnob knob) {
  return knob == TuneKnob::MinFreeKbytes ? "min_free_kbytes" : "watermark_scale_factor";
}

TunedTrace load_for_tune(traces::TraceReader& reader, const traces::TraceHeader& header) {
  TunedTrace t;
  t.reader = &reader;
  t.header = header;
  std::span<const traces::PageEvent> chunk;
  while (reader.next(chunk)) {
    // Simulate decides refills and claims itself, so only what it reads is kept: requests,
    // frees, the kernel's compaction isolations (whose pages the migrations' frees give back)
    // and drains (of pages held from before the recording, which they show free). A
    // subsequence of an ordered chunk is ordered.
    std::vector<traces::PageEvent> kept;
    kept.reserve(chunk.size());
    for (const auto& e : chunk) {
      if (e.kind != traces::EventKind::PcpRefill && e.kind != traces::EventKind::Extfrag) kept.push_back(e);
    }
    t.events += kept.size();
    t.chunk_in_order.push_back(reader.in_time_order());
    t.chunks.push_back(std::move(kept));
  }
  return t;
}

TuneEvaluate simulate_evaluator(const TunedTrace& trace, WhatIf what_if) {
  return [&trace, what_if](TuneKnob knob, std::uint64_t value) {
    const auto began = std::chrono::steady_clock::now();
    ReplayOptions o;
    o.mode = ReplayMode::Simulate;
    o.what_if = what_if;
    if (knob == TuneKnob::MinFreeKbytes) {
      o.what_if.min_free_kbytes = value;
    } else {
      o.what_if.watermark_scale_factor = value;
    }
    o.interval_ns = ~std::uint64_t{0} / 4;  // no timeline: only the failures count here
    o.timeline_points = 1;
    // The atomic failures are counted from every record, but kept, the records of a run with
    // 200 000 failures took a third of its time: only what the count needs is kept.
    struct Seen {
      std::uint64_t gfp;
      unsigned order;
      FailureCause cause;
    };
    std::vector<Seen> seen;
    o.on_failure = [&seen](const FailureRecord& f) { seen.push_back(Seen{f.gfp, f.order, f.cause}); };
    o.max_failures = 1;  // the fewest the log keeps (0 keeps them all)
    o.check_invariants = false;
    const traces::TraceReader& reader = *trace.reader;
    Replayer replayer(trace.header, reader.start_snapshot(), traces::Snapshot{}, o);
    replayer.set_keyframes(reader.keyframes(), {});  // the zones' sizes, as simulate follows them
    replayer.set_process_names([&reader](std::uint32_t id) { return reader.comm(id); });  // kswapd's frees
    for (std::size_t i = 0; i < trace.chunks.size(); ++i) replayer.add(trace.chunks[i], trace.chunk_in_order[i]);
    const ReplayResult r = replayer.finish(reader);
    TunePoint p;
    p.knob = knob;
    p.value = value;
    for (int c = 0; c < kFailureClassCount; ++c) p.failures_by_class[static_cast<std::size_t>(c)] = r.failures.by_class(static_cast<FailureClass>(c));
    for (const Seen& f : seen) {
      if (!is_atomic(f.gfp, r.bits) || f.order > kCostlyOrder) continue;
      ++p.atomic_failures;
      ++p.atomic_by_cause[static_cast<std::size_t>(f.cause)];
      if (f.cause == FailureCause::Watermark && (f.gfp & r.bits.high) == 0) ++p.atomic_without_reserve;
    }
    p.atomic_served_near = r.agreement.atomic_requests().kernel_failed_model_near;
    p.oom_kills = r.counters.oom_kills;
    for (const auto& z : r.model_config.zones) {
      const auto wm = z.watermarks.value_or(allocator::Watermarks{});
      p.min_pages += wm.min;
      p.high_pages += wm.high;
      p.managed_pages += z.managed_pages;
    }
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    return p;
  };
}

namespace {

// Searches below an answer whose 90% point also passes, at most this many times.
constexpr int kMaxDescents = 4;

// What is left at the top of the range, by cause, for the refusal.
std::string refusal(const TunePoint& top, TuneKnob knob) {
  std::string causes;
  for (int j = 0; j < kFailureCauseCount; ++j) {
    const std::uint64_t n = top.atomic_by_cause[static_cast<std::size_t>(j)];
    if (n != 0) causes += fmt::format("{}{} {}", causes.empty() ? "" : ", ", n, to_string(static_cast<FailureCause>(j)));
  }
  const std::uint64_t frag = top.atomic_by_cause[static_cast<std::size_t>(FailureCause::Fragmentation)];
  std::string why;
  if (frag * 2 >= top.atomic()) {
    why = "; most are fragmentation (free memory, no free block of the order), which no watermark fixes";
  } else if (top.atomic_without_reserve * 2 >= top.atomic()) {
    why = fmt::format(
        "; {} of them are requests without __GFP_HIGH (GFP_NOWAIT and the like), which get no reserve below min: "
        "they fail whenever reclaim cannot keep the zone above its min, wherever the setting puts it",
        top.atomic_without_reserve);
  }
  return fmt::format("no {} up to {} removes the atomic failures: {} remain ({}){}", to_string(knob), top.value,
                     top.atomic(), causes, why);
}

}  // namespace

TuneSearch search_knob(TuneKnob knob, const TunePoint& start, std::uint64_t lowest, std::uint64_t highest,
                       const TuneEvaluate& evaluate) {
  TuneSearch s;
  s.knob = knob;
  s.recorded = start.value;
  s.lowest = lowest;
  s.highest = highest;
  s.tried.push_back(start);
  auto run = [&](std::uint64_t v) -> const TunePoint& {
    for (const auto& p : s.tried) {
      if (p.value == v) return p;
    }
    s.tried.push_back(evaluate(knob, v));
    return s.tried.back();
  };
  // Bracket: bad fails, good passes.
  std::optional<std::uint64_t> bad, good;
  // Where the recorded value fails, the answer lies above it: a lower value that passes is the
  // model's course parting from the kernel's (a lower watermark only lets memory sink lower
  // before reclaim starts, and leaves less below min for atomic requests), not a remedy.
  const std::uint64_t floor = start.atomic() != 0 ? start.value + 1 : lowest;
  // From a passing value, halve until a value fails (or the range ends).
  const auto halve_from = [&](std::uint64_t passing) {
    good = passing;
    bad.reset();
    while (!bad && *good > floor) {
      const std::uint64_t v = std::max(floor, *good / 2);
      if (run(v).atomic() != 0) {
        bad = v;
      } else {
        good = v;
      }
    }
  };
  if (start.atomic() == 0) {
    halve_from(start.value);
  } else {
    bad = start.value;
    while (!good) {
      if (*bad >= highest) {
        s.refused = refusal(run(highest), knob);
        return s;
      }
      const std::uint64_t v = std::min(highest, std::max(*bad * 2, *bad + 1));
      if (run(v).atomic() == 0) {
        good = v;
      } else {
        bad = v;
      }
    }
  }
  // Bisect until the failing value is within 5% of the passing one.
  const auto bisect = [&] {
    while (bad && *good - *bad > 1 && *bad * 20 < *good * 19) {
      const std::uint64_t mid = *bad + (*good - *bad) / 2;
      if (run(mid).atomic() == 0) {
        good = mid;
      } else {
        bad = mid;
      }
    }
  };
  bisect();
  // The failures need not fall as the knob rises (each value sends the model's memory down
  // another course): while 90% of the answer also passes, the search goes on below it, so that
  // the answer is minimal in the sense that 90% of it fails. A few descents at most, none
  // below the floor (the 90% point is still run and shown).
  for (int descents = 0;; ++descents) {
    s.at_90_percent.reset();
    const std::uint64_t ninety = *good * 9 / 10;
    if (ninety < lowest || ninety >= *good) break;
    s.at_90_percent = run(ninety);
    if (s.at_90_percent->atomic() != 0 || descents == kMaxDescents || ninety < floor) break;
    halve_from(ninety);
    bisect();
  }
  s.recommended = *good;
  return s;
}

TuneResult tune(const TunedTrace& trace, const WhatIf& what_if) {
  const auto began = std::chrono::steady_clock::now();
  const TuneEvaluate evaluate = simulate_evaluator(trace, what_if);
  TuneResult r;
  const ModelSetup setup = make_model_setup(trace.header, allocator::PcpMode::Auto, what_if);
  r.page_size = setup.config.page_size;
  const std::uint64_t page_kb = std::max<std::uint64_t>(1, r.page_size / 1024);
  const std::uint64_t scale = setup.config.tunables.watermark_scale_factor;

  // The recorded run: min_free_kbytes as recorded (or as the zones' min watermarks add up).
  TunePoint recorded = evaluate(TuneKnob::WatermarkScaleFactor, scale);
  // The memory shares and the search's range are of the machine as it ended the recording.
  r.managed_pages = recorded.managed_pages;
  const std::uint64_t min_free = setup.config.tunables.min_free_kbytes.value_or(recorded.min_pages * page_kb);
  r.recorded = recorded;
  TunePoint as_min_free = recorded;
  as_min_free.knob = TuneKnob::MinFreeKbytes;
  as_min_free.value = min_free;

  // Two searches, one thread each: every simulate run is single-threaded over the decoded events.
  // min_free_kbytes: from the kernel's floor (calculate_min_free_kbytes clamps at 128) to half
  // of the memory; watermark_scale_factor: the sysctl's range, 1 to 3000.
  const std::uint64_t half_kb = r.managed_pages * page_kb / 2;
  std::exception_ptr failed;
  std::mutex failed_mutex;
  auto guarded = [&](auto&& job) {
    try {
      job();
    } catch (...) {
      const std::lock_guard lock(failed_mutex);
      if (!failed) failed = std::current_exception();
    }
  };
  std::thread second([&] {
    guarded([&] {
      r.watermark_scale_factor = search_knob(TuneKnob::WatermarkScaleFactor, recorded, 1, 3000, evaluate);
    });
  });
  guarded([&] {
    r.min_free_kbytes = search_knob(TuneKnob::MinFreeKbytes, as_min_free, std::min<std::uint64_t>(128, min_free),
                                    std::max(half_kb, min_free), evaluate);
  });
  second.join();
  if (failed) std::rethrow_exception(failed);
  r.runs = 1 + r.min_free_kbytes.tried.size() - 1 + r.watermark_scale_factor.tried.size() - 1;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return r;
}

}  // namespace labyrinth::replay
