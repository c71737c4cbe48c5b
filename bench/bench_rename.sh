#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Same-filesystem `rebalance-disks` (every move a rename): the demo's disk scenario scaled up
# (each date of both databases copied to SCALE-1 more dates: 200 × SCALE chunks on each of
# P1-dn1 and P2-dn1, an empty ssd1 on each), then `clsync rebalance-disks --all-nodes`: 100 ×
# SCALE renames per node. Prints the run's wall time, the executor's time (`--json` seconds) and
# chunks/s by each, and with STRACE=1 the fsync/renameat counts of one more run (strace -f -c).
# Batched renames are on by default; CLSYNC_RENAME_BATCH=1 gives the one-rename-per-task path.
# Page caches are not dropped: renames touch metadata only, which the scan just read.
#
#   BUILD=build SCALE=10 RUNS=3 bench/bench_rename.sh          # on /var/tmp (a real disk)
#   CLSYNC_RENAME_BATCH=1 BUILD=build SCALE=10 RUNS=3 bench/bench_rename.sh
set -euo pipefail

SCALE=${SCALE:-10}
RUNS=${RUNS:-3}
STRACE=${STRACE:-0}
. "$(dirname "$0")/common.sh"
bench_begin rename

"$CLSYNC" demo --dir "$work/template" --chunk-size 4K --new-disks >/dev/null
for node in P1-dn1 P2-dn1; do
  for db in Level1 Level1_TSDB; do
    base="$work/template/a/$node/ssd0/chunkData/$db"
    for date in $(ls "$base"); do
      for s in $(seq 1 $((SCALE - 1))); do
        cp -a "$base/$date" "$base/$((date + s * 10000))"   # 20200601 → 20210601, 20220601 …
      done
    done
  done
done
moves=$((SCALE * 200))

# A fresh copy per run, removed only at the end: unlinking is slow where the filesystem is
# mounted with `discard` (each freed extent is discarded synchronously).
run_once() { # $1: run number, $2: prefix command (or ""); prints "wall executor"
  local d="$work/demo$1"
  cp -a "$work/template" "$d"
  sed "s#$work/template#$d#g" "$work/template/cluster-a.yaml" >"$d/cluster-a.yaml"
  sync
  local t0 t1 out
  t0=$(now)
  out=$($2 "$CLSYNC" -c "$d/cluster-a.yaml" rebalance-disks --all-nodes --json 2>/dev/null)
  t1=$(now)
  local moved secs
  moved=$(echo "$out" | jq '.tasks.finished')
  secs=$(echo "$out" | jq '.tasks.seconds')
  [ "$moved" = "$moves" ] || { echo "moved $moved of $moves" >&2; exit 1; }
  echo "$(echo "$t1 - $t0" | bc -l) $secs"
}

walls=(); execs=()
for r in $(seq 1 "$RUNS"); do
  read -r w e < <(run_once "$r" "")
  walls+=("$w"); execs+=("$e")
  printf 'run %d: wall %.3f s, executor %.3f s\n' "$r" "$w" "$e"
done
mw=$(median "${walls[@]}"); me=$(median "${execs[@]}")
printf '%d renames (%d chunks per node): wall %.3f s (%.0f chunks/s), executor %.3f s (%.0f chunks/s), medians of %d\n' \
  "$moves" "$((SCALE * 200))" "$mw" "$(echo "$moves / $mw" | bc -l)" "$me" \
  "$(echo "$moves / $me" | bc -l)" "$RUNS"
if [ "$STRACE" = 1 ]; then
  run_once strace "strace -f -c -o $work/strace.txt -e trace=fsync,fdatasync,renameat,renameat2,syncfs" >/dev/null
  grep -E 'fsync|rename|syncfs|calls' "$work/strace.txt"
fi
