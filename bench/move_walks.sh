#!/bin/bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# The move-local row's move under strace, its walks of chunk directories and the system calls
# they make, per moved chunk (bench/README.md "Move path: helper walks"): load-independent, so
# two builds compare on a busy machine. A walk (walk_chunk) begins with an openat of "." in the
# chunk's directory. Usage: bench/move_walks.sh BUILD DEMO_DIR
#   BUILD     a build directory with clsync (main's and a branch's, one after the other)
#   DEMO_DIR  made by `clsync demo --dir DEMO_DIR --chunk-size 64K`; P3-dn1 empty before and after
# Needs strace, jq and python3. Each walk's caller: add -k to the strace line (slow) and read
# the frame above walk_chunk.
set -euo pipefail
build=$1 demo=$2
cfg="$demo/cluster-a.yaml"
trace=$(mktemp)
trap 'rm -f "$trace" "$trace.json"' EXIT
strace -f -qq -o "$trace" -e trace=openat,newfstatat,getdents64 -e status=successful \
  "$build/clsync" -c "$cfg" --json rebalance-nodes --by count > "$trace.json"
n=$(jq .tasks.finished "$trace.json")
python3 - "$trace" "$n" "$build" <<'PY'
import collections, re, sys
n = int(sys.argv[2])
c = collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r'\d+\s+(\w+)\((.*)', line)
    if not m:
        continue
    c[m.group(1)] += 1
    if m.group(1) == 'openat' and re.match(r'\d+, "\.", O_RDONLY', m.group(2)):
        c['walks'] += 1
print(f"{sys.argv[3]}: {n} chunks moved; per chunk:",
      ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(c.items())))
PY
"$build/clsync" -c "$cfg" move-replicas --from-node P3-dn1 >/dev/null  # back as it was
