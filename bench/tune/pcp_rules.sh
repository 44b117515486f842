#!/bin/sh
# The per-CPU list rules that simulate leaves off by default (--pcp-decay, --pcp-reclaim-clamp;
# docs/kernel-rules.md §7.3), against real failures: for each recording, simulate with the
# recorded settings without them, with each, and with both, and print per class the kernel's
# failures, the model's, and precision and recall in 100 ms windows (`against_recording`).
# Recordings: those of bench/tune/run.sh (SCENARIO=atomic or pressure).
# Usage: bench/tune/pcp_rules.sh BUILD_DIR TRACE...
set -eu
build=${1:?usage: pcp_rules.sh BUILD_DIR TRACE...}
shift
[ $# -gt 0 ] || { echo "usage: pcp_rules.sh BUILD_DIR TRACE..." >&2; exit 2; }
laby=$build/cli/labyrinth
work=${WORK:-$(mktemp -d)}
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in "$@"; do
  echo "== $t"
  for opts in "" "--pcp-decay" "--pcp-reclaim-clamp" "--pcp-decay --pcp-reclaim-clamp"; do
    # shellcheck disable=SC2086  # opts holds zero to two flags
    "$laby" replay --mode simulate -q --no-progress $opts --json "$work/sim.json" "$t" >/dev/null || true
    echo "  [${opts:-default}]"
    python3 - "$work/sim.json" <<'PY'
import json, sys
sim = json.load(open(sys.argv[1]))["summary"]["simulation"]["against_recording"]
pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
for name, row in list(sim["classes"].items()) + [("all", sim["all"]), ("atomic req.", sim["atomic_requests"])]:
    if row["kernel_failures"] + row["model_failures"] == 0 and name not in ("all", "atomic req."):
        continue
    print(f"    {name:<14} kernel {row['kernel_failures']:>7} model {row['model_failures']:>7} "
          f"matched {row['matched']:>7} precision {pct(row['precision']):>7} recall {pct(row['recall']):>7}")
PY
  done
done
