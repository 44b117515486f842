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
iterations=${LABY_BENCH_ITERATIONS:-60}
runs=${LABY_BENCH_RUNS:-5}

# best CPU time (user + system) of N runs of a command, in seconds. CPU time, not wall
# time, so that a busy machine does not skew the ratio between the two tools.
best_of() {
  python3 - "$runs" "$@" <<'PY'
import resource, subprocess, sys
runs, cmd = int(sys.argv[1]), sys.argv[2:]
best = float("inf")
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
print(f"{best:.4f}")
PY
}

echo "workload: page_workload touch $mib MiB x $iterations"

# --- perf: 2 events, perf.data vs our import of its perf script output ---------------------
perf record -q -e kmem:mm_page_alloc -e kmem:mm_page_free -a -o "$tmp/perf.data" -- \
  "$workload" touch "$mib" "$iterations" >/dev/null 2>&1
perf script -i "$tmp/perf.data" > "$tmp/perf.txt" 2>/dev/null
perf_lines=$(wc -l < "$tmp/perf.txt")
t_import=$(best_of "$labyrinth" import perf-script "$tmp/perf.txt" -o "$tmp/perf.trace" -f)
"$labyrinth" import perf-script "$tmp/perf.txt" -o "$tmp/perf.trace" -f >/dev/null 2>&1
perf_events=$("$labyrinth" stat "$tmp/perf.trace" --json - | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["events"])')
t_perf_kmem=$(best_of perf kmem -i "$tmp/perf.data" --page stat)
t_stat=$(best_of "$labyrinth" stat -q "$tmp/perf.trace")

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
t_kmem, t_stat, t_imp = map(float, (t_kmem, t_stat, t_imp))
print()
print("trace size, same events")
print(f"  {'capture':<28}{'events':>12}{'bytes':>14}{'B/event':>10}")
print(f"  {'perf.data (2 events)':<28}{pe:>12}{perf_size:>14}{perf_size/pe:>10.2f}")
print(f"  {'labyrinth (same events)':<28}{pe:>12}{lab_perf:>14}{lab_perf/pe:>10.2f}   {perf_size/lab_perf:.1f}x smaller")
print(f"  {'trace.dat zstd (5 events)':<28}{te:>12}{tc_size:>14}{tc_size/te:>10.2f}")
print(f"  {'labyrinth (same events)':<28}{te:>12}{lab_tc:>14}{lab_tc/te:>10.2f}   {tc_size/lab_tc:.2f}x smaller")
print()
print("stat on the same events (best CPU time of the runs)")
print(f"  perf kmem stat --page   {t_kmem:8.3f} s   {pe/t_kmem/1e6:8.2f} M events/s")
print(f"  labyrinth stat          {t_stat:8.3f} s   {pe/t_stat/1e6:8.2f} M events/s   {t_kmem/t_stat:.1f}x faster")
print()
print(f"import perf-script: {lines} lines in {t_imp:.3f} s = {lines/t_imp/1e6:.2f} M lines/s")
PY
