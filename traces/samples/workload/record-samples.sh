#!/bin/bash
# Records the bundled sample captures of traces/samples/ on the machine it runs on (as root).
# usage: record-samples.sh OUTDIR [CAPTURE...]   CAPTURE: trace-cmd perf perf-lost ftrace ftrace-pipe
#        (default: all of them)
# Writes, in OUTDIR: tracecmd.dat, perf.data, perf-lost.data (kept out of the repository) and
# the text captures below, compressed with zstd -19:
#   tracecmd-report.txt.zst     trace-cmd report                      (default columns)
#   tracecmd-report-lt.txt.zst  trace-cmd report -l -t                (latency flags column, ns)
#   perf-script.txt.zst         perf script --show-lost-events
#   perf-script-lost.txt.zst    perf script --show-lost-events of a capture that lost events
#   ftrace-trace.txt.zst        cat /sys/kernel/tracing/trace
#   ftrace-pipe-lost.txt.zst    cat /sys/kernel/tracing/trace_pipe with a 16 KiB buffer (LOST markers)
#   mm_page_alloc.format        /sys/kernel/tracing/events/kmem/mm_page_alloc/format
# The workload (run-workload.sh) runs once per capture, so each capture has its own events.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
out=$(readlink -f "${1:?usage: record-samples.sh OUTDIR [CAPTURE...]}")
shift
wanted=" ${*:-trace-cmd perf perf-lost ftrace ftrace-pipe} "
want() { [[ "$wanted" == *" $1 "* ]]; }
mkdir -p "$out/bin"
gcc -O2 -Wall -o "$out/bin/mmtouch" "$here/mmtouch.c"
gcc -O2 -Wall -o "$out/bin/allocfail" "$here/allocfail.c"
T=/sys/kernel/tracing
[ -d "$T/events" ] || mount -t tracefs nodev "$T"
events="mm_page_alloc mm_page_free mm_page_free_batched mm_page_alloc_zone_locked mm_page_pcpu_drain mm_page_alloc_extfrag"
tc_events=""
for e in $events; do tc_events="$tc_events -e kmem:$e"; done
old_buffer_kb=$(cat "$T/buffer_size_kb")
workload() { "$here/run-workload.sh" "$out/bin"; }
tracefs_events() { for e in $events; do echo "$1" > "$T/events/kmem/$e/enable"; done; }
restore() {
  echo 0 > "$T/tracing_on" || true
  tracefs_events 0 || true
  echo "$old_buffer_kb" > "$T/buffer_size_kb" || true
  echo 1 > "$T/tracing_on" || true
}
trap restore EXIT
pack() { zstd -19 -q -f --rm "$1"; }

cp "$T/events/kmem/mm_page_alloc/format" "$out/mm_page_alloc.format"

# 1. trace-cmd. In this VM, function-tracing files (set_ftrace_pid, set_ftrace_filter, ftrace_enabled)
#    are not writable, so trace-cmd 3.1.6 needs -d (leave the function tracer alone) and --no-filter
#    (do not write set_ftrace_pid), and runs system-wide in the background instead of around a
#    command (its child segfaults on the refused set_ftrace_pid). It exits 1 at the end when it
#    fails to reset set_ftrace_filter; the data is complete by then.
if want trace-cmd; then
tc_ok=0
for attempt in 1 2 3; do
  rm -f "$out"/tracecmd.dat*
  trace-cmd record -d --no-filter -b 65536 -o "$out/tracecmd.dat" $tc_events > "$out/tracecmd-record.log" 2>&1 &
  tc=$!
  sleep 0.3
  if ! kill -0 "$tc" 2>/dev/null; then  # it sometimes exits at once here; try again
    wait "$tc" || true
    echo "trace-cmd record exited early (attempt $attempt):" >&2
    cat "$out/tracecmd-record.log" >&2
    continue
  fi
  workload
  sleep 0.1
  kill -INT "$tc"
  wait "$tc" || true
  # Its per-CPU recorder sometimes writes nothing for a CPU (the log says "0 bytes in size"):
  # that capture would silently lack a CPU's events, so record again.
  if grep -q '^ *0 bytes in size' "$out/tracecmd-record.log"; then
    echo "trace-cmd recorded no data for a CPU (attempt $attempt):" >&2
    cat "$out/tracecmd-record.log" >&2
    continue
  fi
  tc_ok=1
  break
done
[ "$tc_ok" = 1 ] || { echo "trace-cmd record failed" >&2; exit 1; }
trace-cmd report -i "$out/tracecmd.dat" > "$out/tracecmd-report.txt"
trace-cmd report -l -t -i "$out/tracecmd.dat" > "$out/tracecmd-report-lt.txt"
pack "$out/tracecmd-report.txt"
pack "$out/tracecmd-report-lt.txt"
fi

# 2. perf, system-wide, around the workload. A BPF program attached to the same tracepoints
#    through a perf event (libbpf's attach_tracepoint, e.g. a running 'labyrinth record') that
#    returns 0 suppresses every perf sample of that tracepoint (perf_trace_run_bpf_submit), and
#    perf then records nothing: wait until none is attached.
if want perf || want perf-lost; then
for i in $(seq 120); do
  bpftool perf list 2>/dev/null | grep -q 'tracepoint  mm_page' || break
  [ "$i" = 1 ] && echo "waiting for BPF programs on kmem tracepoints to go away ..." >&2
  sleep 1
done
fi
if want perf; then
perf record -q -e kmem:mm_page_alloc -e kmem:mm_page_free -a -o "$out/perf.data" -- "$here/run-workload.sh" "$out/bin"
perf script --show-lost-events -i "$out/perf.data" > "$out/perf-script.txt"
pack "$out/perf-script.txt"
fi
if want perf-lost; then
#    A perf capture that loses events: a one-page ring buffer (-m 1) under 2 x 32 MiB of page churn
#    (up to 5 tries for one that has both samples and PERF_RECORD_LOST records).
for attempt in 1 2 3 4 5; do
  perf record -q -m 1 -e kmem:mm_page_alloc -e kmem:mm_page_free -a -o "$out/perf-lost.data" -- "$out/bin/mmtouch" 32 2 || true
  perf script --show-lost-events -i "$out/perf-lost.data" > "$out/perf-script-lost.txt" 2>/dev/null || true
  grep -q 'PERF_RECORD_LOST' "$out/perf-script-lost.txt" && [ "$(wc -l < "$out/perf-script-lost.txt")" -gt 1000 ] && break
done
pack "$out/perf-script-lost.txt"
fi

# 3. ftrace: the 'trace' file after the workload, with a buffer big enough to keep everything.
if want ftrace; then
echo 0 > "$T/tracing_on"
echo 65536 > "$T/buffer_size_kb"
echo > "$T/trace"
tracefs_events 1
echo 1 > "$T/tracing_on"
workload
echo 0 > "$T/tracing_on"
cat "$T/trace" > "$out/ftrace-trace.txt"
pack "$out/ftrace-trace.txt"
fi

# 4. ftrace: trace_pipe read by cat while 1 s of ping -f overflows a 16 KiB per-CPU buffer. The
#    kernel prints "CPU:N [LOST n EVENTS]" only when the reader swaps in a page after an overrun,
#    which does not happen on every run: try up to 5 times for a capture that holds a marker.
if want ftrace-pipe; then
echo 0 > "$T/tracing_on"
echo 16 > "$T/buffer_size_kb"
tracefs_events 1
for attempt in 1 2 3 4 5; do
  echo > "$T/trace"
  cat "$T/trace_pipe" > "$out/ftrace-pipe-lost.txt" &
  reader=$!
  echo 1 > "$T/tracing_on"
  "$out/bin/mmtouch" 8 1
  timeout 1 ping -f -q -s 60000 127.0.0.1 > /dev/null || true
  echo 0 > "$T/tracing_on"
  sleep 1
  kill "$reader" 2>/dev/null || true  # trace_pipe also ends by itself once tracing is off
  wait "$reader" || true
  grep -q 'LOST' "$out/ftrace-pipe-lost.txt" && break
done
pack "$out/ftrace-pipe-lost.txt"
fi
echo "recorded into $out"
