#!/bin/sh
# Simulate against real failures and the cost of `labyrinth tune` (issue #15), in one run:
#   1. for each recording, `labyrinth replay --mode simulate` with the recorded settings:
#      the kernel's failures and the model's per class in 100 ms windows, precision and recall
#      (the report's `against_recording`), and the wall time of that run;
#   2. `labyrinth tune` on the same recording: wall time, as a ratio to the simulate run (the
#      target is under 10x on a 10 s recording), the recommendation, and whether it is minimal
#      (0 atomic failures at it, more than 0 at 90% of it).
# Recordings with real failures: pass them, or RECORD=N records N here under the machine lock
# (needs root and BPF) with SCENARIO=
#   pressure (default): tests/ebpf/workloads/pressure.sh, HEADROOM 2 MiB pages left above the
#     floor (the smaller, the more failures): opportunistic order-9 failures mostly;
#   atomic: tests/ebpf/workloads/atomic_squeeze.sh, echo replies piled up in softirq on top of
#     the balloon: thousands of failed atomic requests (GFP_ATOMIC order 3, GFP_NOWAIT). The
#     watermark boost is off for the whole recording (the script needs it off, and the trace
#     header must record the setting the kernel ran with). The OOM killer may end the recorder
#     mid-squeeze (its trace is then incomplete); the boost is restored only once the squeeze
#     script, which restores the value it started with (0), has exited.
# Usage: bench/tune/run.sh BUILD_DIR [TRACE...]
set -eu
build=${1:?usage: run.sh BUILD_DIR [TRACE...]}
shift
laby=$build/cli/labyrinth
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${RECORD:-0}" -gt 0 ]; then
  # The squeeze's own shell restores the boost and the balloon on exit, but the OOM killer can
  # end that shell too (it happened: the boost stayed 0); this one puts them back once more.
  boost_before=$(cat /proc/sys/vm/watermark_boost_factor)
  restore_machine() { echo 0 > /proc/sys/vm/nr_hugepages; echo "$boost_before" > /proc/sys/vm/watermark_boost_factor; }
  trap restore_machine EXIT
  i=0
  while [ "$i" -lt "$RECORD" ]; do
    i=$((i + 1))
    t="$work/pressure$i.trace"
    # The workloads give the balloon back on any exit; the outer trap is a second guard.
    if [ "${SCENARIO:-pressure}" = atomic ]; then
      flock -x /tmp/labyrinth-machine.lock sh -c "b=\$(cat /proc/sys/vm/watermark_boost_factor);
        trap 'echo 0 > /proc/sys/vm/nr_hugepages; echo \$b > /proc/sys/vm/watermark_boost_factor' EXIT;
        echo 0 > /proc/sys/vm/watermark_boost_factor; sh '$src/tests/ebpf/workloads/settle_memory.sh';
        '$laby' record -o '$t' -m 128 -- bash '$src/tests/ebpf/workloads/atomic_squeeze.sh' 6 8;
        n=0; while [ \$n -lt 120 ] && pgrep -f '^bash $src/tests/ebpf/workloads/atomic_squeeze' >/dev/null; do
          n=\$((n + 1)); sleep 1; done" \
        >"$work/record$i.log" 2>&1 || true
      restore_machine
    else
      flock -x /tmp/labyrinth-machine.lock sh -c "trap 'echo 0 > /proc/sys/vm/nr_hugepages' EXIT;
        '$laby' record -o '$t' -m 64 -- bash '$src/tests/ebpf/workloads/pressure.sh' \
          '$build/tests/ebpf/page_workload' 5 ${HEADROOM:-16}" >"$work/record$i.log" 2>&1 || true
    fi
    [ -s "$t" ] && set -- "$@" "$t"
  done
fi
[ $# -gt 0 ] || { echo "no recording: pass traces or set RECORD=N" >&2; exit 2; }

now() { python3 -c 'import time; print(time.monotonic())'; }
for t in "$@"; do
  echo "== $t"
  a=$(now)
  "$laby" replay --mode simulate -q --no-progress --json "$work/sim.json" "$t" || true
  b=$(now)
  "$laby" tune -q --json "$work/tune.json" "$t" || true
  c=$(now)
  python3 - "$work/sim.json" "$work/tune.json" "$a" "$b" "$c" <<'PY'
import json, sys
sim = json.load(open(sys.argv[1]))["summary"]["simulation"]["against_recording"]
a, b, c = map(float, sys.argv[3:6])
pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
print(f"  {'class':<14} {'kernel':>7} {'model':>7} {'matched':>8} {'precision':>10} {'recall':>8}"
      f" {'drift: prec':>12} {'recall':>8}")
for name, row in list(sim["classes"].items()) + [("all", sim["all"]), ("atomic req.", sim["atomic_requests"])]:
    if row["kernel_failures"] + row["model_failures"] == 0 and name not in ("all", "atomic req."):
        continue
    drift = row["within_drift"]
    print(f"  {name:<14} {row['kernel_failures']:>7} {row['model_failures']:>7} {row['matched']:>8} "
          f"{pct(row['precision']):>10} {pct(row['recall']):>8} {pct(drift['precision']):>12} {pct(drift['recall']):>8}")
try:
    tune = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    print("  tune: no report")
    sys.exit(0)
print(f"  simulate {b - a:.2f} s, tune {c - b:.2f} s ({tune['simulate_runs']} runs): {(c - b) / (b - a):.1f}x")
for knob in ("min_free_kbytes", "watermark_scale_factor"):
    s = tune["searches"][knob]
    if s["recommended"] is None:
        print(f"  {knob}: refused: {s['refused']}")
        continue
    at = next(p for p in s["tried"] if p["value"] == s["recommended"])
    ninety = s["at_90_percent"]
    minimal = ninety is not None and ninety["atomic_failures"] > 0 and at["atomic_failures"] == 0
    print(f"  {knob}: {s['recommended']} (recorded {s['start']}), atomic failures 0 there, "
          f"{'-' if ninety is None else ninety['atomic_failures']} at 90%: {'minimal' if minimal else 'not shown minimal'}")
PY
done
