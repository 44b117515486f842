#!/usr/bin/env bash
# First command of the README: install what is needed, build, and run the main job on an
# embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
labyrinth=build/release/cli/labyrinth
sample=traces/samples/loopback-atomic.trace

echo
echo "== labyrinth stat $sample"
"$labyrinth" stat "$sample"
