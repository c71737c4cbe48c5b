#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Rebalance throughput: `clsync rebalance-nodes --by count` on the demo (200/200/0 → 134/133/133,
# 133 chunks moved to P3-dn1) next to `cp -a` and `rsync -a` of the same chunk directories, and,
# over loopback sshd (nodes on 127.0.0.2-4, the real agent), next to `rsync -a -e ssh` of them.
# Each method runs RUNS times; medians, MB/s (10^6) and ratios to clsync are printed.
# clsync's figure is a full move: hashing on both ends, per-chunk fsync, source removal, intents
# and journal (SPEC §5). cp and rsync only copy; they are followed by `sync` for a like view.
# Between runs the moved chunks go back (`move-replicas --from-node P3-dn1`, not timed).
#
#   BUILD=build CHUNK=4M RUNS=3 bench/bench_rebalance.sh
#
# Needs root (page-cache drop, sshd with root login by key), openssh-server and rsync.
set -euo pipefail

CHUNK=${CHUNK:-4M}
RUNS=${RUNS:-3}
PORT_BASE=${PORT_BASE:-25222}
. "$(dirname "$0")/common.sh"
bench_begin rebalance

"$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
local_cfg="$work/demo/cluster-a.yaml"

# --- loopback sshd nodes over the same volumes ---------------------------------------------
. "$(dirname "$0")/loopback_sshd.sh"
start_loopback_sshd "$work" "$PORT_BASE" 2 3 4
ssh_cfg="$work/cluster-ssh.yaml"
{
  echo "cluster: demo-a"
  echo "replication: 2"
  echo "ssh:"
  echo "  user: root"
  echo "  identity: $work/client"
  echo "  known_hosts: $work/known_hosts"
  echo "  agent_command: $CLSYNC"
  echo "nodes:"
  n=2
  for node in P1-dn1 P2-dn1 P3-dn1; do
    echo "  - name: $node"
    echo "    host: 127.0.0.$n"
    echo "    port: $((PORT_BASE + n))"
    echo "    volumes: [\"$work/demo/a/$node/ssd0/chunkData\"]"
    n=$((n + 1))
  done
  sed -n '/^databases:/,$p' "$local_cfg"
} > "$ssh_cfg"
SSH_CMD="ssh -i $work/client -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p $((PORT_BASE + 4))"

# --- the chunks a rebalance moves ------------------------------------------------------------
"$CLSYNC" -c "$local_cfg" --json rebalance-nodes --by count --dry-run > "$work/plan.json"
bytes=$(jq '.summary.bytes' "$work/plan.json")
moves=$(jq '.summary.moves' "$work/plan.json")
for node in P1-dn1 P2-dn1; do
  jq -r --arg n "$node" '.moves[] | select(.from.node == $n) | .chunk' "$work/plan.json" \
    > "$work/keys-$node"
done
vol() { echo "$work/demo/a/$1/ssd0/chunkData"; }

reset_cluster() { "$CLSYNC" -c "$local_cfg" move-replicas --from-node P3-dn1 >/dev/null; }

run_clsync() {  # $1: topology
  drop_caches
  local t0; t0=$(now)
  "$CLSYNC" -c "$1" rebalance-nodes --by count >/dev/null
  local t1; t1=$(now)
  reset_cluster
  echo "$t1 - $t0" | bc -l
}
run_copy() {  # $1: cp | rsync | rsync-ssh
  rm -rf "$work/dst"; mkdir -p "$work/dst"
  drop_caches
  local t0; t0=$(now)
  for node in P1-dn1 P2-dn1; do
    case "$1" in
      cp) (cd "$(vol "$node")" && xargs -a "$work/keys-$node" cp -a --parents -t "$work/dst") ;;
      rsync) rsync -a -r --files-from="$work/keys-$node" "$(vol "$node")/" "$work/dst/" ;;
      rsync-ssh) rsync -a -r -e "$SSH_CMD" --files-from="$work/keys-$node" "$(vol "$node")/" \
                   "root@127.0.0.4:$work/dst/" ;;
    esac
  done
  sync
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc -l
}

declare -A times
methods=("clsync local" "cp -a + sync" "rsync -a + sync" "clsync ssh" "rsync -e ssh + sync")
for r in $(seq "$RUNS"); do
  times["clsync local"]+=" $(run_clsync "$local_cfg")"
  times["cp -a + sync"]+=" $(run_copy cp)"
  times["rsync -a + sync"]+=" $(run_copy rsync)"
  times["clsync ssh"]+=" $(run_clsync "$ssh_cfg")"
  times["rsync -e ssh + sync"]+=" $(run_copy rsync-ssh)"
done

echo "rebalance-nodes on the demo: $moves chunks of $CHUNK, $bytes bytes moved; $RUNS runs, medians"
base=""
printf '%-22s %10s %10s %16s\n' method seconds MB/s time/clsync-local
for m in "${methods[@]}"; do
  # shellcheck disable=SC2086
  med=$(median ${times[$m]})
  [ -n "$base" ] || base=$med
  printf '%-22s %10.2f %10.1f %15.2fx\n' "$m" "$med" "$(echo "$bytes / 1000000 / $med" | bc -l)" \
    "$(echo "$med / $base" | bc -l)"
done
