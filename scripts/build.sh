#!/usr/bin/env bash
# Configures and builds one flavour of labyrinth: `release` (default), `asan`, or `fuzz`
# (clang, libFuzzer targets of tests/fuzz only: no BPF, no tests, no benches, no CLI).
# Usage: scripts/build.sh [release|asan|fuzz]   -> build/<flavour>
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
targets=()
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABYRINTH_SANITIZE=ON -DLABYRINTH_BUILD_BENCH=OFF) ;;
  fuzz)
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
          -DLABYRINTH_FUZZ=ON -DLABYRINTH_WITH_BPF=OFF -DLABYRINTH_BUILD_TESTS=OFF -DLABYRINTH_BUILD_BENCH=OFF)
    targets=(--target fuzzers) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, asan or fuzz)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" >/dev/null
cmake --build "build/$flavour" -j "$(nproc)" "${targets[@]}"
