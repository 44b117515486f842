#!/usr/bin/env bash
# First command of the README: install what is needed, build, and run the main job on an
# embedded default: record a bundled workload (a page-touching loop and a loopback network
# burst that makes GFP_ATOMIC allocations in softirq), then stat it and replay it into the
# buddy-allocator model. Without root or BPF it analyses a bundled sample trace instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
labyrinth=build/release/cli/labyrinth
workload=build/release/tests/ebpf/page_workload
out=${LABYRINTH_QUICKSTART_TRACE:-/tmp/labyrinth-quickstart.trace}

if [ "$(id -u)" -eq 0 ] && [ -x "$workload" ]; then
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
  echo
  echo "== labyrinth record -o $out -- workload (256 MiB touched 4 times, then a 2 s loopback burst)"
  "$labyrinth" record -f -o "$out" -- sh -c "$workload touch 256 4 && $workload net 2"
  echo
  echo "== labyrinth stat $out"
  "$labyrinth" stat "$out"
  echo
  echo "== labyrinth replay $out (mirror: the kernel's own choices, validated against its end state)"
  "$labyrinth" replay "$out"
  echo
  echo "== labyrinth replay $out --mode simulate --balloon 3G (what if the machine had 3 GiB less?)"
  "$labyrinth" replay "$out" --mode simulate --balloon 3G
else
  sample=traces/samples/tracecmd-report.trace
  echo "(not root, or built without BPF: analysing the bundled sample $sample)"
  "$labyrinth" stat "$sample"
  "$labyrinth" replay "$sample" --mode simulate
fi
