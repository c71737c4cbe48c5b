#!/bin/bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# The move-local row's move under strace, its fsyncs and unlinks per moved chunk by what they
# sync (bench/README.md "Move path: helper fsync"): load-independent, so two builds compare on
# a busy machine. Usage: bench/move_fsyncs.sh BUILD DEMO_DIR
#   BUILD     a build directory with clsync (main's and a branch's, one after the other)
#   DEMO_DIR  made by `clsync demo --dir DEMO_DIR --chunk-size 4M`; P3-dn1 empty before and after
# Needs strace, jq and python3.
set -euo pipefail
build=$1 demo=$2
cfg="$demo/cluster-a.yaml"
trace=$(mktemp)
trap 'rm -f "$trace"' EXIT
strace -f -qq -y -o "$trace" -e trace=fsync,unlinkat \
  "$build/clsync" -c "$cfg" --json rebalance-nodes --by count > "$trace.json"
n=$(jq .tasks.finished "$trace.json")
rm -f "$trace.json"
echo "$build: $n chunks moved"
python3 - "$trace" "$n" <<'PY'
import collections, re, sys
n = int(sys.argv[2])
count, threads, unlinks = collections.Counter(), set(), 0
for line in open(sys.argv[1]):
    m = re.match(r'(\d+)\s+fsync\(\d+<([^>]*)>', line)
    if m:
        tid, path = m.groups()
        if '/.clsync-tmp-' in path:
            kind = "the temp's files and directories"
            threads.add(tid)
        elif '.clsync-part-intent-hold' in path:
            kind = 'hold records'
        elif '.clsync-part-intent' in path:
            kind = 'intent records'
        elif path.endswith('/chunkData'):
            kind = 'volume roots'
        else:
            kind = 'other directories'
        count[kind] += 1
        count['all'] += 1
    elif re.match(r'\d+\s+unlinkat\(', line):
        unlinks += 1
for kind, v in sorted(count.items()):
    print(f"  fsync, {kind}: {v} ({v / n:.2f} a chunk)")
print(f"  unlinkat: {unlinks} ({unlinks / n:.2f} a chunk); threads syncing the temps: {len(threads)}")
PY
"$build/clsync" -c "$cfg" move-replicas --from-node P3-dn1 >/dev/null  # back as it was
