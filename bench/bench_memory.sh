#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Peak RSS of status, status --json --chunks and a rebalance plan on a real tree: CHUNKS chunk
# directories (one small file each) × 2 replicas over 3 local nodes (replica i on nodes i%3 and
# (i+1)%3), plus the same commands on an empty cluster for the baseline. Prints a markdown table
# with the peak RSS (/usr/bin/time -v), the delta over the baseline per replica, and seconds.
#
#   BUILD=build CHUNKS=50000 bench/bench_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_begin memory
CHUNKS=${CHUNKS:-50000}

make_cluster() { # DIR CHUNKS: the tree and its topology file DIR/c.yaml
  python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
nodes = ["N1", "N2", "N3"]
y = "cluster: mem\nreplication: 2\nnodes:\n"
for nd in nodes:
    os.makedirs(f"{root}/{nd}/chunkData", exist_ok=True)
    y += f"  - name: {nd}\n    host: local\n    volumes: [\"{root}/{nd}/chunkData\"]\n"
y += "databases:\n  Level1:\n    levels: [date, hash]\n"
open(f"{root}/c.yaml", "w").write(y)
for i in range(n):
    date = f"2020{1 + i // 3100 % 12:02d}{1 + i // 100 % 31:02d}"
    rel = f"Level1/{date}{i // 37200:02d}/{i % 100}/Snapshot"
    for nd in (nodes[i % 3], nodes[(i + 1) % 3]):
        d = f"{root}/{nd}/chunkData/{rel}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/col", "w") as f:
            f.write("x" * (64 + i % 64))
PY
}

peak_kib() { # ARGS…: runs clsync, prints "KiB seconds"
  local t0 t1
  t0=$(now)
  /usr/bin/time -v -o "$work/time" "$CLSYNC" "$@" > "$work/out" 2> "$work/err" || true
  t1=$(now)
  echo "$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time") $(echo "$t1 - $t0" | bc)"
}

make_cluster "$work/empty" 0
make_cluster "$work/tree" "$CHUNKS"
replicas=$((CHUNKS * 2))
echo "| command | peak RSS, empty cluster | peak RSS, $CHUNKS chunks × 2 | per replica | seconds |"
echo "|---|---|---|---|---|"
for args in "status" "status --json" "status --json --chunks" \
            "rebalance-nodes --by count --dry-run --json"; do
  read -r base _ <<< "$(peak_kib -c "$work/empty/c.yaml" $args)"
  read -r peak secs <<< "$(peak_kib -c "$work/tree/c.yaml" $args)"
  per=$(( (peak - base) * 1024 / replicas ))
  printf '| `%s` | %d MiB | %d MiB | %d B | %.1f |\n' "$args" $((base / 1024)) $((peak / 1024)) \
    "$per" "$secs"
done
