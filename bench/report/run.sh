#!/usr/bin/env bash
# `labyrinth report` against `labyrinth replay` on the same recording, side by side in one run
# (issue 12's target: a report of a 10 s recording in under 2x the time of its replay). The
# two commands are interleaved, so that the host's speed changes hit both alike; the best and
# the median of each, and their ratios, are printed.
#
#   bench/report/run.sh [TRACE] [BUILD_DIR]
#
# Without TRACE (as root): records the whole machine for 10 s while page_workload churns
# anonymous memory (`labyrinth record -g -a -d 10s`). LABY_BENCH_RUNS rounds (default 5).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
trace=${1:-}
build=${2:-$here/../../build/release}
labyrinth=$build/cli/labyrinth
workload=$build/tests/ebpf/page_workload
runs=${LABY_BENCH_RUNS:-5}
[ -x "$labyrinth" ] || { echo "run.sh: build first ($labyrinth missing)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/laby-bench-report.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ -z "$trace" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root to record (or give a TRACE)" >&2; exit 1; }
  [ -x "$workload" ] || { echo "run.sh: $workload missing (build with LABYRINTH_WITH_BPF=ON)" >&2; exit 1; }
  trace=$tmp/ten-seconds.trace
  "$workload" touch 64 100000 >/dev/null 2>&1 &
  churn=$!
  "$labyrinth" record -g -a -d 10s -o "$trace" >/dev/null
  kill "$churn" 2>/dev/null || true
  wait "$churn" 2>/dev/null || true
fi
"$labyrinth" stat -q --json "$tmp/stat.json" "$trace"
python3 - "$tmp/stat.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["capture"]
print(f"trace: {c['events']} events, {c['duration_ns'] / 1e9:.2f} s of trace time" if "duration_ns" in c
      else f"trace: {c['events']} events")
PY

python3 - "$runs" "$labyrinth" "$trace" "$tmp/report.html" <<'PY'
import os, resource, statistics, subprocess, sys, time
runs, labyrinth, trace, html = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
commands = {
    "replay": [labyrinth, "replay", "-q", trace],
    "report": [labyrinth, "report", "-q", trace, "-o", html],
}
times = {name: {"wall": [], "cpu": []} for name in commands}
for _ in range(runs):
    for name, cmd in commands.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times[name]["wall"].append(wall)
        times[name]["cpu"].append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
print(f"{runs} interleaved rounds")
print(f"{'':8} {'wall best':>10} {'wall median':>12} {'CPU best':>10} {'CPU median':>11}")
for name, t in times.items():
    print(f"{name:8} {min(t['wall']):9.3f}s {statistics.median(t['wall']):11.3f}s "
          f"{min(t['cpu']):9.3f}s {statistics.median(t['cpu']):10.3f}s")
r, p = times["report"], times["replay"]
print(f"{'ratio':8} {min(r['wall']) / min(p['wall']):9.2f}x {statistics.median(r['wall']) / statistics.median(p['wall']):11.2f}x "
      f"{min(r['cpu']) / min(p['cpu']):9.2f}x {statistics.median(r['cpu']) / statistics.median(p['cpu']):10.2f}x"
      "   (target: under 2x)")
print(f"report: {os.path.getsize(html) / 1024:.1f} KiB (limit 3072 KiB)")
PY
