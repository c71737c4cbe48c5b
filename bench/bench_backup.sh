#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Backup throughput and size: `clsync backup` of the demo's cluster-a (one replica of each of
# its 200 chunks, packed with zstd -3 next to the data and written into a fresh repository)
# next to `tar -cf - DIRS | zstd -T0 -3 > file` of the same chunk directories (one replica:
# every chunk is on P1-dn1), each followed by `sync`. Page caches are dropped before each timed
# step. Each method runs RUNS times; medians, MB/s (10^6, of chunk bytes) and ratios printed.
#
#   BUILD=build CHUNK=16M RUNS=3 bench/bench_backup.sh
#
# Needs root (page-cache drop), GNU tar and zstd, jq.
set -euo pipefail

CHUNK=${CHUNK:-16M}
RUNS=${RUNS:-3}
. "$(dirname "$0")/common.sh"
bench_begin backup

"$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
cfg="$work/demo/cluster-a.yaml"
vol="$work/demo/a/P1-dn1/ssd0/chunkData"
bytes=$(du -sb --apparent-size "$vol/Level1" "$vol/Level1_TSDB" | awk '{s+=$1} END {printf "%d", s}')

run_clsync() {
  rm -rf "$work/repo"
  drop_caches
  local t0; t0=$(now)
  "$CLSYNC" -c "$cfg" --json backup --to "$work/repo" > "$work/backup.json"
  sync
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
run_tar() {
  rm -f "$work/tar.zst"
  drop_caches
  local t0; t0=$(now)
  tar -cf - -C "$vol" Level1 Level1_TSDB | zstd -q -T0 -3 > "$work/tar.zst"
  sync
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc -l
}

clsync_times="" tar_times="" clsync_size=0 tar_size=0
for r in $(seq "$RUNS"); do
  clsync_times+=" $(run_clsync)"
  clsync_size=$(du -sb --apparent-size "$work/repo/objects" | cut -f1)
  tar_times+=" $(run_tar)"
  tar_size=$(stat -c %s "$work/tar.zst")
done
chunks=$(jq '.chunks' "$work/backup.json")

# shellcheck disable=SC2086
c=$(median $clsync_times)
# shellcheck disable=SC2086
t=$(median $tar_times)
echo "backup of the demo's cluster-a: $chunks chunks of $CHUNK, $bytes bytes; $RUNS runs, medians"
printf '%-34s %9s %9s %14s %14s\n' method seconds MB/s bytes size/tar
printf '%-34s %9.2f %9.1f %14s %13.3fx\n' "clsync backup (objects)" "$c" \
  "$(echo "$bytes / 1000000 / $c" | bc -l)" "$clsync_size" "$(echo "$clsync_size / $tar_size" | bc -l)"
printf '%-34s %9.2f %9.1f %14s %13.3fx\n' "tar | zstd -T0 -3 + sync" "$t" \
  "$(echo "$bytes / 1000000 / $t" | bc -l)" "$tar_size" 1
printf 'throughput clsync/tar: %.2fx\n' "$(echo "$t / $c" | bc -l)"
