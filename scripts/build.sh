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
  # -g1: line tables are all that sanitizer stack traces need, and full debug info made the
  # ASan build the largest item of the CI time budget (DEVELOPERS.md).
  asan) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABYRINTH_SANITIZE=ON -DLABYRINTH_BUILD_BENCH=OFF
              "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG") ;;
  fuzz)
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
          -DLABYRINTH_FUZZ=ON -DLABYRINTH_WITH_BPF=OFF -DLABYRINTH_BUILD_TESTS=OFF -DLABYRINTH_BUILD_BENCH=OFF)
    targets=(--target fuzzers) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, asan or fuzz)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" -G Ninja -DLABYRINTH_WERROR=ON "${args[@]}" >/dev/null
cmake --build "build/$flavour" -j "$(nproc)" "${targets[@]}"
