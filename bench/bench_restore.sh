#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Restore throughput with 2 replicas: `clsync restore` of a snapshot of the demo's cluster-a
# (FILTER, by default 50 chunks of Level1) into the empty cluster-b, on local nodes and on the
# same volumes behind three loopback sshd nodes (127.0.0.2-4, the real agent), next to
# `zstd -d < OBJECT | tar -x` of the same objects into two directories (each object twice, one
# directory per replica) followed by `sync`. Page caches are dropped before each timed step;
# cluster-b is emptied between runs (not timed). Each method runs RUNS times; medians, MB/s
# (10^6, of the chunk bytes of one replica) and ratios printed.
#
#   BUILD=build CHUNK=4M RUNS=3 bench/bench_restore.sh
#
# Needs root (page-cache drop, sshd with root login by key), openssh-server, GNU tar, zstd, jq.
set -euo pipefail

CHUNK=${CHUNK:-4M}
RUNS=${RUNS:-3}
FILTER=${FILTER:---db Level1 --where date<=2020.06.05}
PORT_BASE=${PORT_BASE:-26222}
. "$(dirname "$0")/common.sh"
bench_begin restore

"$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
cfg_a="$work/demo/cluster-a.yaml"
cfg_b="$work/demo/cluster-b.yaml"
# shellcheck disable=SC2086
"$CLSYNC" -c "$cfg_a" --json backup --to "$work/repo" $FILTER > "$work/backup.json"
snap=$(jq -r '.snapshot' "$work/backup.json")
snap_file="$work/repo/snapshots/$snap.json"
chunks=$(jq '.chunks | length' "$snap_file")
bytes=$(jq '[.chunks[].files[]? | select((.link_to // "") == "") | .size] | add' "$snap_file")
jq -r '.chunks[] | "\(.object) \(.key)"' "$snap_file" > "$work/objects.txt"

# --- cluster-b behind loopback sshd ----------------------------------------------------------
. "$(dirname "$0")/loopback_sshd.sh"
start_loopback_sshd "$work" "$PORT_BASE" 2 3 4
ssh_cfg="$work/cluster-b-ssh.yaml"
{
  echo "cluster: demo-b"
  echo "replication: 2"
  echo "ssh:"
  echo "  user: root"
  echo "  identity: $work/client"
  echo "  known_hosts: $work/known_hosts"
  echo "  agent_command: $CLSYNC"
  echo "nodes:"
  n=2
  for node in B1 B2 B3; do
    echo "  - name: $node"
    echo "    host: 127.0.0.$n"
    echo "    port: $((PORT_BASE + n))"
    echo "    volumes: [\"$work/demo/b/$node/ssd0/chunkData\"]"
    n=$((n + 1))
  done
  sed -n '/^databases:/,$p' "$cfg_b"
} > "$ssh_cfg"

empty_b() {
  for node in B1 B2 B3; do
    find "$work/demo/b/$node/ssd0/chunkData" -mindepth 1 -delete
  done
  rm -rf "$work/tar1" "$work/tar2"
}

run_clsync() {  # $1: topology of cluster-b
  empty_b
  drop_caches
  local t0; t0=$(now)
  "$CLSYNC" -c "$1" --json restore --from "$work/repo" --snapshot "$snap" > "$work/restore.json"
  sync
  local t1; t1=$(now)
  [ "$(jq '.replicas_written' "$work/restore.json")" = $((2 * chunks)) ] || {
    echo "restore did not write 2 replicas of each chunk" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}
run_tar() {
  empty_b
  drop_caches
  local t0; t0=$(now)
  while read -r object key; do
    obj="$work/repo/objects/${object:0:2}/$object.tar.zst"
    for d in tar1 tar2; do
      mkdir -p "$work/$d/$key"
      zstd -q -d -c < "$obj" | tar -x -C "$work/$d/$key"
    done
  done < "$work/objects.txt"
  sync
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc -l
}

declare -A times
methods=("clsync restore, local nodes" "clsync restore, loopback sshd" "zstd -d | tar -x, 2 dirs + sync")
for r in $(seq "$RUNS"); do
  times["${methods[0]}"]+=" $(run_clsync "$cfg_b")"
  times["${methods[1]}"]+=" $(run_clsync "$ssh_cfg")"
  times["${methods[2]}"]+=" $(run_tar)"
done

# shellcheck disable=SC2086
base=$(median ${times["${methods[2]}"]})
echo "restore of $chunks chunks of $CHUNK ($bytes bytes a replica) with 2 replicas; $RUNS runs, medians"
printf '%-36s %9s %9s %18s   %s\n' method seconds MB/s "throughput vs tar" "runs (s)"
for m in "${methods[@]}"; do
  # shellcheck disable=SC2086
  t=$(median ${times[$m]})
  printf '%-36s %9.2f %9.1f %17.2fx   %s\n' "$m" "$t" "$(echo "$bytes / 1000000 / $t" | bc -l)" \
    "$(echo "$base / $t" | bc -l)" "${times[$m]# }"
done
