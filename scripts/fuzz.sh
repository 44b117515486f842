#!/usr/bin/env bash
# Builds the fuzz flavour and runs every libFuzzer target of tests/fuzz for SECONDS each
# (default 60), two at a time, then prints what each did. Exits non-zero on any crash, leak,
# timeout or out-of-memory, and keeps the input that caused it under build/fuzz/artifacts/.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]       (targets: see tests/fuzz/CMakeLists.txt)
# The corpus grows in build/fuzz/corpus/<target> across runs; seeds are made afresh from
# traces/samples each time. Longer runs by hand: DEVELOPERS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
jobs=${FUZZ_JOBS:-2}
all=(trace_reader event_decoder snapshot_decoder import_ftrace import_tracecmd import_perf_script
     import_auto text_trace gfp_format units explain_log)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

bash scripts/build.sh fuzz
root=build/fuzz
bin=$root/tests/fuzz
rm -rf "$root/seeds" "$root/logs"
"$bin/fuzz_make_seeds" traces/samples "$root/seeds"
mkdir -p "$root/logs"

# Largest input the fuzzer makes: big enough for a few blocks or a few dozen lines, small
# enough to keep the executions per second high.
max_len() {
  case "$1" in
    units) echo 64 ;;
    trace_reader) echo 16384 ;;
    *) echo 8192 ;;
  esac
}
dict() {
  case "$1" in
    trace_reader|event_decoder|snapshot_decoder) echo tests/fuzz/dict/trace.dict ;;
    import_*) echo tests/fuzz/dict/capture.dict ;;
    text_trace) echo tests/fuzz/dict/text_trace.dict ;;
    gfp_format) echo tests/fuzz/dict/gfp_format.dict ;;
    units) echo tests/fuzz/dict/units.dict ;;
    explain_log) echo tests/fuzz/dict/explain_log.dict ;;
  esac
}

run_one() {
  local t=$1
  local corpus=$root/corpus/$t artifacts=$root/artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  local inputs=("$corpus" tests/fuzz/seeds/$t)
  [ -d "$root/seeds/$t" ] && inputs+=("$root/seeds/$t")
  [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
  # -malloc_limit_mb: no single allocation of half a GiB is legitimate for these inputs.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
      -max_len="$(max_len "$t")" -dict="$(dict "$t")" -artifact_prefix="$artifacts" -print_final_stats=1 \
      "${inputs[@]}" >"$root/logs/$t.log" 2>&1 && echo 0 >"$root/logs/$t.rc" || echo $? >"$root/logs/$t.rc"
}

echo "== fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time"
touch "$root/logs/.start"  # artifacts older than this are from earlier runs
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  run_one "$t" &
  running=$((running + 1))
done
wait
status=0

printf '%-20s %12s %10s %8s  %s\n' target executions cov ft result
for t in "${targets[@]}"; do
  log=$root/logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  covline=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$covline")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$covline")
  artifacts=$(find "$root/artifacts/$t" -type f -newer "$root/logs/.start" 2>/dev/null | wc -l)
  rc=$(cat "$root/logs/$t.rc" 2>/dev/null || echo '?')
  result=ok
  if [ "$rc" != 0 ] || [ "$artifacts" -gt 0 ]; then
    result="FAILED (exit $rc; $(grep -m1 -oE 'fuzz oracle failed: .*|SUMMARY: [A-Za-z]+: [a-z-]+|ERROR: libFuzzer: [a-z-]+' "$log" || echo see log); $root/logs/$t.log, artifacts in $root/artifacts/$t/)"
    status=1
  fi
  printf '%-20s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
