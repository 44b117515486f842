// Checks a trace-event JSON file (labyrinth replay --perfetto) against the rules of the JSON
// Trace Event Format for the phases labyrinth writes (C counters, i/I instants, M metadata),
// and what Perfetto's and chrome://tracing's importers rely on: every event's fields and
// types, counter values that are numbers, counter tracks that never go back in time, instant
// scopes, named processes and threads, and tids that belong to one process each (viewers take
// tids as system-wide, as Linux does). Perfetto's trace_processor is not packaged for Debian,
// so this is the check the tests can run.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace labyrinth::testing {

// The JSON Trace Event Format's rules for the phases we write. Empty when the file conforms.
inline std::vector<std::string> trace_event_format_errors(const nlohmann::json& doc) {
  std::vector<std::string> errors;
  const auto fail = [&](const std::string& what, const nlohmann::json& e) { errors.push_back(what + ": " + e.dump().substr(0, 200)); };
  if (!doc.is_object() || !doc.contains("traceEvents") || !doc["traceEvents"].is_array()) return {"no traceEvents array"};
  if (doc.contains("displayTimeUnit") && doc["displayTimeUnit"] != "ms" && doc["displayTimeUnit"] != "ns")
    errors.push_back("displayTimeUnit must be ms or ns");
  std::set<int> named_processes;
  std::set<std::pair<int, int>> named_threads;
  std::set<int> used_pids;
  std::set<std::pair<int, int>> thread_instants;
  std::map<std::pair<int, std::string>, double> last_counter_ts;
  std::map<int, int> pid_of_tid;  // tids are system-wide: one process each
  for (const auto& e : doc["traceEvents"]) {
    if (!e.is_object()) { fail("event is not an object", e); continue; }
    if (!e.contains("ph") || !e["ph"].is_string()) { fail("no ph", e); continue; }
    const std::string ph = e["ph"];
    if (ph != "C" && ph != "i" && ph != "I" && ph != "M") { fail("unexpected phase", e); continue; }
    if (!e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty()) fail("no name", e);
    if (!e.contains("pid") || !e["pid"].is_number_integer() || !e.contains("tid") || !e["tid"].is_number_integer()) {
      fail("pid and tid must be integers", e);
      continue;
    }
    const int pid = e["pid"], tid = e["tid"];
    if (const auto [it, fresh] = pid_of_tid.try_emplace(tid, pid); !fresh && it->second != pid) fail("tid in two processes", e);
    const std::string name = e.value("name", "");
    if (ph == "M") {
      if (name == "process_name") named_processes.insert(pid);
      else if (name == "thread_name") named_threads.insert({pid, tid});
      else if (name != "process_sort_index" && name != "thread_sort_index") fail("unknown metadata event", e);
      if (name.ends_with("_name") && !(e.contains("args") && e["args"].contains("name") && e["args"]["name"].is_string()))
        fail("metadata name without args.name", e);
      if (name.ends_with("_sort_index") && !(e.contains("args") && e["args"]["sort_index"].is_number_integer()))
        fail("sort index without args.sort_index", e);
      continue;
    }
    used_pids.insert(pid);
    if (!e.contains("ts") || !e["ts"].is_number() || e["ts"].get<double>() < 0) { fail("ts must be a number >= 0", e); continue; }
    const double ts = e["ts"];
    if (ph == "C") {
      if (!e.contains("args") || !e["args"].is_object() || e["args"].empty()) fail("counter without args", e);
      for (const auto& [k, v] : e["args"].items())
        if (!v.is_number()) fail("counter value " + k + " is not a number", e);
      auto [it, fresh] = last_counter_ts.try_emplace({pid, name}, ts);
      if (!fresh && ts < it->second) fail("counter track goes back in time", e);
      it->second = ts;
    } else {
      const std::string scope = e.value("s", "t");
      if (scope != "g" && scope != "p" && scope != "t") fail("instant scope must be g, p or t", e);
      if (e.contains("args") && !e["args"].is_object()) fail("args must be an object", e);
      if (scope == "t") thread_instants.insert({pid, tid});
    }
  }
  for (int pid : used_pids)
    if (!named_processes.contains(pid)) errors.push_back("process " + std::to_string(pid) + " has no process_name");
  for (const auto& t : thread_instants)
    if (!named_threads.contains(t)) errors.push_back("thread " + std::to_string(t.second) + " has no thread_name");
  return errors;
}

// The events of one phase whose name starts with `prefix`.
inline std::vector<nlohmann::json> events_named(const nlohmann::json& doc, const std::string& ph, const std::string& prefix) {
  std::vector<nlohmann::json> out;
  for (const auto& e : doc["traceEvents"])
    if (e["ph"] == ph && e["name"].get<std::string>().starts_with(prefix)) out.push_back(e);
  return out;
}

}  // namespace labyrinth::testing
