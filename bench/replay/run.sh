#!/bin/sh
# Replay benchmarks (issue #5):
#   1. throughput: mirror and simulate, single-threaded, in CPU time and wall time;
#   2. peak RSS of `labyrinth replay` on a ~10 MiB and a ~1 GiB trace (must be the same);
#   3. the ratio against `perf kmem stat --page` on the same events (root: perf record).
# Usage: bench/replay/run.sh BUILD_DIR [WORKDIR]   (LARGE_EVENTS overrides the 1 GiB size)
set -eu
build=${1:?usage: run.sh BUILD_DIR [WORKDIR]}
work=${2:-$(mktemp -d)}
bench=$build/bench/replay/replay_bench
laby=$build/cli/labyrinth
small_events=${SMALL_EVENTS:-2600000}     # ~10 MiB
large_events=${LARGE_EVENTS:-270000000}   # ~1 GiB
mkdir -p "$work"
echo "== generating traces in $work"
"$bench" gen "$work/small.trace" "$small_events"
"$bench" gen "$work/large.trace" "$large_events"
ls -l "$work/small.trace" "$work/large.trace"

echo "== throughput (single thread)"
for mode in mirror simulate; do "$bench" run "$work/large.trace" $mode; done

echo "== peak RSS of labyrinth replay"
for t in small large; do
  for mode in mirror simulate; do
    /usr/bin/time -f "$t $mode: %M KiB max RSS, %U s user, %S s sys, %e s wall" \
      "$laby" replay "$work/$t.trace" --mode $mode -q
  done
done

if [ "$(id -u)" = 0 ] && command -v perf >/dev/null 2>&1; then
  echo "== against perf kmem stat --page (same events)"
  perf record -q -o "$work/perf.data" -e kmem:mm_page_alloc -e kmem:mm_page_free -a -- \
    sh -c 'head -c 300M /dev/zero > '"$work"'/f; sync; rm '"$work"'/f; python3 -c "x=bytearray(300<<20)"' 2>/dev/null
  perf script -i "$work/perf.data" > "$work/perf.txt" 2>/dev/null
  "$laby" import perf-script "$work/perf.txt" -o "$work/perf.trace" -f >/dev/null
  "$laby" stat "$work/perf.trace" -q --json "$work/perf-stat.json"
  /usr/bin/time -f "perf kmem --page stat: %U s user %S s sys %e s wall" \
    perf kmem --page stat -i "$work/perf.data" > "$work/kmem.txt" 2>/dev/null
  /usr/bin/time -f "labyrinth replay (perf.data events, imported): %U s user %S s sys %e s wall" \
    "$laby" replay "$work/perf.trace" -q
  grep -E "Total allocation requests|Total free requests|Total allocation failures" "$work/kmem.txt" || true
fi
