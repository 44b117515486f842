#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the release and the ASan+UBSan
# flavours, runs every test in both, then fuzzes every libFuzzer target for 20 s
# (LABYRINTH_FUZZ_SECONDS). Tests that need BPF run for real as root; with
# LABYRINTH_REQUIRE_BPF=1 a skipped BPF test is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

status=0
for flavour in release asan; do
  echo "== build ($flavour)"
  bash scripts/build.sh "$flavour"
  echo "== test ($flavour)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The browser tests render a page in Chromium; the code that writes the page runs under ASan
  # in the CLI's report tests, so the ASan pass leaves Chromium out (CI time, DEVELOPERS.md).
  exclude=()
  [ "$flavour" = asan ] && exclude=(-LE browser)
  if ! ctest --test-dir "build/$flavour" --output-on-failure -j "$(nproc)" --timeout 600 "${exclude[@]}"; then
    status=1
  fi
done
# A bounded fuzz run of every target (tests/fuzz), two at a time; the budget is in DEVELOPERS.md.
echo "== fuzz (${LABYRINTH_FUZZ_SECONDS:-20}s per target)"
if ! bash scripts/fuzz.sh "${LABYRINTH_FUZZ_SECONDS:-20}"; then
  status=1
fi
exit $status
