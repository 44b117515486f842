#!/usr/bin/env bash
# Side-by-side benchmark of page-allocator recorders on one workload (root).
#
#   bench/record/run.sh [-r ROUNDS] [-m MIB] [-i ITERATIONS] [-o OUTDIR] [-b BUILD_DIR]
#                       [--only LIST]
#
# The workload (page_workload touch MIB ITERATIONS) maps MIB MiB with MADV_NOHUGEPAGE,
# touches every page and unmaps it, ITERATIONS times: one order-0 allocation and one free
# per page. It runs under each recorder in turn, ROUNDS times, interleaved; the table gives
# medians. Columns:
#   ms/iteration  median time of one mmap/touch/munmap iteration of the workload
#   slowdown      that / the same without a recorder
#   workload CPU  median CPU time of an iteration (the workload thread's, exact) / the same
#                 without a recorder: the cost added in the workload's own context
#   events        events in the recorder's output
#   drops         events the recorder says it lost
#   B/event       output bytes per event
#   rec cpu s     CPU time of the recorder itself (its process tree minus the workload)
# Recorders (--only takes a comma-separated subset of these names):
#   none            no recorder
#   labyrinth       labyrinth record (default: 5 tracepoints, kpageflags snapshots)
#   labyrinth-af    labyrinth record -e alloc,free --no-kpageflags (the peers' event set)
#   labyrinth-prev  labyrinth record of another build, LABYRINTH_PREV=/path/to/labyrinth
#                   (a change's cost side by side with the build before it)
#   perf            perf record -e kmem:mm_page_alloc -e kmem:mm_page_free -a
#   trace-cmd       trace-cmd record -e kmem:mm_page_alloc -e kmem:mm_page_free; where
#                   trace-cmd cannot run (it insists on setting up the function tracer),
#                   the same ftrace ring buffer recorded the way trace-cmd does it
#                   (splice of trace_pipe_raw, 1 ms poll), labelled "ftrace-splice"
#   bpftrace        bpftrace printing every event (printf)
#   bpftrace-count  bpftrace counting the events in the kernel, no output (the floor of
#                   any BPF recorder)
# Then the snapshot's /proc/kpageflags scan alone (`labyrinth info --kpageflags`, ROUNDS
# times): pages read, median seconds, its rate in pages/s and what that makes on 1 TiB; and
# the keyframes' map read from the free lists by BPF instead (median ms a map, ROUNDS
# recordings), with the ratio of the two.
set -euo pipefail

ROUNDS=5
MIB=64
ITER=60
OUT=""
BUILD=""
ONLY="none,labyrinth,labyrinth-af,perf,trace-cmd,bpftrace,bpftrace-count"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

while [[ $# -gt 0 ]]; do
  case "$1" in
    -r) ROUNDS="$2"; shift 2 ;;
    -m) MIB="$2"; shift 2 ;;
    -i) ITER="$2"; shift 2 ;;
    -o) OUT="$2"; shift 2 ;;
    -b) BUILD="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

find_build() {
  for d in "$BUILD" "$HERE/../../build" "$HERE/../../build-ebpf"; do
    [[ -n "$d" && -x "$d/cli/labyrinth" ]] && { (cd "$d" && pwd); return; }
  done
  echo "run.sh: no build with cli/labyrinth found; pass -b BUILD_DIR" >&2
  exit 1
}
BUILD="$(find_build)"
LABYRINTH="${LABYRINTH:-$BUILD/cli/labyrinth}"
WORKLOAD="${WORKLOAD:-$( (ls "$BUILD"/tests/ebpf/page_workload "$BUILD"/bench/record/page_workload 2>/dev/null || true) | head -1)}"
MEASURE="${MEASURE:-$BUILD/bench/record/labyrinth_bench_measure}"
for f in "$LABYRINTH" "$WORKLOAD" "$MEASURE"; do
  [[ -x "$f" ]] || { echo "run.sh: missing $f (build the targets labyrinth, labyrinth_page_workload, labyrinth_bench_measure)" >&2; exit 1; }
done
[[ $EUID -eq 0 ]] || { echo "run.sh: run as root" >&2; exit 1; }
[[ -n "$OUT" ]] || OUT="$(mktemp -d /tmp/labyrinth-bench-record.XXXXXX)"
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"

# trace-cmd needs the function tracer's files; fall back to the same ring buffer otherwise.
TRACECMD_MODE=none
if command -v trace-cmd >/dev/null; then
  if trace-cmd record -e kmem:mm_page_free -o "$OUT/probe.dat" true >"$OUT/probe.log" 2>&1; then
    TRACECMD_MODE=trace-cmd
  else
    TRACECMD_MODE=ftrace-splice
    echo "note: trace-cmd record fails here ($(grep -m1 -E 'trace-cmd:|Can|opening' "$OUT/probe.log" | tr -s ' ')); measuring its method (ftrace-splice)" >&2
  fi
  rm -f "$OUT"/probe.dat*
fi

BPFTRACE_PRINT='tracepoint:kmem:mm_page_alloc { printf("alloc %lx %u %lx %d\n", args->pfn, args->order, args->gfp_flags, args->migratetype); } tracepoint:kmem:mm_page_free { printf("free %lx %u\n", args->pfn, args->order); }'
BPFTRACE_COUNT='tracepoint:kmem:mm_page_alloc { @alloc = count(); } tracepoint:kmem:mm_page_free { @free = count(); }'

value() { # value KEY TEXT
  grep -oE "(^|[ ])$1=[0-9.]+" <<<"$2" | tail -1 | cut -d= -f2
}

run_one() { # run_one NAME ROUND
  local name="$1" round="$2" log="$OUT/$1.$2.log" data="$OUT/$1.$2.data"
  local wl=("$WORKLOAD" touch "$MIB" "$ITER")
  rm -rf "$data" "$data".*
  case "$name" in
    none) "$MEASURE" run -- "${wl[@]}" >"$log" 2>&1 ;;
    labyrinth) "$MEASURE" run -- "$LABYRINTH" record -o "$data" -- "${wl[@]}" >"$log" 2>&1 ;;
    labyrinth-af) "$MEASURE" run -- "$LABYRINTH" record -e alloc,free --no-kpageflags -o "$data" -- "${wl[@]}" >"$log" 2>&1 ;;
    labyrinth-prev)
      [[ -x "${LABYRINTH_PREV:-}" ]] || { echo "labyrinth-prev needs LABYRINTH_PREV=/path/to/labyrinth" >&2; return 1; }
      "$MEASURE" run -- "$LABYRINTH_PREV" record -o "$data" -- "${wl[@]}" >"$log" 2>&1 ;;
    perf) "$MEASURE" run -- perf record -e kmem:mm_page_alloc -e kmem:mm_page_free -a -o "$data" -- "${wl[@]}" >"$log" 2>&1 ;;
    trace-cmd)
      if [[ $TRACECMD_MODE == trace-cmd ]]; then
        "$MEASURE" run -- trace-cmd record -e kmem:mm_page_alloc -e kmem:mm_page_free -o "$data" "${wl[@]}" >"$log" 2>&1
      else
        "$MEASURE" ftrace -o "$data" -e kmem:mm_page_alloc -e kmem:mm_page_free -- "${wl[@]}" >"$log" 2>&1
      fi ;;
    bpftrace) "$MEASURE" run -- bpftrace -o "$data" -e "$BPFTRACE_PRINT" -c "${wl[*]}" >"$log" 2>&1 ;;
    bpftrace-count) "$MEASURE" run -- bpftrace -e "$BPFTRACE_COUNT" -c "${wl[*]}" >"$log" 2>&1 ;;
    *) echo "unknown recorder $name" >&2; return 1 ;;
  esac || true
  local text; text="$(cat "$log")"
  local wline; wline="$(grep -m1 'mode=touch' "$log" || true)"
  local ms user sys wall tuser tsys events="" drops="" bytes=""
  ms="$(value ms_median "$wline")"; user="$(value cpu_user_s "$wline")"; sys="$(value cpu_sys_s "$wline")"
  local cpums; cpums="$(value cpu_ms_median "$wline")"
  local mline; mline="$(grep 'measure: wall_s' "$log" | tail -1)"
  wall="$(value wall_s "$mline")"; tuser="$(value user_s "$mline")"; tsys="$(value sys_s "$mline")"
  case "$name" in
    labyrinth|labyrinth-af|labyrinth-prev)
      local f; f="$("$MEASURE" footer "$data" 2>/dev/null || true)"
      events="$(value events "$f")"; drops="$(value drops "$f")"; bytes="$(value bytes "$f")" ;;
    perf)
      events="$(grep -oE '\(([0-9]+) samples\)' "$log" | grep -oE '[0-9]+' | tail -1 || true)"
      local lost lost_s
      lost="$(perf report -D -i "$data" 2>/dev/null | grep -oE 'PERF_RECORD_LOST: .*lost:[0-9]+' | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}' || true)"
      lost_s="$(perf report -D -i "$data" 2>/dev/null | grep -oE 'LOST_SAMPLES: .*lost samples :[0-9]+' | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}' || true)"
      drops="$(( ${lost:-0} > ${lost_s:-0} ? ${lost:-0} : ${lost_s:-0} ))"
      bytes="$(stat -c %s "$data" 2>/dev/null || echo 0)" ;;
    trace-cmd)
      if [[ $TRACECMD_MODE == trace-cmd ]]; then
        events="$(trace-cmd report -i "$data" 2>/dev/null | grep -cE 'mm_page_(alloc|free):' || true)"
        drops="$(grep -oE 'overrun: [0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}' || echo 0)"
        bytes="$(stat -c %s "$data" 2>/dev/null || echo 0)"
      else
        local fl; fl="$(grep 'measure: ftrace' "$log" | tail -1)"
        events="$(value events "$fl")"; drops="$(value overrun "$fl")"; bytes="$(value bytes "$fl")"
      fi ;;
    bpftrace)
      events="$(grep -cE '^(alloc|free) ' "$data" 2>/dev/null || echo 0)"
      drops="$(grep -oE 'Lost [0-9]+ events' "$log" "$data" 2>/dev/null | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}' || echo 0)"
      bytes="$(stat -c %s "$data" 2>/dev/null || echo 0)" ;;
    bpftrace-count)
      events="$(grep -oE '@(alloc|free): [0-9]+' "$log" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}' || true)"
      drops=0; bytes=0 ;;
  esac
  local rec_cpu
  rec_cpu="$(awk -v a="$tuser" -v b="$tsys" -v c="$user" -v d="$sys" 'BEGIN { printf "%.3f", (a + b) - (c + d) }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "${ms:-nan}" "${user:-nan}" "${sys:-nan}" \
    "${events:-0}" "${drops:-0}" "${bytes:-0}" "$rec_cpu" "${wall:-nan}" "${cpums:-nan}" >>"$RESULTS"
  rm -rf "$data" "$data".*
}

IFS=',' read -r -a RECORDERS <<<"$ONLY"
echo "workload: $WORKLOAD touch $MIB $ITER   rounds: $ROUNDS   results: $RESULTS" >&2
"$WORKLOAD" touch "$MIB" 2 >/dev/null   # warm up: first touches of lazily initialized memory are slow
for ((r = 1; r <= ROUNDS; r++)); do
  # rotate the order every round so no recorder always runs right after another
  n=${#RECORDERS[@]}
  for ((k = 0; k < n; k++)); do
    name="${RECORDERS[$(((k + r - 1) % n))]}"
    echo "round $r/$ROUNDS: $name" >&2
    run_one "$name" "$r"
  done
done

awk -F'\t' -v tc="$TRACECMD_MODE" '
function median(arr, n,   i, j, t) {
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
  return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{
  k = $1; n[k]++; order[k] = order[k] ? order[k] : ++seen
  ms[k, n[k]] = $3; cpu[k, n[k]] = $11; ev[k, n[k]] = $6; dr[k, n[k]] = $7; by[k, n[k]] = $8; rc[k, n[k]] = $9
}
END {
  for (k in n) {
    for (i = 1; i <= n[k]; i++) { a[i] = ms[k, i] } ; M[k] = median(a, n[k])
    for (i = 1; i <= n[k]; i++) { a[i] = cpu[k, i] } ; C[k] = median(a, n[k])
    for (i = 1; i <= n[k]; i++) { a[i] = ev[k, i] } ; E[k] = median(a, n[k])
    for (i = 1; i <= n[k]; i++) { a[i] = dr[k, i] } ; D[k] = median(a, n[k])
    for (i = 1; i <= n[k]; i++) { a[i] = (ev[k, i] > 0 ? by[k, i] / ev[k, i] : 0) } ; B[k] = median(a, n[k])
    for (i = 1; i <= n[k]; i++) { a[i] = rc[k, i] } ; R[k] = median(a, n[k])
  }
  printf "| recorder | ms/iteration | slowdown | workload CPU | events | drops | B/event | recorder CPU s |\n"
  printf "|---|---|---|---|---|---|---|---|\n"
  for (s = 1; s <= seen; s++) for (k in n) if (order[k] == s) {
    label = (k == "trace-cmd" && tc == "ftrace-splice") ? "ftrace-splice (trace-cmd method)" : k
    base = ("none" in M) ? M["none"] : 0; cbase = ("none" in C) ? C["none"] : 0
    printf "| %s | %.1f | %s | %s | %d | %d | %s | %s |\n", label, M[k], \
      (base > 0 ? sprintf("%.2fx", M[k] / base) : "-"), (cbase > 0 ? sprintf("%.2fx", C[k] / cbase) : "-"), \
      E[k], D[k], (k == "none" || k == "bpftrace-count" ? "-" : sprintf("%.1f", B[k])), \
      (k == "none" ? "-" : sprintf("%.2f", R[k]))
  }
}' "$RESULTS" | tee "$OUT/table.md"

# The snapshot's free-page map alone: the scan's rate, and on paper a 1 TiB machine at it
# (2^28 pages of 4 KiB, every one read).
for ((r = 1; r <= ROUNDS; r++)); do
  "$LABYRINTH" info --kpageflags --json - 2>/dev/null |
    python3 -c 'import json, sys; k = json.load(sys.stdin).get("kpageflags", {}); print(k.get("pages_read", 0), k.get("scan_seconds", 0), k.get("threads", 0))'
done >"$OUT/kpageflags.tsv"
sort -k2 -g "$OUT/kpageflags.tsv" | awk '{ p[NR] = $1; s[NR] = $2; t = $3 } END {
  m = int((NR + 1) / 2)
  if (NR == 0 || s[m] <= 0) { print "kpageflags scan: not measured (root, and a labyrinth built with the recorder)"; exit }
  rate = p[m] / s[m]
  printf "\nkpageflags scan: %d pages read in %.3f s (median of %d; best %.3f s) on %d threads: %.1f M pages/s; a 1 TiB machine (268 M pages) at that rate: %.1f s\n", \
    p[m], s[m], NR, s[1], t, rate / 1e6, 268435456 / rate
}' | tee -a "$OUT/table.md"

# The keyframes' free-page map read from the free lists by BPF (the recorder's default where
# the kernel has task iterators and bpf_loop), side by side with the scan above: the median
# time of one map, over ROUNDS recordings of 2 s with a keyframe every 100 ms.
for ((r = 1; r <= ROUNDS; r++)); do
  "$LABYRINTH" record -v -o "$OUT/lists.trace" -f -d 2 --keyframe-interval 100ms --no-kpageflags 2>&1 |
    sed -n 's/.*keyframes with a free-page map from the free lists: median \([0-9.]*\) ms.*/\1/p'
done >"$OUT/free_lists.tsv"
rm -f "$OUT/lists.trace"
sort -g "$OUT/free_lists.tsv" | awk -v scan="$(sort -k2 -g "$OUT/kpageflags.tsv" | awk '{ s[NR] = $2 } END { print (NR ? s[int((NR + 1) / 2)] : 0) }')" '
  { ms[NR] = $1 } END {
  if (NR == 0) { print "free lists: not read (this kernel has no task iterator or bpf_loop, or no raw_tp page programs)"; exit }
  m = ms[int((NR + 1) / 2)]
  printf "free lists (keyframe maps): %.2f ms a map (median of %d recordings; best %.2f ms)", m, NR, ms[1]
  if (scan > 0 && m > 0) printf "; the kpageflags scan takes %.0fx as long", scan * 1000 / m
  printf "\n"
}' | tee -a "$OUT/table.md"
