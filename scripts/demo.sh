#!/usr/bin/env bash
# Builds clsync and walks through the seed scenario on local demo clusters: three nodes with
# 200 chunks on the first two, then status, a rebalance plan, the rebalance, and status again.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
clsync=${CLSYNC_BUILD_DIR:-build}/clsync
dir=${CLSYNC_DEMO_DIR:-/tmp/clsync-demo}
# The demo's own journal, so status --tasks shows this walk-through's runs only.
export CLSYNC_STATE_DIR=${dir%/}-state
rm -rf "$CLSYNC_STATE_DIR"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$clsync" demo --dir "$dir" --force
step "$clsync" -c "$dir/cluster-a.yaml" status
step "$clsync" -c "$dir/cluster-a.yaml" rebalance-nodes --by count --dry-run
step "$clsync" -c "$dir/cluster-a.yaml" rebalance-nodes --by count
step "$clsync" -c "$dir/cluster-a.yaml" status
step "$clsync" -c "$dir/cluster-a.yaml" status --tasks
# demo's own "Try next" list was written before the rebalance moved replicas: name a replica
# that is on P2-dn1 now, so the repair suggestion works as printed.
replica=$(find "$dir/a/P2-dn1" -mindepth 6 -maxdepth 6 -type d -path '*/Level1/*' | sort | head -1)
cat <<TRY

Try next (export CLSYNC_STATE_DIR=$CLSYNC_STATE_DIR to keep seeing this demo's runs):
  $clsync -c $dir/cluster-a.yaml status --chunks --db Level1 --where 'date>=2020.06.09'
  rm -r $replica && $clsync -c $dir/cluster-a.yaml repair
  $clsync -c $dir/cluster-a.yaml move-replicas --from-node P3-dn1 --dry-run
  $clsync -c $dir/cluster-b.yaml status
TRY
