#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# sync-online throughput (issue 9, "Speed"): a cold `clsync sync-online` of the demo's cluster A
# (local nodes) into a one-node SSH cluster with replication 1 (127.0.0.2, loopback sshd, the real
# agent), uncompressed and with --compress, next to `rsync -a -e ssh` of the same chunk
# directories followed by `sync`; then the no-change reruns of both. sshd offers only
# aes128-gcm@openssh.com, so clsync and rsync's ssh use the same cipher. Page caches are dropped
# before each timed step; medians of RUNS. Last, one sync into the demo's cluster B (local nodes,
# replication 2) shows that each source byte is read once: the file system inputs of the clsync
# process (getrusage, /usr/bin/time %I × 512) next to the bytes of the chunks.
#
#   BUILD=build CHUNK=4M DB=Level1 RUNS=3 bench/bench_sync.sh
#
# Needs root (page-cache drop, sshd with root login by key), openssh-server, rsync, jq, bc.
set -euo pipefail

CHUNK=${CHUNK:-4M}
DB=${DB:-Level1}
RUNS=${RUNS:-3}
PORT_BASE=${PORT_BASE:-27222}
. "$(dirname "$0")/common.sh"
bench_begin sync

"$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
cfg_a="$work/demo/cluster-a.yaml"
src="$work/demo/a/P1-dn1/ssd0/chunkData/$DB"  # one replica of each selected chunk
bytes=$(du -sb "$src" | cut -f1)
chunks=$(find "$src" -mindepth 3 -maxdepth 3 -type d | wc -l)

# --- B1: one SSH node, replication 1 ----------------------------------------------------------
. "$(dirname "$0")/loopback_sshd.sh"
SSHD_CIPHERS=aes128-gcm@openssh.com start_loopback_sshd "$work" "$PORT_BASE" 2
port=$((PORT_BASE + 2))
cfg_b1="$work/cluster-b1.yaml"
{
  echo "cluster: demo-b1"
  echo "replication: 1"
  echo "ssh:"
  echo "  user: root"
  echo "  identity: $work/client"
  echo "  known_hosts: $work/known_hosts"
  echo "  agent_command: $CLSYNC"
  echo "nodes:"
  echo "  - name: B1"
  echo "    host: 127.0.0.2"
  echo "    port: $port"
  echo "    volumes: [\"$work/b1/chunkData\"]"
  sed -n '/^databases:/,$p' "$work/demo/cluster-b.yaml"
} > "$cfg_b1"
SSH_CMD="ssh -c aes128-gcm@openssh.com -i $work/client -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p $port"

empty_b1() { rm -rf "$work/b1" "$work/state" "$work/rsync-dst"; mkdir -p "$work/b1/chunkData"; }
timed() {  # runs "$@" after dropping caches, then sync; prints seconds
  drop_caches
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  sync
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
clsync_sync() { "$CLSYNC" sync-online --from "$cfg_a" --to "$cfg_b1" --db "$DB" "$@"; }
rsync_sync() { rsync -a -e "$SSH_CMD" "$src" "root@127.0.0.2:$work/rsync-dst/"; }

declare -A times
for r in $(seq "$RUNS"); do
  empty_b1
  times[cold]+=" $(timed clsync_sync)"
  times[cold0]+=" $(timed clsync_sync)"
  empty_b1
  times[coldz]+=" $(timed clsync_sync --compress)"
  mkdir -p "$work/rsync-dst"
  times[rsync]+=" $(timed rsync_sync)"
  times[rsync0]+=" $(timed rsync_sync)"
done
diff -r "$src" "$work/b1/chunkData/$DB" >/dev/null || { echo "B1 differs from A" >&2; exit 1; }

# --- each source byte read once, with 2 target replicas (cluster B: local nodes) ---------------
drop_caches
inputs=$( { /usr/bin/time -f '%I' "$CLSYNC" --json sync-online --from "$cfg_a" \
              --to "$work/demo/cluster-b.yaml" --db "$DB" > "$work/b.json"; } 2>&1 | tail -n 1)
read_a=$((inputs * 512))
json_bytes=$(jq '.bytes' "$work/b.json")

# shellcheck disable=SC2086
{
  c=$(median ${times[cold]}); z=$(median ${times[coldz]}); r=$(median ${times[rsync]})
  c0=$(median ${times[cold0]}); r0=$(median ${times[rsync0]})
}
mbs() { echo "$bytes / 1000000 / $1" | bc -l; }
echo "sync-online of $chunks chunks of $CHUNK ($DB, $bytes bytes) into 1 SSH node (replication 1), aes128-gcm; $RUNS runs, medians"
printf '%-40s %9s %9s %9s\n' step seconds MB/s ratio
printf '%-40s %9.2f %9.1f %8.2fx\n' "clsync sync-online (cold)" "$c" "$(mbs "$c")" "$(echo "$r / $c" | bc -l)"
printf '%-40s %9.2f %9.1f %8.2fx\n' "clsync sync-online --compress (cold)" "$z" "$(mbs "$z")" "$(echo "$r / $z" | bc -l)"
printf '%-40s %9.2f %9.1f %8.2fx\n' "rsync -a -e ssh + sync (cold)" "$r" "$(mbs "$r")" 1
printf '%-40s %9.3f %9s %8.2fx\n' "clsync sync-online (no change)" "$c0" "" "$(echo "$c0 / $r0" | bc -l)"
printf '%-40s %9.3f %9s %8.2fx\n' "rsync -a -e ssh (no change)" "$r0" "" 1
echo "cold ratios are throughput vs rsync (goal >= 1.3 compressed, >= 1.0 plain); no-change is time vs rsync (goal <= 0.5)"
echo "2 target replicas: chunk bytes $bytes; read on A (file system inputs) $read_a; --json bytes $json_bytes"
echo "runs (s): cold${times[cold]}; compress${times[coldz]}; rsync${times[rsync]}; cold0${times[cold0]}; rsync0${times[rsync0]}"
