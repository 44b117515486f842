#!/bin/sh
# The workload of the bundled sample captures (see ../README.md). Runs for about 0.5 s:
#   1. anonymous churn: map 8 MiB, touch every page, unmap; twice          (GFP_HIGHUSER_MOVABLE)
#   2. file I/O: write 8 MiB with fsync, read it back, delete it            (page cache, GFP_NOFS...)
#   3. loopback network: ping -f -s 60000 127.0.0.1 for 0.3 s               (order-3 GFP_ATOMIC, softirq)
#   4. refused allocations: BPF maps created in a memory cgroup at its limit (real failures, pfn=0x0)
# Each phase writes a line to trace_marker, so ftrace and trace-cmd captures hold marker lines too.
# usage: run-workload.sh HELPER_DIR   (where mmtouch and allocfail were compiled)
set -eu
bin=${1:?usage: run-workload.sh HELPER_DIR}
tmp=$(mktemp -d /tmp/labyrinth-workload.XXXXXX)
cg=/sys/fs/cgroup/memory/labyrinth-workload
mark() { echo "labyrinth-workload: $1" > /sys/kernel/tracing/trace_marker 2>/dev/null || true; }

mark "phase mmtouch"
"$bin/mmtouch" 8 2
mark "phase file-io"
dd if=/dev/zero of="$tmp/file" bs=1M count=8 conv=fsync status=none
cat "$tmp/file" > /dev/null
rm -f "$tmp/file"
mark "phase ping"
timeout 0.3 ping -f -q -s 60000 127.0.0.1 > /dev/null || true
mark "phase allocfail"
if [ -d /sys/fs/cgroup/memory ]; then
  rmdir "$cg" 2>/dev/null || true
  mkdir "$cg"
  # No OOM kills: a refused charge outside a page fault then simply fails.
  echo 1 > "$cg/memory.oom_control" 2>/dev/null || true
  timeout 10 sh -c 'echo $$ > '"$cg"'/cgroup.procs; exec "$0" '"$cg"' 16' "$bin/allocfail"
  rmdir "$cg" 2>/dev/null || true
fi
mark "done"
rmdir "$tmp"
