#!/usr/bin/env bash
# Regenerates tests/golden/ (the JSON of stat and replay on every bundled sample) with a built
# labyrinth, for a change that is meant to change the output. Review `git diff tests/golden`
# before committing it.
# Usage: scripts/update-golden.sh [LABYRINTH]   (default: build/release/cli/labyrinth)
set -euo pipefail
cd "$(dirname "$0")/.."
labyrinth=${1:-build/release/cli/labyrinth}
if [ ! -x "$labyrinth" ]; then
  echo "update-golden.sh: $labyrinth not found; build it first (scripts/build.sh release)" >&2
  exit 2
fi
exec bash tests/golden/run.sh "$labyrinth" --update
