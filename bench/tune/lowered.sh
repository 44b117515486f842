#!/bin/sh
# Lowered settings against the recorded ones: the atomic failures simulate predicts at the
# recorded min_free_kbytes and watermark_scale_factor, and at 3/4 and 1/2 of each. A lower
# watermark lets memory sink lower before reclaim starts and leaves less below min for atomic
# requests, so the failures should not fall as the value falls; where they do, tune's search
# would take a lower value for a remedy (it never goes below a recorded value that fails).
# Recordings: those of bench/tune/run.sh (SCENARIO=atomic).
# Usage: bench/tune/lowered.sh BUILD_DIR TRACE...
set -eu
build=${1:?usage: lowered.sh BUILD_DIR TRACE...}
shift
[ $# -gt 0 ] || { echo "usage: lowered.sh BUILD_DIR TRACE..." >&2; exit 2; }
laby=$build/cli/labyrinth
[ -x "$laby" ] || { echo "lowered.sh: build first ($laby missing)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The atomic requests the model failed, and the kswapd frees it left undone, of one run.
run() {
  # shellcheck disable=SC2086  # $2 holds zero or more flags
  "$laby" replay --mode simulate -q --no-progress $2 --json "$work/r.json" "$1" >/dev/null 2>&1 || true
  python3 - "$work/r.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))["summary"]["simulation"]
except (OSError, ValueError, KeyError):
    print("no report")
    sys.exit(0)
print(f"{s['against_recording']['atomic_requests']['model_failures']:>7} "
      f"(kernel {s['against_recording']['atomic_requests']['kernel_failures']}), "
      f"withheld {s['withheld_reclaim_pages']} pages")
PY
}
for t in "$@"; do
  "$laby" replay --mode simulate -q --no-progress --json "$work/r.json" "$t" >/dev/null 2>&1 || true
  recorded=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['config']; print(c['recorded_min_free_kbytes'], c['watermark_scale_factor'])" "$work/r.json" 2>/dev/null || echo "0 0")
  min_free=${recorded% *} scale=${recorded#* }
  echo "== $t (recorded min_free_kbytes $min_free, watermark_scale_factor $scale)"
  [ "$min_free" -gt 0 ] || { echo "   no report"; continue; }
  echo "   recorded:                     $(run "$t" "")"
  for f in 3 2; do
    v=$((min_free * f / 4))
    echo "   min_free_kbytes $v:$(printf '%*s' $((13 - ${#v})) '')$(run "$t" "--min-free-kbytes $v")"
  done
  for f in 3 2; do
    v=$((scale * f / 4))
    [ "$v" -ge 1 ] || continue
    echo "   watermark_scale_factor $v:$(printf '%*s' $((6 - ${#v})) '')$(run "$t" "--watermark-scale-factor $v")"
  done
done
