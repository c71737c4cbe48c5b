#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Inventory of many nodes: `clsync status` over NODES loopback sshd nodes (127.0.0.2…, the real
# agent, one volume each) with --connections 1, 4 and NODES, alternating, RUNS times each;
# prints the median, min and max wall time and the ratio to --connections 1. Each node holds
# CHUNKS chunk directories of two small files (every chunk on two neighbouring nodes). Caches
# stay warm: the figure is the connect-and-scan structure, not the disks.
#
#   BUILD=build NODES=16 CHUNKS=200 RUNS=3 bench/bench_inventory.sh
#
# Needs root (sshd with root login by key), openssh-server, python3, jq and bc.
set -euo pipefail

NODES=${NODES:-16}
CHUNKS=${CHUNKS:-200}
RUNS=${RUNS:-3}
PORT_BASE=${PORT_BASE:-26222}
. "$(dirname "$0")/common.sh"
bench_begin inventory

. "$(dirname "$0")/loopback_sshd.sh"
hosts=()
for i in $(seq 1 "$NODES"); do hosts+=($((i + 1))); done
start_loopback_sshd "$work" "$PORT_BASE" "${hosts[@]}"

cfg="$work/many.yaml"
{
  echo "cluster: many"
  echo "replication: 2"
  echo "ssh:"
  echo "  user: root"
  echo "  identity: $work/client"
  echo "  known_hosts: $work/known_hosts"
  echo "  agent_command: $CLSYNC"
  echo "nodes:"
  for i in $(seq 1 "$NODES"); do
    echo "  - name: n$i"
    echo "    host: 127.0.0.$((i + 1))"
    echo "    port: $((PORT_BASE + i + 1))"
    echo "    volumes: [\"$work/v/n$i\"]"
  done
  echo "databases:"
  echo "  db:"
  echo "    levels: [date]"
} > "$cfg"

# Group g of CHUNKS chunks lives on nodes g and g+1 (mod NODES).
python3 - "$work/v" "$NODES" "$CHUNKS" <<'PY'
import os, sys
root, nodes, chunks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for g in range(1, nodes + 1):
    for k in range(1, chunks + 1):
        key = "db/2020%02d%02d/t%d_%d" % (k % 12 + 1, k % 28 + 1, g, k)
        for n in (g, g % nodes + 1):
            d = os.path.join(root, "n%d" % n, key)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "a.col"), "w") as f:
                f.write("group %d chunk %d\n" % (g, k))
            with open(os.path.join(d, "b.col"), "w") as f:
                f.write("%d\n" % k)
PY

declare -A times
settings=(1 4 "$NODES")
for run in $(seq 1 "$RUNS"); do
  # Alternate the order so that no setting always runs first (or last) on a busy machine.
  order=("${settings[@]}")
  [ $((run % 2)) -eq 0 ] && order=("$NODES" 4 1)
  for c in "${order[@]}"; do
    t0=$(now)
    "$CLSYNC" -c "$cfg" --json status --connections "$c" > "$work/status-$c.json"
    t1=$(now)
    times[$c]="${times[$c]:-} $(echo "$t1 - $t0" | bc -l)"
    reachable=$(jq '[.nodes[] | select(.reachable)] | length' "$work/status-$c.json")
    [ "$reachable" -eq "$NODES" ] || { echo "--connections $c: $reachable of $NODES nodes reachable" >&2; exit 1; }
  done
done

echo "status over $NODES loopback sshd nodes, $((NODES * CHUNKS)) chunks x 2 replicas; $RUNS runs"
echo
echo "| --connections | median s | min s | max s | time vs --connections 1 |"
echo "|---|---|---|---|---|"
base=$(median ${times[1]})
for c in "${settings[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${times[$c]})
  lo=$(printf '%s\n' ${times[$c]} | sort -g | head -1)
  hi=$(printf '%s\n' ${times[$c]} | sort -g | tail -1)
  printf '| %s | %.2f | %.2f | %.2f | %.2fx |\n' "$c" "$m" "$lo" "$hi" "$(echo "$m / $base" | bc -l)"
done
