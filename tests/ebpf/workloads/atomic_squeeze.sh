#!/usr/bin/env bash
# Real GFP_ATOMIC failures, on purpose: atomic memory piles up in a socket receive queue that
# nobody reads, on top of a hugetlb balloon that brings free memory down to the watermarks.
#
#   atomic_squeeze.sh [FLOOD_SECONDS] [HEADROOM_PAGES] [PILE_MIB]
#
# - The balloon: nr_hugepages is asked for all of memory at once; the kernel reserves 2 MiB
#   pages (order-9 __GFP_RETRY_MAYFAIL, reclaiming and compacting) until one is refused, and
#   HEADROOM_PAGES (default 8: 16 MiB) are given back.
# - The fill: anonymous memory (no swap, so no reclaim takes it) down to the Normal zone's low
#   watermark, since the balloon often stops with a GiB or more free in smaller blocks.
# - The pile: one sender per CPU, each in the script's own network namespace, with a raw ICMP
#   socket (receive buffer forced to PILE_MIB, default twice the free memory + 1 GiB, so that
#   it outgrows reclaim; an ICMP filter lets only echo replies in), sends 60000-byte echo
#   requests to its loopback and never reads. Each reply is built in the receive softirq by
#   net/ipv4/icmp.c:icmp_reply, whose socket allocates with GFP_ATOMIC: the page fragments
#   (net/core/sock.c:skb_page_frag_refill) are asked for at order 3 with __GFP_NORETRY |
#   __GFP_NOWARN, then at order 0. The queued replies pin them, free memory falls below min,
#   and the kernel fails atomic requests: in the recordings, the order-3 fragments and
#   GFP_NOWAIT requests (3/4 of min for them); the order-0 GFP_ATOMIC fallback, which may go
#   down to 3/8 of min (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, mm/page_alloc.c:
#   __zone_watermark_ok), was always served: the tasks' reclaim and the OOM killer end the
#   squeeze before that.
# - vm.watermark_boost_factor is 0 while it runs: the balloon's fragmentation events boost
#   the zone, which tasks meet as a higher min, so their reclaim would stop the pile early. A
#   recording should set it before the recorder starts, so that the trace holds the setting
#   the kernel ran with (bench/tune/run.sh, SCENARIO=atomic).
# - Safety: the senders run at oom_score_adj 1000 (the fill at 900), so if a task's reclaim
#   finds nothing and the OOM killer runs, a sender is the one killed, and its queue goes with
#   it. The pile lives at most FLOOD_SECONDS (default 4).
# Needs root and the built-in raw sockets and network namespaces (no module is loaded). Run it
# under the machine lock (flock -x /tmp/labyrinth-machine.lock). Everything is restored on any
# exit (trap): every process killed, the namespace deleted (and with it the sockets),
# nr_hugepages and watermark_boost_factor back to their values. Prints the fill's and the
# balloon's sizes and each sender's "sent=S" line.
set -u
flood_s=${1:-4}
headroom=${2:-8}
knob=/proc/sys/vm/nr_hugepages
orig=$(cat "$knob")
boost_knob=/proc/sys/vm/watermark_boost_factor
orig_boost=$(cat "$boost_knob")
ns=labyrinth-atomic-$$
pids=()
senders=()
restore() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  { wait; } 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  echo "$orig" > "$knob"
  echo "$orig_boost" > "$boost_knob"
}
trap restore EXIT
trap 'exit 130' INT TERM HUP

ip netns add "$ns" || exit 1
ip -n "$ns" link set lo up || exit 1
# No watermark boost: the balloon's fragmentation events boost the zone by up to 1.5 times the
# high mark (mm/page_alloc.c:boost_watermark), which tasks meet as their min watermark, so
# their reclaim and the OOM killer would stop the pile long before the atomic reserve.
echo 0 > "$boost_knob"

# All of memory in 2 MiB pages: the kernel stops at the first refusal (mm/hugetlb.c:set_max_huge_pages).
total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
echo $((total_kib / 2048)) > "$knob" 2>/dev/null
got=$(cat "$knob")
echo $((got > headroom ? got - headroom : 0)) > "$knob"
# The balloon stops wherever the first 2 MiB block is missing, often with a GiB or more free
# in smaller blocks: anonymous memory (no swap here, so no reclaim takes it) fills that down
# to the low watermark of the Normal zone (kswapd's wake-up point), then the pile starts.
hog_ready=$(mktemp)
python3 - "$hog_ready" <<'PY' &
import mmap, sys, time
open("/proc/self/oom_score_adj", "w").write("900")  # the OOM killer takes a sender first
def normal_zone():
    zone, levels = None, {}
    for line in open("/proc/zoneinfo"):
        words = line.split()
        if line.startswith("Node"):
            zone = words[-1]
        elif zone == "Normal" and len(words) == 2 and words[0] in ("min", "low", "high"):
            levels[words[0]] = int(words[1])
        elif zone == "Normal" and words[:2] == ["pages", "free"]:
            levels["free"] = int(words[2])
    return levels
chunks, chunk = [], 4 << 20
while (z := normal_zone())["free"] > z["low"]:
    m = mmap.mmap(-1, chunk)
    for off in range(0, chunk, mmap.PAGESIZE):
        m[off] = 1
    chunks.append(m)
open(sys.argv[1], "w").write(f"hog_mib={len(chunks) * 4} normal_free={z['free']} min={z['min']} low={z['low']}\n")
time.sleep(3600)
PY
pids+=($!)
while [ ! -s "$hog_ready" ] && kill -0 "${pids[-1]}" 2>/dev/null; do sleep 0.1; done
cat "$hog_ready"; rm -f "$hog_ready"
free_kib=$(awk '/^MemFree:/ {print $2}' /proc/meminfo)
pile_mib=${3:-$((free_kib / 512 + 1024))}
echo "balloon_pages=$(cat "$knob") free_kib=$free_kib pile_mib=$pile_mib"

for sender in $(seq "$(nproc)"); do
ip netns exec "$ns" python3 - "$flood_s" "$pile_mib" <<'PY' &
import socket, struct, sys, time
open("/proc/self/oom_score_adj", "w").write("1000")
seconds, pile = float(sys.argv[1]), int(sys.argv[2]) << 20
SO_RCVBUFFORCE, SOL_RAW, ICMP_FILTER = 33, 255, 1
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, min(pile // 2, 0x3fffffff))  # the kernel doubles it
s.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", 0xffffffff & ~1))  # echo replies only
payload = b"\xa5" * 60000
def checksum(b):
    total = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
header = struct.pack("!BBHHH", 8, 0, 0, 0x1ab, 1)
packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), 0x1ab, 1) + payload
end, sent = time.monotonic() + seconds, 0
while time.monotonic() < end:
    try:
        s.sendto(packet, ("127.0.0.1", 0))
        sent += 1
    except OSError:  # ENOBUFS / ENOMEM at the floor: the squeeze is on
        time.sleep(0.001)
print(f"sent={sent}", flush=True)
PY
pids+=($!)
senders+=($!)
done
wait "${senders[@]}" 2>/dev/null  # an OOM-killed sender is no error: it was the valve
grep -E '^MemFree' /proc/meminfo
echo "released"
