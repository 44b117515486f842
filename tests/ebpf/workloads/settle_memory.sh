#!/bin/sh
# Puts memory in a known state before a pressure scenario: clean page cache dropped and free
# memory compacted. Without it the scenario starts from whatever the tests or the build before
# it left behind; from fragmented memory the balloon is refused early and compaction runs hard
# for the whole recording, which is another scenario (README, "Under memory pressure").
set -e
sync
echo 3 > /proc/sys/vm/drop_caches
echo 1 > /proc/sys/vm/compact_memory
