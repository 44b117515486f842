#!/usr/bin/env bash
# Kernel-memory charge failures: a 4 MiB memory cgroup (v1 or v2) whose only task writes pipe
# buffers (alloc_page(GFP_HIGHUSER | __GFP_ACCOUNT), fs/pipe.c:pipe_write) until the charge is
# refused: mm/memcontrol.c:try_charge_memcg returns -ENOMEM, mm/page_alloc.c frees the page
# and the kmem:mm_page_alloc tracepoint reports a failed allocation (pfn -1). The memcg OOM
# killer may end the task after the first refusals (its oom_score_adj of -1000 does not always
# spare it): the exit status does not matter, the refused charges do. Needs root. The cgroup
# is removed on exit.
# With v1's OOM killer off, a page fault of the interpreter itself at the limit waits for
# memory: after 10 s the limit is lifted, so the script always ends (the failures came first).
set -u
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  cg=/sys/fs/cgroup/labyrinth-memcg-$$; limit=memory.max
else
  cg=/sys/fs/cgroup/memory/labyrinth-memcg-$$; limit=memory.limit_in_bytes
fi
mkdir "$cg" || exit 1
trap 'for _ in 1 2 3 4 5; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done' EXIT
echo 4M > "$cg/$limit"
# the OOM killer stays on: with every task at oom_score_adj -1000 it finds no victim
[[ -f "$cg/memory.swap.max" ]] && echo 0 > "$cg/memory.swap.max"
python3 - "$cg" <<'PY' &
import os, sys
open("/proc/self/oom_score_adj", "w").write("-1000")
open(os.path.join(sys.argv[1], "cgroup.procs"), "w").write(str(os.getpid()))
buf = b"x" * 65536
pipes, failures = [], 0
for _ in range(2000):
    try:
        r, w = os.pipe()  # its slab objects are charged too, and refused at the limit
        pipes.append((r, w))
        os.set_blocking(w, False)
        os.write(w, buf)
    except OSError:
        failures += 1
print(f"write_failures={failures}")
PY
py=$!
for _ in $(seq 100); do kill -0 "$py" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$py" 2>/dev/null; then
  echo "lifting the limit: the interpreter waits for memory" >&2
  [[ -f "$cg/memory.oom_control" ]] && echo 0 > "$cg/memory.oom_control"
  echo 1G > "$cg/$limit"
fi
wait "$py"
