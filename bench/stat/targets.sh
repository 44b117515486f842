#!/usr/bin/env bash
# The speed targets of issue 14 side by side in one run, as ratios of CPU time (user + sys,
# start-up included), interleaved rounds, best and median:
#   - `labyrinth stat` against `perf kmem --page stat` on the same events (target >= 20x less);
#   - `labyrinth replay --mode mirror` against `labyrinth stat` of the same trace (<= 2x);
#   - `labyrinth replay --mode simulate` against the same stat (<= 3x).
# And what `--read-ahead` (a second thread) costs in CPU and saves in wall time, for stat and
# mirror.
# One anonymous-memory loop (page_workload touch MIB ITERATIONS, ~3 M events at 64 MiB x 90)
# is recorded by `perf record` (the loop's own events: system-wide, other work on a busy
# machine would swamp it) and, at the same time, `labyrinth record` (system-wide, as mirror
# needs); perf's capture is imported (perf script) so that perf kmem and labyrinth stat read
# the same events, and replay and stat of the labyrinth recording read the same trace.
# Needs root. Usage: bench/stat/targets.sh [BUILD_DIR]   (ROUNDS, MIB, ITERATIONS, KEEP=DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
laby=$build/cli/labyrinth
workload=$build/tests/ebpf/page_workload
rounds=${ROUNDS:-7}
mib=${MIB:-64}
iterations=${ITERATIONS:-90}
[ -x "$laby" ] || { echo "targets.sh: build first ($laby missing)" >&2; exit 1; }
[ -x "$workload" ] || { echo "targets.sh: $workload missing (target labyrinth_page_workload)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "targets.sh: needs root to record" >&2; exit 1; }
command -v perf >/dev/null || { echo "targets.sh: perf is missing" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then tmp=$KEEP; mkdir -p "$tmp"; else tmp=$(mktemp -d /tmp/laby-targets.XXXXXX); trap 'rm -rf "$tmp"' EXIT; fi

if [ ! -s "$tmp/laby.trace" ] || [ ! -s "$tmp/perf.trace" ]; then
  echo "recording: page_workload touch $mib MiB x $iterations under labyrinth record and perf record" >&2
  "$laby" record -f -o "$tmp/laby.trace" -- perf record -q -e kmem:mm_page_alloc -e kmem:mm_page_free \
    -o "$tmp/perf.data" -- "$workload" touch "$mib" "$iterations" >/dev/null 2>&1
  perf script -i "$tmp/perf.data" > "$tmp/perf.txt" 2>/dev/null
  "$laby" import perf-script "$tmp/perf.txt" -o "$tmp/perf.trace" -f >/dev/null 2>&1
  rm -f "$tmp/perf.txt"
fi

python3 - "$rounds" "$tmp" "$laby" <<'PY'
import json, resource, statistics, subprocess, sys, time
rounds, tmp, laby = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def events(trace):
    out = subprocess.run([laby, "stat", trace, "--json", "-"], capture_output=True, check=True, text=True).stdout
    return json.loads(out)["capture"]["events"]
# Two sets, each interleaved in rounds of its own: perf kmem frees over a GiB as it exits, which
# this guest's free page reporting hands back to the host, and the next processes to allocate
# pay for taking it back (0.1 to 0.2 s of system time, README "Measured"): mixed into the
# replays' rounds it swung their medians by half.
against_perf = {
    "perf kmem --page stat (perf.data)": ["perf", "kmem", "-i", f"{tmp}/perf.data", "--page", "stat"],
    "labyrinth stat (perf's events)": [laby, "stat", "-q", f"{tmp}/perf.trace"],
}
replays = {
    "labyrinth stat (labyrinth's)": [laby, "stat", "-q", f"{tmp}/laby.trace"],
    "labyrinth replay mirror": [laby, "replay", "-q", "--mode", "mirror", f"{tmp}/laby.trace"],
    "labyrinth replay simulate": [laby, "replay", "-q", "--mode", "simulate", f"{tmp}/laby.trace"],
    "labyrinth stat --read-ahead": [laby, "stat", "-q", "--read-ahead", f"{tmp}/laby.trace"],
    "labyrinth replay mirror --read-ahead": [laby, "replay", "-q", "--mode", "mirror", "--read-ahead", f"{tmp}/laby.trace"],
}
commands = {**against_perf, **replays}
cpu = {k: [] for k in commands}
wall = {k: [] for k in commands}
for group in (against_perf, replays):
    for r in range(rounds):
        names = list(group)
        names = names[r % len(names):] + names[:r % len(names)]  # rotate: nobody always runs first
        for name in names:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(commands[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
with open("/proc/loadavg") as f:
    load = " ".join(f.read().split()[:3])
print(f"events: perf's {events(tmp + '/perf.trace')}, labyrinth's {events(tmp + '/laby.trace')}; "
      f"{rounds} interleaved rounds; load {load}")
print(f"  {'':<40}{'best CPU s':>11}{'median':>9}{'best wall s':>13}{'median':>9}")
for name, v in cpu.items():
    print(f"  {name:<40}{min(v):>11.3f}{statistics.median(v):>9.3f}{min(wall[name]):>13.3f}{statistics.median(wall[name]):>9.3f}")
def ratio(a, b, of=cpu):
    return min(of[a]) / min(of[b]), statistics.median(of[a]) / statistics.median(of[b])
rows = [("perf kmem / labyrinth stat (same events)", ratio("perf kmem --page stat (perf.data)", "labyrinth stat (perf's events)"), ">= 20"),
        ("mirror / stat (labyrinth's trace)", ratio("labyrinth replay mirror", "labyrinth stat (labyrinth's)"), "<= 2"),
        ("simulate / stat (labyrinth's trace)", ratio("labyrinth replay simulate", "labyrinth stat (labyrinth's)"), "<= 3")]
print(f"  {'ratio of CPU':<44}{'best':>7}{'median':>8}  target")
for name, (best, med), target in rows:
    print(f"  {name:<44}{best:>6.2f}x{med:>7.2f}x  {target}")
print(f"  {'--read-ahead / one thread':<44}{'best':>7}{'median':>8}")
for tool, plain in (("stat", "labyrinth stat (labyrinth's)"), ("replay mirror", "labyrinth replay mirror")):
    for what, of in (("CPU", cpu), ("wall", wall)):
        best, med = ratio(f"labyrinth {tool} --read-ahead", plain, of)
        print(f"  {tool + ', ' + what:<44}{best:>6.2f}x{med:>7.2f}x")
PY
