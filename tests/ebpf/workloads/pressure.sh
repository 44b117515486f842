#!/usr/bin/env bash
# Memory pressure as users meet it: a hugetlb balloon squeezes free memory down to the
# watermarks (reclaim and compaction run, order-9 __GFP_RETRY_MAYFAIL requests fail), then
# loopback network traffic (GFP_ATOMIC skbs in softirq) and anonymous mmap/touch/munmap
# churn run for a while, then the balloon is released.
#
#   pressure.sh PAGE_WORKLOAD [CHURN_SECONDS] [HEADROOM_PAGES]
#
# PAGE_WORKLOAD is tests/ebpf/workloads' page_workload binary. Needs root. Once the kernel
# refuses a step, HEADROOM_PAGES 2 MiB pages (default 48: 96 MiB) are given back before the
# churn, so that it runs just above the watermarks instead of waking the OOM killer (hugetlb
# pages cannot be reclaimed). The balloon is always released: on exit, on a signal and on
# error (the trap below). Prints "balloon_pages=N refused_at=M" when the allocator refused.
set -u
workload=${1:?usage: pressure.sh PAGE_WORKLOAD [CHURN_SECONDS] [STEP_PAGES]}
churn_s=${2:-5}
headroom=${3:-48}
step=1024  # 2 MiB pages: 2 GiB per step
knob=/proc/sys/vm/nr_hugepages
orig=$(cat "$knob")
pids=()
restore() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  echo "$orig" > "$knob"
}
trap restore EXIT
trap 'exit 130' INT TERM HUP

# Reserve in steps until the kernel gives fewer pages than asked for: then the squeeze is
# real (each step is order-9 allocations that may reclaim and compact, and the last ones fail).
want=$orig
while :; do
  want=$((want + step))
  echo "$want" > "$knob" 2>/dev/null
  got=$(cat "$knob")
  if [ "$got" -lt "$want" ]; then
    # Closer to the floor: small steps once the big ones are refused.
    if [ "$step" -gt 64 ]; then
      step=$((step / 4))
      want=$got
      continue
    fi
    echo "balloon_pages=$got refused_at=$want"
    echo $((got > headroom ? got - headroom : 0)) > "$knob"
    break
  fi
done
grep -E '^(MemFree|HugePages_Total)' /proc/meminfo | tr -s ' ' | tr '\n' ' '; echo

# Churn under pressure: ICMP echo with large payloads (order-3 GFP_ATOMIC in softirq), TCP
# over loopback, and anonymous pages (order-0, reclaim when short).
"$workload" net "$churn_s" >/dev/null & pids+=($!)
python3 - "$churn_s" <<'PY' & pids+=($!)
import socket, sys, threading, time
end = time.monotonic() + float(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def sink():
    c, _ = srv.accept()
    while c.recv(1 << 16): pass
t = threading.Thread(target=sink, daemon=True); t.start()
s = socket.create_connection(srv.getsockname())
buf = b"x" * (1 << 16)
while time.monotonic() < end:
    s.sendall(buf)
s.close()
PY
deadline=$((SECONDS + churn_s))
while [ "$SECONDS" -lt "$deadline" ]; do "$workload" touch 64 4 >/dev/null || true; done
wait "${pids[@]}" 2>/dev/null
pids=()
echo "$orig" > "$knob"
echo "released"
