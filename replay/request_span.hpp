// Internal to laby_replay: what mirror needs to judge a failure at the instants its checks ran,
// not only at its event. The kernel stamps mm_page_alloc at the end of __alloc_pages, after the
// slow path: a request that direct-reclaims made its last watermark check before the reclaim
// when the reclaim freed nothing, up to milliseconds before its event. Its checks all ran after
// its task's previous event (it was in the allocator since), so the zones' free pages over that
// span bound what they saw. A trace with the direct reclaim events pins those checks down: one
// failed right before each reclaim began, and one ran after each ended.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

namespace labyrinth::replay::detail {

// Each task's last event in task context (by the id the caller chooses: thread or process):
// per CPU the running task's, and the last one of each task that ran on a CPU since (kept when
// another task's event shows a switch), with the task's state then (kTask* bits).
class TaskLastEvents {
 public:
  struct Last {
    std::uint64_t ts_ns = 0;
    std::uint8_t task_state = 0;
  };

  explicit TaskLastEvents(unsigned nr_cpus) : running_(nr_cpus) {}

  void note(unsigned cpu, std::uint32_t task, std::uint64_t ts_ns, std::uint8_t task_state) {
    Running& r = running_[cpu];
    if (r.task != task && r.last.ts_ns != 0) switched_out_[r.task] = r.last;
    r = Running{task, Last{ts_ns, task_state}};
  }

  // The task's last task-context event so far; nullopt if none.
  [[nodiscard]] std::optional<Last> last(std::uint32_t task) const {
    Last found;
    if (const auto it = switched_out_.find(task); it != switched_out_.end()) found = it->second;
    for (const Running& r : running_) {
      if (r.task == task && r.last.ts_ns > found.ts_ns) found = r.last;
    }
    return found.ts_ns == 0 ? std::nullopt : std::optional<Last>(found);
  }

 private:
  struct Running {
    std::uint32_t task = 0;
    Last last;
  };
  std::vector<Running> running_;
  std::unordered_map<std::uint32_t, Last> switched_out_;
};

// Each zone's free pages after the events that changed them, the last kSamples of them: a ring
// that covers tens of milliseconds of the busiest squeeze.
class FreePageHistory {
 public:
  struct Sample {
    std::uint64_t ts_ns = 0;
    std::uint32_t free_pages = 0;
    std::uint32_t reserve_unusable = 0;  // ZoneLevels::reserve_unusable
  };

  explicit FreePageHistory(std::size_t zones) : zones_(zones) {}

  void note(std::uint16_t zone, std::uint64_t ts_ns, std::uint64_t free_pages, std::uint64_t reserve_unusable) {
    if (zone >= zones_.size()) return;
    Ring& r = zones_[zone];
    const Sample s{ts_ns, static_cast<std::uint32_t>(free_pages), static_cast<std::uint32_t>(reserve_unusable)};
    if (r.samples.empty()) r.samples.resize(kSamples);
    r.samples[r.next] = s;
    r.next = (r.next + 1) % kSamples;
    r.count = r.count < kSamples ? r.count + 1 : kSamples;
  }

  // The last sample at or before `ts`: the zone's level at that instant if one was noted
  // then; nullopt when the ring no longer reaches back to it.
  [[nodiscard]] std::optional<Sample> at(std::uint16_t zone, std::uint64_t ts) const {
    if (zone >= zones_.size()) return std::nullopt;
    const Ring& r = zones_[zone];
    for (std::size_t k = 1; k <= r.count; ++k) {
      const Sample& s = r.samples[(r.next + kSamples - k) % kSamples];
      if (s.ts_ns <= ts) return s;
    }
    return std::nullopt;
  }

  // The sample in [from, to] with the fewest usable free pages (less the reserve unless
  // `reserves_usable`); nullopt when the ring holds none in it.
  [[nodiscard]] std::optional<Sample> lowest(std::uint16_t zone, std::uint64_t from, std::uint64_t to,
                                             bool reserves_usable) const {
    if (zone >= zones_.size()) return std::nullopt;
    const Ring& r = zones_[zone];
    std::optional<Sample> low;
    const auto usable = [reserves_usable](const Sample& s) {
      return std::int64_t{s.free_pages} - (reserves_usable ? 0 : std::int64_t{s.reserve_unusable});
    };
    for (std::size_t k = 1; k <= r.count; ++k) {
      const Sample& s = r.samples[(r.next + kSamples - k) % kSamples];
      if (s.ts_ns > to) continue;
      if (s.ts_ns < from) break;
      if (!low || usable(s) < usable(*low)) low = s;
    }
    return low;
  }

 private:
  static constexpr std::size_t kSamples = std::size_t{1} << 16;
  struct Ring {
    std::vector<Sample> samples;  // allocated at the zone's first sample
    std::size_t next = 0;
    std::size_t count = 0;
  };
  std::vector<Ring> zones_;
};

// Each task's recent direct reclaims (vmscan:mm_vmscan_direct_reclaim_begin/_end), by the id
// the caller chooses: the instants of the watermark checks a request made before its event.
class TaskReclaims {
 public:
  struct Reclaim {
    std::uint64_t begin_ns = 0;
    std::uint64_t end_ns = 0;  // 0 while it runs (or when its end was lost)
    std::uint32_t reclaimed_pages = 0;
  };

  void begin(std::uint32_t task, std::uint64_t ts_ns) {
    auto& list = tasks_[task];
    if (list.size() == kKept) list.pop_front();
    list.push_back(Reclaim{ts_ns, 0, 0});
  }
  void end(std::uint32_t task, std::uint64_t ts_ns, std::uint32_t reclaimed_pages) {
    const auto it = tasks_.find(task);
    if (it == tasks_.end() || it->second.empty() || it->second.back().end_ns != 0) return;  // began before the trace
    it->second.back().end_ns = ts_ns;
    it->second.back().reclaimed_pages = reclaimed_pages;
  }
  // The task's reclaims that began in [from, to], oldest first.
  [[nodiscard]] std::vector<Reclaim> between(std::uint32_t task, std::uint64_t from, std::uint64_t to) const {
    std::vector<Reclaim> out;
    if (const auto it = tasks_.find(task); it != tasks_.end()) {
      for (const Reclaim& r : it->second) {
        if (r.begin_ns >= from && r.begin_ns <= to) out.push_back(r);
      }
    }
    return out;
  }

 private:
  // A request that fails retries reclaim up to MAX_RECLAIM_RETRIES (16) times.
  static constexpr std::size_t kKept = 32;
  std::unordered_map<std::uint32_t, std::deque<Reclaim>> tasks_;
};

}  // namespace labyrinth::replay::detail
