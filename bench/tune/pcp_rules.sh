#!/bin/sh
# The per-CPU list rules that simulate leaves off by default (--pcp-decay, --pcp-reclaim-clamp;
# docs/kernel-rules.md §7.3), against real failures: against_recording.sh without them, with
# each, and with both.
# Usage: bench/tune/pcp_rules.sh BUILD_DIR TRACE...
OPTIONS="|--pcp-decay|--pcp-reclaim-clamp|--pcp-decay --pcp-reclaim-clamp" \
  exec sh "$(dirname "$0")/against_recording.sh" "$@"
