#!/usr/bin/env bash
# Side-by-side benchmark of the trace file and of `labyrinth stat` (issue 2), in one run:
#   - bytes per event: labyrinth trace vs perf.data vs trace-cmd's zstd trace.dat, on the
#     same recorded events (the peers' captures are imported into labyrinth traces);
#   - stat throughput: `labyrinth stat` vs `perf kmem stat --page` on the same events;
#   - import speed in lines/s.
# Needs root (perf and trace-cmd record the kernel). Usage: bench/stat/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
labyrinth=$build/cli/labyrinth
workload=$build/tests/ebpf/page_workload
[ -x "$labyrinth" ] || { echo "run.sh: build first ($labyrinth missing)" >&2; exit 1; }
[ -x "$workload" ] || { echo "run.sh: $workload missing (build with LABYRINTH_WITH_BPF=ON)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root to record with perf and trace-cmd" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
tmp=$(mktemp -d /tmp/laby-bench-stat.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mib=${LABY_BENCH_MIB:-64}
# 240 iterations record about 12 M events: enough that startup does not count in events/s.
iterations=${LABY_BENCH_ITERATIONS:-240}
runs=${LABY_BENCH_RUNS:-5}
peer_runs=${LABY_BENCH_PEER_RUNS:-3}  # perf kmem takes tens of seconds a run at this size

# "CPU WALL": the best CPU time (user + system) and the best wall time of N runs of a
# command, in seconds. CPU time is the figure to compare on a busy machine; wall time is
# what a user waits for.
best_of() {
  local n=$1; shift
  python3 - "$n" "$@" <<'PY'
import resource, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
cpu = wall = float("inf")
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = min(wall, time.monotonic() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = min(cpu, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
print(f"{cpu:.4f} {wall:.4f}")
PY
}

echo "workload: page_workload touch $mib MiB x $iterations"

# --- perf: 2 events, perf.data vs our import of its perf script output ---------------------
perf record -q -e kmem:mm_page_alloc -e kmem:mm_page_free -a -o "$tmp/perf.data" -- \
  "$workload" touch "$mib" "$iterations" >/dev/null 2>&1
perf script -i "$tmp/perf.data" > "$tmp/perf.txt" 2>/dev/null
perf_lines=$(wc -l < "$tmp/perf.txt")
t_import=$(best_of 1 "$labyrinth" import perf-script "$tmp/perf.txt" -o "$tmp/perf.trace" -f | cut -d' ' -f1)
"$labyrinth" import perf-script "$tmp/perf.txt" -o "$tmp/perf.trace" -f >/dev/null 2>&1
perf_events=$("$labyrinth" stat "$tmp/perf.trace" --json - | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["events"])')
t_perf_kmem=$(best_of "$peer_runs" perf kmem -i "$tmp/perf.data" --page stat)
t_stat=$(best_of "$runs" "$labyrinth" stat -q "$tmp/perf.trace")

# --- trace-cmd: the five kmem page events, zstd-compressed trace.dat ---------------------------
# -d --no-filter: this VM refuses writes to the function-tracer files (ftrace_enabled,
# set_ftrace_pid), which trace-cmd otherwise touches even for event-only recordings; it then
# exits 1 when it fails to reset set_ftrace_filter, after the data is complete.
trace-cmd record -q -d --no-filter -b 65536 --compression zstd -o "$tmp/trace.dat" \
  -e kmem:mm_page_alloc -e kmem:mm_page_free -e kmem:mm_page_alloc_zone_locked \
  -e kmem:mm_page_pcpu_drain -e kmem:mm_page_alloc_extfrag \
  "$workload" touch "$mib" "$iterations" >/dev/null 2>&1 || true
[ -s "$tmp/trace.dat" ] || { echo "run.sh: trace-cmd recorded nothing" >&2; exit 1; }
trace-cmd report -i "$tmp/trace.dat" > "$tmp/tc.txt" 2>/dev/null
"$labyrinth" import trace-cmd "$tmp/tc.txt" -o "$tmp/tc.trace" -f >/dev/null 2>&1
tc_events=$("$labyrinth" stat "$tmp/tc.trace" --json - | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["events"])')

size() { stat -c %s "$1"; }
python3 - "$perf_events" "$(size "$tmp/perf.data")" "$(size "$tmp/perf.trace")" \
  "$tc_events" "$(size "$tmp/trace.dat")" "$(size "$tmp/tc.trace")" \
  "$t_perf_kmem" "$t_stat" "$perf_lines" "$t_import" <<'PY'
import sys
pe, perf_size, lab_perf, te, tc_size, lab_tc, t_kmem, t_stat, lines, t_imp = sys.argv[1:]
pe, te, lines = int(pe), int(te), int(lines)
perf_size, lab_perf, tc_size, lab_tc = map(int, (perf_size, lab_perf, tc_size, lab_tc))
(c_kmem, w_kmem), (c_stat, w_stat) = (map(float, t.split()) for t in (t_kmem, t_stat))
t_imp = float(t_imp)
print()
print("trace size, same events")
print(f"  {'capture':<28}{'events':>12}{'bytes':>14}{'B/event':>10}")
print(f"  {'perf.data (2 events)':<28}{pe:>12}{perf_size:>14}{perf_size/pe:>10.2f}")
print(f"  {'labyrinth (same events)':<28}{pe:>12}{lab_perf:>14}{lab_perf/pe:>10.2f}   {perf_size/lab_perf:.1f}x smaller")
print(f"  {'trace.dat zstd (5 events)':<28}{te:>12}{tc_size:>14}{tc_size/te:>10.2f}")
print(f"  {'labyrinth (same events)':<28}{te:>12}{lab_tc:>14}{lab_tc/te:>10.2f}   {tc_size/lab_tc:.2f}x smaller")
print()
print(f"stat on the same {pe/1e6:.1f} M events (best of the runs; events/s include startup)")
print(f"  {'':<24}{'CPU s':>9}{'M ev/s':>9}{'wall s':>9}{'M ev/s':>9}")
print(f"  {'perf kmem stat --page':<24}{c_kmem:>9.3f}{pe/c_kmem/1e6:>9.2f}{w_kmem:>9.3f}{pe/w_kmem/1e6:>9.2f}")
print(f"  {'labyrinth stat':<24}{c_stat:>9.3f}{pe/c_stat/1e6:>9.2f}{w_stat:>9.3f}{pe/w_stat/1e6:>9.2f}")
print(f"  {'ratio (faster)':<24}{c_kmem/c_stat:>8.1f}x{'':>9}{w_kmem/w_stat:>8.1f}x")
print()
print(f"import perf-script: {lines} lines in {t_imp:.3f} s = {lines/t_imp/1e6:.2f} M lines/s")
PY
