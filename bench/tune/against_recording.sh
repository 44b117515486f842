#!/bin/sh
# Simulate against real failures: for each recording and each set of simulate options, the
# kernel's failures and the model's per class, and precision and recall in 100 ms windows
# (`against_recording` of the replay JSON), strict and within the kernel's counter drift (the
# bound it sets: `within_drift`), and of the windows themselves (`windows`: a window in which
# both failed such a request, however many); then the same pooled over every recording, per
# option set.
# Recordings: those of bench/tune/run.sh (SCENARIO=atomic or pressure) and of
# bench/replay/pressure.sh (KEEP=DIR).
# OPTIONS: option sets separated by '|' (default: the recorded settings as simulate does them,
# the recorded per-CPU lists, the lists' own placement, and direct compaction).
# Usage: bench/tune/against_recording.sh BUILD_DIR TRACE...
set -eu
build=${1:?usage: against_recording.sh BUILD_DIR TRACE...}
shift
[ $# -gt 0 ] || { echo "usage: against_recording.sh BUILD_DIR TRACE..." >&2; exit 2; }
laby=$build/cli/labyrinth
[ -x "$laby" ] || { echo "against_recording.sh: build first ($laby missing)" >&2; exit 1; }
options=${OPTIONS-"|--follow-pcp|--model-placement|--compaction"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
n=0
for t in "$@"; do
  n=$((n + 1))
  k=0
  echo "$options" | tr '|' '\n' | while IFS= read -r opts; do
    k=$((k + 1))
    # shellcheck disable=SC2086  # opts holds zero or more flags
    "$laby" replay --mode simulate -q --no-progress $opts --json "$work/$n.$k.json" "$t" >/dev/null || true
    printf '%s\t%s\t%s\n' "$t" "${opts:-default}" "$work/$n.$k.json" >> "$work/index"
  done
done
python3 - "$work/index" <<'PY'
import json, sys
pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
pooled = {}
for line in open(sys.argv[1]):
    trace, opts, path = line.rstrip("\n").split("\t")
    try:
        sim = json.load(open(path))["summary"]["simulation"]["against_recording"]
    except (OSError, ValueError, KeyError):
        print(f"== {trace} [{opts}]: no report")
        continue
    print(f"== {trace} [{opts}]")
    rows = list(sim["classes"].items()) + [("all", sim["all"]), ("atomic req.", sim["atomic_requests"])]
    for name, row in rows:
        if row["kernel_failures"] + row["model_failures"] == 0 and name not in ("all", "atomic req."):
            continue
        drift = row["within_drift"]
        win = row["windows"]
        print(f"    {name:<14} kernel {row['kernel_failures']:>7} model {row['model_failures']:>7} "
              f"matched {row['matched']:>7} precision {pct(row['precision']):>7} recall {pct(row['recall']):>7}  "
              f"within the drift {pct(drift['precision']):>7} {pct(drift['recall']):>7}  "
              f"windows {win['kernel']:>4} {win['model']:>4} {win['both']:>4} {pct(win['precision']):>7} {pct(win['recall']):>7}")
        total = pooled.setdefault((opts, name), [0, 0, 0, 0, 0, 0, 0, 0])
        for i, v in enumerate((row["kernel_failures"], row["model_failures"], row["matched"],
                               drift["model_failures"], drift["matched"], win["kernel"], win["model"], win["both"])):
            total[i] += v
print("== pooled over the recordings")
ratio = lambda a, b: a / b if b else None
for (opts, name), (kernel, model, matched, drift_model, drift_matched, kwin, mwin, bwin) in pooled.items():
    print(f"  [{opts}] {name:<14} kernel {kernel:>8} model {model:>8} matched {matched:>8} "
          f"precision {pct(ratio(matched, model)):>7} recall {pct(ratio(matched, kernel)):>7}  "
          f"within the drift {pct(ratio(drift_matched, drift_model)):>7} {pct(ratio(drift_matched, kernel)):>7}  "
          f"windows {pct(ratio(bwin, mwin)):>7} {pct(ratio(bwin, kwin)):>7}")
PY
