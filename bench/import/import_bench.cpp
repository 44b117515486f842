// Import speed, in lines per second, of each capture format on the real samples in
// traces/samples/. Three stages are timed separately, from text already in memory:
//   Tokenize  - framing only (comm, pid, cpu, timestamp, event name)
//   Parse     - tokenizer + kmem field parser + sorter, into a counting sink
//   Import    - the whole `labyrinth import` minus reading the file: into a trace file on disk
// Run: build/bench/import/import_bench [--benchmark_filter=Import]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "labyrinth/traces/import/capture_importer.hpp"
#include "labyrinth/traces/import/input_source.hpp"
#include "labyrinth/traces/import/line_tokenizer.hpp"

namespace {

using namespace labyrinth::traces;
using namespace labyrinth::traces::import;

struct Sample {
  std::string text;
  std::vector<std::string_view> lines;
};

const Sample& sample(const std::string& file) {
  static std::map<std::string, Sample> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  Sample& s = cache[file];
  auto input = InputSource::open(std::string(LABYRINTH_SOURCE_DIR) + "/traces/samples/" + file);
  LineReader reader(*input);
  std::string_view line;
  while (reader.next(line)) {
    s.text.append(line);
    s.text.push_back('\n');
  }
  std::size_t pos = 0;
  while (pos < s.text.size()) {
    const std::size_t nl = s.text.find('\n', pos);
    s.lines.emplace_back(s.text.data() + pos, nl - pos);
    pos = nl + 1;
  }
  return s;
}

class CountingSink : public ParsedEventSink {
 public:
  std::uint32_t intern_comm(std::string_view comm) override { return static_cast<std::uint32_t>(comm.size()); }
  void append(const PageEvent& event) override { sum_ += event.pfn; }
  std::uint64_t sum_ = 0;
};

void set_counters(benchmark::State& state, const Sample& s) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.lines.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.text.size()));
  state.counters["lines"] = static_cast<double>(s.lines.size());
}

void Tokenize(benchmark::State& state, const std::string& file, CaptureFormat format) {
  const Sample& s = sample(file);
  for (auto _ : state) {
    std::uint64_t events = 0;
    for (std::string_view line : s.lines) events += tokenize_line(format, line).cls == LineClass::Event ? 1U : 0U;
    benchmark::DoNotOptimize(events);
  }
  set_counters(state, s);
}

void Parse(benchmark::State& state, const std::string& file, CaptureFormat format) {
  const Sample& s = sample(file);
  const GfpTable table = GfpTable::builtin_linux_6_10();
  for (auto _ : state) {
    CountingSink sink;
    EventImporter importer(format, table, sink);
    std::uint64_t n = 0;
    for (std::string_view line : s.lines) importer.feed(line, ++n);
    importer.finish();
    benchmark::DoNotOptimize(sink.sum_);
  }
  set_counters(state, s);
}

void Import(benchmark::State& state, const std::string& file, CaptureFormat format) {
  const Sample& s = sample(file);
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("labyrinth-import-bench-" + std::to_string(::getpid()) + ".trace"))
                              .string();
  for (auto _ : state) {
    auto input = InputSource::from_memory(s.text, file);
    ImportOptions options;
    options.format = format;
    options.writer.overwrite = true;
    const ImportReport report = import_capture(*input, out, options);
    benchmark::DoNotOptimize(report.events);
  }
  std::remove(out.c_str());
  set_counters(state, s);
}

struct Case {
  const char* name;
  const char* file;
  CaptureFormat format;
};

const Case kCases[] = {
    {"ftrace", "ftrace-trace.txt.zst", CaptureFormat::Ftrace},
    {"ftrace_pipe", "ftrace-pipe-lost.txt.zst", CaptureFormat::Ftrace},
    {"trace_cmd", "tracecmd-report.txt.zst", CaptureFormat::TraceCmd},
    {"trace_cmd_lt", "tracecmd-report-lt.txt.zst", CaptureFormat::TraceCmd},
    {"perf_script", "perf-script.txt.zst", CaptureFormat::PerfScript},
};

const bool kRegistered = [] {
  for (const Case& c : kCases) {
    const std::string file = c.file;
    const CaptureFormat format = c.format;
    benchmark::RegisterBenchmark((std::string("Tokenize/") + c.name).c_str(),
                                 [file, format](benchmark::State& st) { Tokenize(st, file, format); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("Parse/") + c.name).c_str(),
                                 [file, format](benchmark::State& st) { Parse(st, file, format); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("Import/") + c.name).c_str(),
                                 [file, format](benchmark::State& st) { Import(st, file, format); })
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
