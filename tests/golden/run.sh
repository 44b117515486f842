#!/usr/bin/env bash
# Golden outputs: the JSON of `labyrinth stat` and `labyrinth replay` (mirror and simulate) on
# every bundled sample (traces/samples/*.trace), byte for byte against tests/golden/. A
# refactoring that must change no output is checked by one ctest test (golden.outputs).
#
#   tests/golden/run.sh LABYRINTH            compare; prints a diff and exits 1 on a difference
#   tests/golden/run.sh LABYRINTH --update   rewrite the files (scripts/update-golden.sh)
#
# What varies between builds and machines is normalised: the tool's own version (the
# report's "tool" object) becomes "VERSION". The commands run in the trace's directory with a
# relative file name, so no absolute path reaches the output; the reports hold no timings.
# The samples are imports of text captures and describe no zones, and replay would then use
# this machine's /proc/zoneinfo: replay runs on a copy of each sample with the fixed zones of
# tests/golden/zones.txt (the reference machine's), made with `script` and `import text`.
set -euo pipefail
labyrinth=$(realpath "$1")
mode=${2:-check}
here=$(cd "$(dirname "$0")" && pwd)
samples=$(cd "$here/../../traces/samples" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tool object is {"name": "labyrinth", "version": "...", "command": ...}, printed one key
# a line: the line after "name": "labyrinth" is the version.
normalise() {
  sed -E '/"name": "labyrinth",?$/{n;s/"version": "[^"]*"/"version": "VERSION"/}'
}

run() {  # run DIR NAME ARGS...: one output file, NAME.json, and its exit code in exit_codes.txt
  local dir=$1 name=$2; shift 2
  local rc=0
  (cd "$dir" && "$labyrinth" "$@") > "$work/raw" 2>/dev/null || rc=$?
  normalise < "$work/raw" > "$work/$name.json"
  printf '%s %s\n' "$name" "$rc" >> "$work/exit_codes.txt"
}

for path in "$samples"/*.trace; do
  sample=$(basename "$path" .trace)
  run "$samples" "$sample.stat" stat "$sample.trace" --json -
  mkdir -p "$work/zoned"
  "$labyrinth" script "$path" -o "$work/text.txt" 2>/dev/null
  { head -n 1 "$work/text.txt"; cat "$here/zones.txt"; tail -n +2 "$work/text.txt"; } > "$work/zoned.txt"
  "$labyrinth" import text "$work/zoned.txt" -o "$work/zoned/$sample.trace" 2>/dev/null
  run "$work/zoned" "$sample.replay-mirror" replay "$sample.trace" --mode mirror --json -
  run "$work/zoned" "$sample.replay-simulate" replay "$sample.trace" --mode simulate --json -
  rm -f "$work/text.txt" "$work/zoned.txt"
done

if [ "$mode" = --update ]; then
  rm -f "$here"/*.json "$here/exit_codes.txt"
  cp "$work"/*.json "$work/exit_codes.txt" "$here/"
  echo "updated $(ls "$work"/*.json | wc -l) golden outputs in $here"
  exit 0
fi

status=0
for f in "$work"/*.json "$work/exit_codes.txt"; do
  name=$(basename "$f")
  if [ ! -f "$here/$name" ]; then
    echo "golden: $name is new (run scripts/update-golden.sh and review the diff)"; status=1
  elif ! cmp -s "$here/$name" "$f"; then
    echo "golden: $name differs:"; diff -u "$here/$name" "$f" | head -40; status=1
  fi
done
for f in "$here"/*.json; do
  [ -f "$work/$(basename "$f")" ] || { echo "golden: $(basename "$f") has no sample any more"; status=1; }
done
[ $status -eq 0 ] && echo "golden: $(ls "$work"/*.json | wc -l) outputs identical"
exit $status
