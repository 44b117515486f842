// `labyrinth record`: record the page allocator's events into a trace file.
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "labyrinth/version.hpp"
#include "log.hpp"
#include "units.hpp"

#ifdef LABYRINTH_WITH_BPF
#include "flight_options.hpp"
#include "labyrinth/ebpf/flight_recorder.hpp"
#include "labyrinth/ebpf/record_session.hpp"
#include "record_events.hpp"
#endif

namespace labyrinth::cli {
namespace {

constexpr std::uint32_t kFlightFreeMapEvery = 30;  // keyframes, with --flight-recorder

struct RecordCliOptions {
  std::string output = kDefaultTraceFile;
  bool force = false;
  bool all_cpus = false;
  std::uint32_t pid = 0;
  std::string duration;
  std::uint32_t min_order = 0;
  bool call_graph = false;
  std::string events;
  std::uint32_t buffer_mib = 32;
  std::uint32_t wakeup_kib = 256;
  std::uint32_t batch = 64;
  int nice = -10;
  bool no_mlock = false;
  int realtime = 0;
  std::string attach = "auto";
  bool no_kpageflags = false;
  bool no_zone_counters = false;
  std::string keyframe_interval = "1s";
  std::optional<std::uint32_t> keyframe_free_map;
  std::vector<std::string> command;
  // --flight-recorder and its options
  std::string flight;
  std::vector<std::string> triggers;
  std::uint32_t max_dumps = 16;
  std::string rate_limit = "10s";
  std::string post_trigger = "200ms";
  std::string openmetrics;
  std::string openmetrics_interval = "5s";
};

#ifdef LABYRINTH_WITH_BPF

// Durations beyond this (about 31 years) are refused rather than overflowing the clock.
constexpr std::uint64_t kLongestDurationNs = 1'000'000'000'000'000'000;

int exit_code_for(ebpf::RecordError::Kind kind) {
  using K = ebpf::RecordError::Kind;
  switch (kind) {
    case K::NoPermission: return kExitNoPermission;
    case K::Unsupported: return kExitUnsupported;
    case K::Usage: return kExitUsage;
    case K::Output:
    case K::Failure: return kExitFailure;
  }
  return kExitFailure;
}

// Diagnostics go through log.hpp; the live line is redrawn in place on a terminal.
class CliObserver final : public ebpf::RecordObserver {
 public:
  void warning(std::string_view message) override {
    clear();
    print_warning(message);
  }
  void info(std::string_view message) override {
    clear();
    fmt::print(stderr, "labyrinth: {}\n", message);
  }
  void debug(int level, std::string_view message) override {
    if (verbosity() < level) return;
    clear();
    print_debug(level, message);
  }
  void status(std::string_view line) override {
    if (line.empty()) {
      clear();
      return;
    }
    fmt::print(stderr, "\r{}\x1b[K", line);
    std::fflush(stderr);
    shown_ = true;
  }

 private:
  void clear() {
    if (!shown_) return;
    fmt::print(stderr, "\r\x1b[K");
    shown_ = false;
  }
  bool shown_ = false;
};

std::string summary(const ebpf::RecordResult& r) {
  const auto& s = r.counters.seen;
  auto k = [&](traces::EventKind kind) { return s[static_cast<std::size_t>(kind)]; };
  std::string kinds = fmt::format("alloc {}, free {}", k(traces::EventKind::Alloc), k(traces::EventKind::Free));
  if (k(traces::EventKind::PcpRefill) != 0) kinds += fmt::format(", zone_locked {}", k(traces::EventKind::PcpRefill));
  if (k(traces::EventKind::PcpDrain) != 0) kinds += fmt::format(", pcpu_drain {}", k(traces::EventKind::PcpDrain));
  if (k(traces::EventKind::Extfrag) != 0) kinds += fmt::format(", extfrag {}", k(traces::EventKind::Extfrag));
  if (k(traces::EventKind::Isolate) != 0) kinds += fmt::format(", isolate {}", k(traces::EventKind::Isolate));
  if (k(traces::EventKind::ReclaimBegin) != 0)
    kinds += fmt::format(", direct reclaims {}", k(traces::EventKind::ReclaimBegin));
  if (k(traces::EventKind::KswapdWake) != 0) kinds += fmt::format(", kswapd passes {}", k(traces::EventKind::KswapdWake));
  if (k(traces::EventKind::FreeBatched) != 0)
    kinds += fmt::format(", free_batched {}", k(traces::EventKind::FreeBatched));
  const double mib = static_cast<double>(r.bytes) / (1024.0 * 1024.0);
  const double per_event = r.events != 0 ? static_cast<double>(r.bytes) / static_cast<double>(r.events) : 0.0;
  return fmt::format("[ labyrinth record: {} events ({}) in {:.2f} s; wrote {:.2f} MiB to {} ({:.1f} bytes/event) ]",
                     r.events, kinds, r.seconds, mib, r.output, per_event);
}

// A duration option: the value, or a usage error printed (nullopt).
std::optional<std::chrono::nanoseconds> duration_option(const std::string& name, const std::string& text,
                                                        bool zero_ok) {
  const ParsedUnit d = parse_duration(text);
  if (!d.ok() || (d.value == 0 && !zero_ok) || d.value > kLongestDurationNs) {
    error("bad {} '{}'", name, text);
    hint("use a number with an optional unit: 10, 1.5s, 500ms, 2m, 1h");
    return std::nullopt;
  }
  return std::chrono::nanoseconds(d.value);
}

int report_record_error(const ebpf::RecordError& e) {
  error("{}", e.what());
  const auto& details = e.details();
  const std::size_t shown = verbosity() >= 1 ? details.size() : std::min<std::size_t>(details.size(), 6);
  for (std::size_t i = details.size() - shown; i < details.size(); ++i) fmt::print(stderr, "  {}\n", details[i]);
  for (const auto& h : e.hints()) hint("{}", h);
  return exit_code_for(e.kind());
}

int run_flight(const RecordCliOptions& o, const ebpf::RecordOptions& ro) {
  ebpf::FlightOptions fo;
  if (const std::string why = parse_flight_spec(o.flight, fo); !why.empty()) {
    error("--flight-recorder {}: {}", o.flight, why);
    return kExitUsage;
  }
  for (const auto& t : o.triggers) {
    ebpf::FlightTrigger trigger;
    if (const std::string why = parse_trigger(t, trigger); !why.empty()) {
      error("--trigger {}: {}", t, why);
      return kExitUsage;
    }
    fo.triggers.push_back(std::move(trigger));
  }
  fo.max_dumps = o.max_dumps;
  const auto rate = duration_option("--rate-limit", o.rate_limit, true);
  const auto post = duration_option("--post-trigger", o.post_trigger, true);
  const auto interval = duration_option("--openmetrics-interval", o.openmetrics_interval, false);
  if (!rate || !post || !interval) return kExitUsage;
  if (*post > std::chrono::seconds(10)) {
    error("--post-trigger {}: at most 10s (a dump waits for it)", o.post_trigger);
    return kExitUsage;
  }
  fo.rate_limit = *rate;
  fo.post_trigger = *post;
  fo.openmetrics = o.openmetrics;
  fo.metrics_interval = *interval;

  CliObserver observer;
  ebpf::FlightResult r;
  try {
    r = ebpf::run_flight_recorder(ro, fo, observer);
  } catch (const ebpf::RecordError& e) {
    return report_record_error(e);
  }
  if (r.interrupted_before_start) {
    error("interrupted before recording started; nothing was written");
    return kExitInterrupted;
  }
  fmt::print(stderr,
             "[ labyrinth record: flight recorder ran {:.1f} s; {} events; {} triggers; {} dumps written, {} failed, "
             "{} suppressed; ring {:.1f} MiB ]\n",
             r.seconds, r.events, r.triggers, r.dumps, r.dump_failures, r.suppressed,
             static_cast<double>(r.ring_footprint) / (1024.0 * 1024.0));
  for (const auto& p : r.dump_paths) fmt::print(stderr, "  {}\n", p);
  if (r.counters.drops != 0 || r.counters.recursion_misses != 0)
    warning("{} events lost to a full ring buffer, {} to recursion misses", r.counters.drops,
            r.counters.recursion_misses);
  return kExitOk;
}

int run(const RecordCliOptions& o) {
  ebpf::RecordOptions ro;
  ro.output = o.output;
  ro.overwrite = o.force;
  ro.pid = o.pid;
  ro.command = o.command;
  ro.min_order = o.min_order;
  ro.call_graph = o.call_graph;
  ro.buffer_mib = o.buffer_mib;
  ro.wakeup_kib = o.wakeup_kib;
  ro.batch = o.batch;
  ro.nice = o.nice;
  ro.realtime = o.realtime;
  ro.lock_memory = !o.no_mlock;
  ro.attach = o.attach == "raw"       ? ebpf::AttachMode::Raw
              : o.attach == "classic" ? ebpf::AttachMode::Classic
                                      : ebpf::AttachMode::Auto;
  ro.kpageflags = !o.no_kpageflags;
  ro.zone_counters = !o.no_zone_counters;
  ro.status_line = ::isatty(STDERR_FILENO) == 1;
  ro.tool_version = LABYRINTH_VERSION;
  if (!o.duration.empty()) {
    ro.duration = duration_option("duration", o.duration, false);
    if (!ro.duration) return kExitUsage;
  }
  if (const ParsedUnit k = parse_duration(o.keyframe_interval); k.ok() && k.value <= kLongestDurationNs) {
    ro.keyframe_interval = std::chrono::nanoseconds(k.value);
    ro.keyframe_free_map = o.keyframe_free_map;
  } else {
    error("bad --keyframe-interval '{}'", o.keyframe_interval);
    hint("use a duration (1s, 500ms, 0 for none)");
    return kExitUsage;
  }
  if (!o.events.empty()) {
    const ParsedEvents list = parse_event_list(o.events);
    if (!list.ok()) {
      error("-e {}: {}", o.events, list.error);
      return kExitUsage;
    }
    ro.events = list.kinds;
  }

  if (!o.flight.empty()) return run_flight(o, ro);

  CliObserver observer;
  ebpf::RecordResult r;
  try {
    r = ebpf::run_record(ro, observer);
  } catch (const ebpf::RecordError& e) {
    return report_record_error(e);
  }
  if (r.interrupted_before_start) {
    error("interrupted before recording started; nothing was written");
    return kExitInterrupted;
  }
  fmt::print(stderr, "{}\n", summary(r));
  const auto& c = r.counters;
  if (c.drops != 0 || c.comm_drops != 0) {
    warning("{} events lost: the ring buffer was full ({} process-name records too)", c.drops, c.comm_drops);
    hint("use a bigger buffer (-m {}), record fewer events (-e alloc,free), and don't run the recorder niced",
         r.counters.drops != 0 ? o.buffer_mib * 2 : o.buffer_mib);
  }
  if (c.recursion_misses != 0) {
    warning("{} events lost: the kernel skipped the BPF program while it ran on the same CPU "
            "(recursion misses, e.g. a softirq that interrupted it)",
            c.recursion_misses);
  }
  if (c.stack_errors != 0) warning("{} events have no kernel stack (stack map full or collisions)", c.stack_errors);
  if (r.write_error) {
    error("{}", *r.write_error);
    error("the recording stopped early: {} holds the events written before the error and reads as incomplete",
          r.output);
    hint("free some space or write elsewhere with -o");
    return kExitFailure;
  }
  if (!o.command.empty()) return r.command_exit_code;
  return kExitOk;
}

#endif  // LABYRINTH_WITH_BPF

}  // namespace

void setup_record(CLI::App& app) {
  auto opts = std::make_shared<RecordCliOptions>();
  auto* cmd = app.add_subcommand("record", "Record the kernel's page-allocator events into a trace file (root)");
  cmd->footer(
      "System-wide by default, also while COMMAND runs (the buddy allocator is shared).\n"
      "Examples:\n"
      "  labyrinth record -d 10s                 10 seconds, system-wide\n"
      "  labyrinth record -g -- make -j2         while make runs, with kernel call stacks\n"
      "  labyrinth record -p 1234 -o app.trace   only process 1234, until Ctrl-C\n");  // a blank line ends every help
  cmd->add_option("-o,--output", opts->output, "Trace file to write")->capture_default_str();
  cmd->add_flag("-f,--force", opts->force, "Overwrite the output file if it exists");
  cmd->add_flag("-a,--all-cpus", opts->all_cpus, "System-wide (the default; accepted for perf compatibility)");
  cmd->add_option("-p,--pid", opts->pid, "Record only this process (thread group id)");
  cmd->add_option("-d,--duration", opts->duration, "Stop after this long: 10, 1.5s, 500ms, 2m");
  cmd->add_option("--min-order", opts->min_order, "Skip events of smaller orders")->check(CLI::Range(0, 15));
  cmd->add_flag("-g,--call-graph", opts->call_graph, "Record kernel call stacks (symbolized with /proc/kallsyms)");
  cmd->add_option("-e,--events", opts->events,
                  "Events, comma-separated: alloc,free,zone_locked,pcpu_drain,extfrag,isolate,free_batched; "
                  "'default' (all but free_batched) or 'all'");
  cmd->add_option("-m,--buffer-size", opts->buffer_mib, "Ring buffer size in MiB (power of two)")
      ->capture_default_str();
  cmd->add_option("--wakeup", opts->wakeup_kib, "Wake the reader at this much unread data, KiB (0 = every sample)")
      ->capture_default_str()
      ->group("");
  cmd->add_option("--nice", opts->nice,
                  "The recorder's niceness once COMMAND is forked (-20..19; 0 leaves it): a reader starved "
                  "by a busy machine drops events")
      ->check(CLI::Range(-20, 19))
      ->capture_default_str();
  cmd->add_option("--realtime", opts->realtime,
                  "The reader thread's SCHED_FIFO priority once COMMAND is forked (1..99; 0: the normal class at "
                  "--nice): a loaded machine no longer keeps the woken reader waiting")
      ->check(CLI::Range(0, 99))
      ->capture_default_str();
  cmd->add_flag("--no-mlock", opts->no_mlock,
                "Leave the recorder's pages evictable (by default it locks what it touches, so that memory "
                "pressure does not make it read its own code back from disk)");
  cmd->add_option("--batch", opts->batch, "Records per ring-buffer sample, 1..64 (1 = no batching)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str()
      ->group("");
  cmd->add_option("--attach", opts->attach, "Hook the tracepoints through raw_tp, classic tracepoints, or auto")
      ->check(CLI::IsMember({"auto", "raw", "classic"}))
      ->capture_default_str()
      ->group("");
  cmd->add_flag("--no-kpageflags", opts->no_kpageflags, "Leave the free-page map out of the snapshots (faster)");
  cmd->add_flag("--no-zone-counters", opts->no_zone_counters,
                "Do not read the kernel's zone counters at failed allocations (replay then explains failures from its "
                "model alone)");
  cmd->add_option("--keyframe-interval", opts->keyframe_interval,
                  "Record buddyinfo and zoneinfo this often (0: never); replay validates at each")
      ->capture_default_str();
  cmd->add_option("--keyframe-free-map", opts->keyframe_free_map,
                  "Every Nth keyframe also carries the free-page map (0: none; default every keyframe where the free "
                  "lists can be read, every 10th where /proc/kpageflags must be scanned); mirror resyncs from it");
  cmd->add_option("--flight-recorder", opts->flight,
                  "Keep the last DURATION or SIZE in memory (2m, 64M, 2m,256M); write -o PATTERN on a trigger")
      ->group("Flight recorder");
  cmd->add_option("--trigger", opts->triggers,
                  "failure[:atomic|opportunistic|costly|other][:order>=N][:gfp=FLAGS], sigusr1, free<PAGES[:ZONE]")
      ->group("Flight recorder");
  cmd->add_option("--max-dumps", opts->max_dumps, "Write at most N dumps (0: no limit)")
      ->capture_default_str()
      ->group("Flight recorder");
  cmd->add_option("--rate-limit", opts->rate_limit, "At least this long between two dumps")
      ->capture_default_str()
      ->group("Flight recorder");
  cmd->add_option("--post-trigger", opts->post_trigger, "Keep recording this long after a trigger before dumping")
      ->capture_default_str()
      ->group("Flight recorder");
  cmd->add_option("--openmetrics", opts->openmetrics, "Rewrite this OpenMetrics file (*.prom: Prometheus text) every interval")
      ->group("Flight recorder");
  cmd->add_option("--openmetrics-interval", opts->openmetrics_interval, "How often --openmetrics is rewritten")
      ->capture_default_str()
      ->group("Flight recorder");
  cmd->add_option("command", opts->command, "COMMAND [ARGS...] after --: record while it runs, exit with its status");
  cmd->callback([opts, cmd] {
    // Always on, a free-page map scan (0.2 s of a CPU for 24 GiB, more on a busy machine)
    // every 10 s would cost about 2% of a CPU; every 30 s keeps the ring's start points
    // well inside a window of minutes.
    if (!opts->flight.empty() && cmd->count("--keyframe-free-map") == 0) opts->keyframe_free_map = kFlightFreeMapEvery;
    if (!opts->command.empty() && !opts->duration.empty())
      warning("the command is stopped with SIGTERM if it outlives -d {}", opts->duration);
#ifdef LABYRINTH_WITH_BPF
    const int rc = run(*opts);
    if (rc != kExitOk) throw CLI::RuntimeError(rc);
#else
    error("this labyrinth was built without the eBPF recorder (LABYRINTH_WITH_BPF=OFF)");
    hint("import an ftrace, trace-cmd or perf capture instead: labyrinth import --help");
    throw CLI::RuntimeError(kExitUnsupported);
#endif
  });
}

}  // namespace labyrinth::cli
