// labyrinth replay as a user runs it: modes, exit codes, messages, JSON validated against the
// documented schema, the timeline CSV.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "json_schema_check.hpp"
#include "../replay/replay_test_util.hpp"
#include "run_command.hpp"

namespace labyrinth {
namespace {

using replay::testing::case_path;
using replay::testing::read_text;
using replay::testing::TempDir;
using testing::run_labyrinth;

const char* const kSchema = LABYRINTH_SOURCE_DIR "/replay/schema/labyrinth-report.schema.json";

nlohmann::json load(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

class CliReplay : public ::testing::Test {
 protected:
  std::string trace(const std::string& case_name) {
    std::filesystem::remove(dir_.file(case_name + ".trace"));
    return replay::testing::trace_from_text(dir_, read_text(case_path(case_name)), case_name + ".trace");
  }
  std::string file(const std::string& name) const { return dir_.file(name); }
  TempDir dir_;
};

// Validates with python3-jsonschema too when it is there (LABYRINTH_REQUIRE_JSONSCHEMA=1 makes
// its absence a failure).
void python_validate(const std::string& json_path) {
  if (std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") != 0) {
    const char* req = std::getenv("LABYRINTH_REQUIRE_JSONSCHEMA");
    ASSERT_FALSE(req != nullptr && std::string(req) == "1") << "python3-jsonschema is not installed";
    return;
  }
  const std::string cmd = "python3 -c 'import json,sys,jsonschema; s=json.load(open(sys.argv[1])); "
                          "jsonschema.Draft202012Validator.check_schema(s); "
                          "jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[2])))' '" +
                          std::string(kSchema) + "' '" + json_path + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << json_path;
}

TEST_F(CliReplay, JsonReportsOfEveryModeValidateAgainstTheSchema) {
  const testing::SchemaChecker checker(load(kSchema));
  int n = 0;
  for (const char* c : {"fragmentation_then_merge.txt", "atomic_below_min.txt", "bad_frees.txt"}) {
    const std::string t = trace(c);
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--mode", "mirror"}, std::vector<std::string>{"--mode", "simulate"},
          std::vector<std::string>{"--balloon", "1M", "--no-pcp", "--min-free-kbytes", "1024"}}) {
      std::string name = "r";
      name += std::to_string(n++);
      name += ".json";
      const std::string json = file(name);
      std::vector<std::string> args{"replay", t, "--json", json, "-q", "--interval", "500ns"};
      args.insert(args.end(), extra.begin(), extra.end());
      const auto r = run_labyrinth(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const auto errors = checker.check(load(json));
      EXPECT_TRUE(errors.empty()) << c << ": " << (errors.empty() ? "" : errors.front());
      if (n % 3 == 1) python_validate(json);  // one per case: it takes a second each
    }
  }
  // labyrinth stat's report is described by the same schema; its capture lists the attach
  // points the recording went without (the capture object is the replay report's too).
  const std::string json = file("stat.json");
  ASSERT_EQ(run_labyrinth({"stat", trace("missing_attach_points.txt"), "--json", json, "-q"}).exit_code, 0);
  EXPECT_EQ(load(json)["capture"]["missing_attach_points"].size(), 3u);
  EXPECT_TRUE(checker.check(load(json)).empty());
  python_validate(json);
}

TEST_F(CliReplay, TheSchemaCheckerRejectsBrokenReports) {
  const testing::SchemaChecker checker(load(kSchema));
  const std::string json = file("r.json");
  ASSERT_EQ(run_labyrinth({"replay", trace("bad_frees.txt"), "--json", json, "-q"}).exit_code, 0);
  nlohmann::json doc = load(json);
  ASSERT_TRUE(checker.check(doc).empty());
  nlohmann::json missing = doc;
  missing.erase("validation");
  EXPECT_FALSE(checker.check(missing).empty());
  nlohmann::json wrong = doc;
  wrong["failures"]["items"][0]["cause"] = "bad luck";
  EXPECT_FALSE(checker.check(wrong).empty());
  nlohmann::json negative = doc;
  negative["summary"]["allocations"] = -1;
  EXPECT_FALSE(checker.check(negative).empty());
}

TEST_F(CliReplay, MirrorIsTheDefaultWithAStartSnapshotAndSimulateWithout) {
  auto r = run_labyrinth({"replay", trace("fragmentation_then_merge.txt"), "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["config"]["mode"], "mirror");
  EXPECT_EQ(doc["validation"]["passed"], true);
  EXPECT_EQ(doc["failures"]["items"][0]["cause"], "fragmentation");

  std::ofstream(file("nosnap.txt")) << "!cpus 1\n"
                                       "!zone node=0 name=Normal start_pfn=0x1000 spanned=4096 managed=4096 min=128 "
                                       "low=160 high=192\n"
                                       "100 alloc pfn=0x1000 order=0 mt=1 gfp=GFP_KERNEL\n";
  std::ifstream in(file("nosnap.txt"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string t = replay::testing::trace_from_text(dir_, ss.str(), "nosnap.trace");
  r = run_labyrinth({"replay", t, "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["config"]["mode"], "simulate");
  EXPECT_EQ(doc["config"]["seeded_from"], "all_free");
  EXPECT_NE(r.err.find("no start free-page map"), std::string::npos);
  // A what-if option alone selects simulate.
  r = run_labyrinth({"replay", trace("fragmentation_then_merge.txt"), "--no-pcp", "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["config"]["mode"], "simulate");
  // The model runs its own per-CPU lists unless asked to follow the recorded ones.
  r = run_labyrinth({"replay", trace("atomic_below_min.txt"), "--mode", "simulate", "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["config"]["pcp"], "auto");
  r = run_labyrinth({"replay", trace("atomic_below_min.txt"), "--follow-pcp", "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["config"]["pcp"], "manual");
  EXPECT_EQ(doc["config"]["what_if"]["follow_pcp"], true);
}

TEST_F(CliReplay, BadOptionsExitWithUsageErrorsThatSayWhatToDo) {
  const std::string t = trace("bad_frees.txt");
  auto r = run_labyrinth({"replay", t, "--balloon", "12X"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("suffix"), std::string::npos) << r.err;
  r = run_labyrinth({"replay", t, "--mode", "mirror", "--balloon", "1G"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--mode simulate"), std::string::npos) << r.err;
  r = run_labyrinth({"replay", t, "--follow-pcp", "--pcp-decay"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--follow-pcp takes the recording's per-CPU lists"), std::string::npos) << r.err;
  r = run_labyrinth({"replay", t, "--interval", "0s"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_labyrinth({"replay", t, "--interval", "fortnight"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unit"), std::string::npos) << r.err;
  r = run_labyrinth({"replay", t, "--mode", "sideways"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_labyrinth({"replay", file("missing.trace")});
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(CliReplay, TimelineCsvHasAHeaderAndOneRowPerZoneAndInterval) {
  const std::string csv = file("t.csv");
  const auto r = run_labyrinth({"replay", trace("atomic_below_min.txt"), "--interval", "500ns", "--timeline", csv, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(csv);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("ts_ns,interval_ns,node,zone,free_pages,pcp_pages,largest_free_order", 0), 0u);
  EXPECT_NE(lines[0].find("fragmentation_index_o10"), std::string::npos);
  // 2000 ns of trace in 500 ns intervals: 4 rows (plus the end) for the one zone.
  EXPECT_GE(lines.size() - 1, 4u);
  EXPECT_NE(lines.back().find(",Normal,"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(csv + ".tmp"));
}

// Call sites of a `record -g` trace (6.18 frames): the same rule and depth in stat and replay,
// and the depth in both reports' config.
TEST_F(CliReplay, CallsiteDepthGroupsStatAndNamesReplayFailures) {
  const testing::SchemaChecker checker(load(kSchema));
  const std::string t = trace("recorded_stacks.txt");
  auto r = run_labyrinth({"stat", t, "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_TRUE(checker.check(doc).empty());
  EXPECT_EQ(doc["config"]["callsite_depth"], 1);
  ASSERT_EQ(doc["breakdowns"]["callsite"].size(), 3u);
  EXPECT_EQ(doc["breakdowns"]["callsite"][0]["callsite"], "do_wp_page+0x5f1");
  EXPECT_EQ(doc["breakdowns"]["callsite"][1]["callsite"], "do_anonymous_page+0x10e");
  EXPECT_EQ(doc["breakdowns"]["callsite"][2]["callsite"], "skb_page_frag_refill+0x7b");
  EXPECT_EQ(doc["breakdowns"]["callsite"][2]["failures"], 1);

  const std::string stat_json = file("stat2.json");
  r = run_labyrinth({"stat", t, "--callsite-depth", "2", "--json", stat_json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("do_wp_page+0x5f1 <- __handle_mm_fault+0x9d5"), std::string::npos) << r.out;
  doc = load(stat_json);
  EXPECT_TRUE(checker.check(doc).empty());
  python_validate(stat_json);
  EXPECT_EQ(doc["config"]["callsite_depth"], 2);
  EXPECT_EQ(doc["breakdowns"]["callsite"][0]["callsite"], "do_wp_page+0x5f1 <- __handle_mm_fault+0x9d5");

  const std::string replay_json = file("replay2.json");
  r = run_labyrinth({"replay", t, "--callsite-depth", "2", "--json", replay_json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("skb_page_frag_refill+0x7b <- sk_page_frag_refill+0x1c"), std::string::npos) << r.out;
  doc = load(replay_json);
  EXPECT_TRUE(checker.check(doc).empty());
  python_validate(replay_json);
  EXPECT_EQ(doc["config"]["callsite_depth"], 2);
  ASSERT_EQ(doc["failures"]["items"].size(), 1u);
  EXPECT_EQ(doc["failures"]["items"][0]["callsite"], "skb_page_frag_refill+0x7b <- sk_page_frag_refill+0x1c");
  EXPECT_EQ(doc["breakdowns"]["failures_by_callsite"][0]["callsite"],
            "skb_page_frag_refill+0x7b <- sk_page_frag_refill+0x1c");

  for (const char* cmd : {"stat", "replay"}) {
    r = run_labyrinth({cmd, t, "--callsite-depth", "0"});
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_NE(r.err.find("--callsite-depth"), std::string::npos) << r.err;
  }
}

TEST_F(CliReplay, TextSummaryShowsForensicsAndDataQuality) {
  const auto r = run_labyrinth({"replay", trace("bad_frees.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("memcg_charge"), std::string::npos);
  EXPECT_NE(r.out.find("Data quality"), std::string::npos);
  EXPECT_NE(r.out.find("double_free"), std::string::npos);
  EXPECT_EQ(r.err.find("\r"), std::string::npos);  // no progress bar when stderr is not a terminal
}

// labyrinth tune on the atomic failure below min (tests/replay/cases/atomic_below_min.txt): the
// second GFP_ATOMIC fails at 47 free pages against 3/8 of min (48). Nothing the zone holds is
// reclaimable, so a larger min_free_kbytes only raises the mark: from 1024 KiB (min 256 pages,
// 3/8 of it 96) the first GFP_ATOMIC, at 60 free, fails too; watermark_scale_factor leaves min
// alone. Both searches refuse at the top of their range (half of the 32 MiB zone: 16384 KiB;
// 3000) and say what remains, exit 1.
TEST_F(CliReplay, TuneRefusesWhenNoSettingRemovesTheAtomicFailure) {
  const std::string t = trace("atomic_below_min.txt");
  const std::string json = file("tune.json");
  const auto r = run_labyrinth({"tune", t, "--json", json});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("refused: no min_free_kbytes up to 16384 removes the atomic failures: 2 remain (2 watermark)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("refused: no watermark_scale_factor up to 3000 removes the atomic failures: 1 remain (1 watermark)"),
            std::string::npos)
      << r.out;
  const nlohmann::json doc = load(json);
  const testing::SchemaChecker checker(load(LABYRINTH_SOURCE_DIR "/replay/schema/labyrinth-tune.schema.json"));
  const auto errors = checker.check(doc);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors.front());
  EXPECT_TRUE(doc["recommendation"]["min_free_kbytes"].is_null());
  EXPECT_TRUE(doc["recommendation"]["watermark_scale_factor"].is_null());
  EXPECT_EQ(doc["recorded"]["atomic_failures"], 1);
  EXPECT_EQ(doc["searches"]["min_free_kbytes"]["start"], 512);
  // 512 doubles to 1024, 2048, ..., 16384: five runs besides the recorded one.
  EXPECT_EQ(doc["searches"]["min_free_kbytes"]["tried"].size(), 6u);
}

// A trace without zones (an import of perf script) cannot be tuned: the message says why.
TEST_F(CliReplay, TuneNeedsTheRecordedZones) {
  const auto r = run_labyrinth({"tune", LABYRINTH_SOURCE_DIR "/traces/samples/perf-script.trace"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("describes no memory zones"), std::string::npos) << r.err;
}

// A report without the run times tune gives each search step ("seconds"): the rest is the
// answer.
nlohmann::json without_run_times(nlohmann::json doc) {
  if (doc.is_object()) {
    doc.erase("seconds");
    for (auto& [key, value] : doc.items()) value = without_run_times(value);
  } else if (doc.is_array()) {
    for (auto& value : doc) value = without_run_times(value);
  }
  return doc;
}

// --read-ahead moves reading (and for a replay decoding) to a second thread: every command
// that takes it gives the same output as without, on a trace long enough to start the
// thread (65536 events), and -v says whether it started.
TEST_F(CliReplay, ReadAheadGivesTheSameOutputOnEveryCommand) {
  std::string text = R"(!labyrinth-text 1
!kernel 6.18.0-test
!cpus 2
!max_order 10
!pageblock_order 9
!sysctl min_free_kbytes=512
!zone node=0 name=Normal start_pfn=0x10000 spanned=8192 managed=8192 min=128 low=160 high=192 protection=0,0,0,0,0
!start_ts 500
!start_zone node=0 name=Normal buddyinfo=0,0,0,0,0,0,0,0,0,0,2 free=8192
!start_free 0x10000+8192
)";
  constexpr int kPairs = 35'000;  // 70,000 events: more than the thread's 65,536
  for (int i = 0; i < kPairs; ++i) {
    const std::string pfn = fmt::format("0x{:x}", 0x10000 + (i * 37) % 4096);
    text += fmt::format("{} alloc pfn={} order=0 mt=1 gfp=GFP_HIGHUSER_MOVABLE cpu={} pid=7 comm=app ctx=task\n",
                        1000 + 2 * i, pfn, i % 2);
    text += fmt::format("{} free pfn={} order=0 cpu={} pid=7 comm=app ctx=task\n", 1001 + 2 * i, pfn, i % 2);
  }
  const std::string t = replay::testing::trace_from_text(dir_, text, "long.trace");
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  ASSERT_EQ(::sched_getaffinity(0, sizeof cpus, &cpus), 0);
  const bool two_cpus = CPU_COUNT(&cpus) > 1;

  const std::vector<std::vector<std::string>> commands = {
      {"stat", t, "--json", "-"},
      {"script", t},
      {"replay", t, "--mode", "mirror", "--json", "-"},
      {"replay", t, "--mode", "simulate", "--json", "-"},
      {"tune", t, "--json", "-"},
  };
  for (const auto& command : commands) {
    const auto one = run_labyrinth(command);
    auto with = command;
    with.insert(with.end(), {"--read-ahead", "-v"});
    const auto two = run_labyrinth(with);
    ASSERT_EQ(one.exit_code, two.exit_code) << command[0] << ": " << two.err;
    ASSERT_GT(one.out.size(), 1000u) << command[0] << ": " << one.err;
    if (command[0] == "script") {
      EXPECT_EQ(one.out, two.out) << command[0];
    } else {
      EXPECT_EQ(without_run_times(nlohmann::json::parse(one.out)), without_run_times(nlohmann::json::parse(two.out)))
          << command[0] << " " << command[2];
    }
    EXPECT_EQ(two.err.find("reading the trace ahead on a second thread") != std::string::npos, two_cpus)
        << command[0] << ": " << two.err;
  }
}

}  // namespace
}  // namespace labyrinth
