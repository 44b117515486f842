#!/bin/sh
# Replay benchmarks (issue #5), in one run:
#   1. throughput: decode alone (the ceiling), then mirror and simulate (the model on one
#      thread, the reader on a second), in CPU time and wall time, best and median of RUNS;
#   2. peak RSS of `labyrinth replay` on a ~10 MiB and a ~1 GiB trace (must be the same);
#   3. the ratio against `perf kmem stat --page` on the same events (root: perf record).
# Usage: bench/replay/run.sh BUILD_DIR [WORKDIR]   (SMALL_EVENTS/LARGE_EVENTS override the sizes)
set -eu
build=${1:?usage: run.sh BUILD_DIR [WORKDIR]}
work=${2:-$(mktemp -d)}
bench=$build/bench/replay/replay_bench
laby=$build/cli/labyrinth
small_events=${SMALL_EVENTS:-2600000}     # ~10 MiB
large_events=${LARGE_EVENTS:-270000000}   # ~1 GiB
mkdir -p "$work"
echo "== generating traces in $work"
[ -s "$work/small.trace" ] || "$bench" gen "$work/small.trace" "$small_events"
[ -s "$work/large.trace" ] || "$bench" gen "$work/large.trace" "$large_events"
ls -l "$work/small.trace" "$work/large.trace"

# This host's speed drifts from minute to minute (DEVELOPERS.md, "Measuring speed"): each
# figure is run RUNS times, every run is shown, then the best and the median.
runs=${RUNS:-3}
summary() {  # replay_bench result lines on stdin: best and median of the wall and CPU rates
  python3 -c '
import re, statistics, sys
text = sys.stdin.read()
wall = [float(x) for x in re.findall(r"([0-9.]+) M events/s wall", text)]
cpu = [float(x) for x in re.findall(r"([0-9.]+) M events/s CPU", text)]
print(f"{sys.argv[1]}, {len(wall)} runs: best {max(wall):.2f} M events/s wall (median {statistics.median(wall):.2f}), "
      f"best {max(cpu):.2f} M events/s CPU (median {statistics.median(cpu):.2f})")
' "$1"
}
echo "== throughput ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)), $runs runs each"
for r in $(seq "$runs"); do "$bench" read "$work/large.trace"; done | tee "$work/t.read"
for mode in mirror simulate; do
  for r in $(seq "$runs"); do "$bench" run "$work/large.trace" $mode; done | tee "$work/t.run.$mode"
done
summary "decode alone" < "$work/t.read"
for mode in mirror simulate; do summary "$mode" < "$work/t.run.$mode"; done

echo "== peak RSS of labyrinth replay"
for t in small large; do
  for mode in mirror simulate; do
    /usr/bin/time -f "$t $mode: %M KiB max RSS, %U s user, %S s sys, %e s wall" \
      "$laby" replay "$work/$t.trace" --mode $mode -q
  done
done

if [ "$(id -u)" = 0 ] && command -v perf >/dev/null 2>&1; then
  echo "== against perf kmem stat --page (same events)"
  set +e  # report a failing step, do not stop silently
  # ~3 M events: page cache and anonymous memory, 8 rounds of 300 MiB each.
  perf record -q -o "$work/perf.data" -e kmem:mm_page_alloc -e kmem:mm_page_free -a -- \
    sh -c 'for i in 1 2 3 4 5 6 7 8; do head -c 300M /dev/zero > '"$work"'/f; sync; rm '"$work"'/f;
           python3 -c "x=bytearray(300<<20)"; done' 2>/dev/null
  perf script -i "$work/perf.data" > "$work/perf.txt" 2>/dev/null
  "$laby" import perf-script "$work/perf.txt" -o "$work/perf.trace" -f >/dev/null
  "$laby" stat "$work/perf.trace" -q --json "$work/perf-stat.json"
  # CPU seconds (user + sys) of each, then the ratios.
  /usr/bin/time -f "%U %S %e" -o "$work/t.kmem" perf kmem -i "$work/perf.data" --page stat > "$work/kmem.txt" 2>/dev/null
  for mode in mirror simulate; do
    /usr/bin/time -f "%U %S %e" -o "$work/t.$mode" "$laby" replay "$work/perf.trace" --mode $mode -q
  done
  awk -v k="$(cat "$work/t.kmem")" -v m="$(cat "$work/t.mirror")" -v s="$(cat "$work/t.simulate")" \
    -v ev="$(grep -c . "$work/perf.txt")" 'BEGIN {
      split(k, a, " "); split(m, b, " "); split(s, c, " ");
      kc = a[1] + a[2]; mc = b[1] + b[2]; sc = c[1] + c[2];
      printf "%d events (perf script lines)\n", ev;
      printf "perf kmem --page stat: %.2f s CPU, %.2f s wall\n", kc, a[3];
      printf "labyrinth replay mirror:   %.2f s CPU, %.2f s wall: %.1fx less CPU than perf kmem\n", mc, b[3], kc / (mc > 0 ? mc : 0.01);
      printf "labyrinth replay simulate: %.2f s CPU, %.2f s wall: %.1fx less CPU than perf kmem\n", sc, c[3], kc / (sc > 0 ? sc : 0.01);
    }'
  grep -E "Total allocation requests|Total free requests|Total allocation failures" "$work/kmem.txt" || true
fi
