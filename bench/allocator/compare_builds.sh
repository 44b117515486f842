#!/usr/bin/env bash
# Two builds of allocator_bench side by side: runs them in turn ROUNDS times (interleaved, so
# that a host's load falls on both alike) and prints, per benchmark, the best and the median
# CPU time of each and the ratio new / old. Used to hold the model's hot path against an
# older layout (issue 14: the order-0 pair no slower than before), e.g.
#   git worktree add --detach /tmp/old 7976a64 && (cd /tmp/old && scripts/build.sh release)
#   bench/allocator/compare_builds.sh /tmp/old/build/release/bench/allocator/allocator_bench \
#       build/release/bench/allocator/allocator_bench 8 'Order0'
# Usage: compare_builds.sh OLD_BENCH NEW_BENCH [ROUNDS (8)] [FILTER (Order0)]
set -euo pipefail
old=$1 new=$2 rounds=${3:-8} filter=${4:-Order0}
for ((i = 0; i < rounds; i++)); do
  for which in old new; do
    bin=$old
    [[ $which == new ]] && bin=$new
    "$bin" --benchmark_filter="$filter" --benchmark_min_time=0.3 --benchmark_format=csv 2>/dev/null |
      awk -F, -v w="$which" '/^"BM_/ { gsub(/"/, "", $1); print w, $1, $4 }'
  done
done | python3 -c '
import collections, statistics, sys
t = collections.defaultdict(lambda: collections.defaultdict(list))
for line in sys.stdin:
    which, name, cpu_ns = line.split()
    t[name][which].append(float(cpu_ns))
print("%-44s %9s %8s %9s %8s %13s %7s" % ("benchmark (CPU ns)", "old best", "median", "new best", "median",
                                          "new/old best", "median"))
for name, v in t.items():
    o, n = v["old"], v["new"]
    ob, om, nb, nm = min(o), statistics.median(o), min(n), statistics.median(n)
    print(f"{name:44s} {ob:9.1f} {om:8.1f} {nb:9.1f} {nm:8.1f} {nb / ob:13.3f} {nm / om:7.3f}")
print(f"({len(o)} runs of each, interleaved)")
'
