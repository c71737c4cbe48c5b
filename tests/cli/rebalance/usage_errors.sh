# Bad option values of the writing commands are usage errors (exit 2) before anything is touched.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" rebalance-nodes --by size; echo "by: $?"
"$CLSYNC" -c "$c" rebalance-nodes --threshold=-1; echo "threshold: $?"
"$CLSYNC" -c "$c" rebalance-nodes --by count --threshold abc; echo "threshold text: $?"
"$CLSYNC" -c "$c" rebalance-nodes --until soon; echo "until: $?"
"$CLSYNC" -c "$c" rebalance-nodes --headroom 2; echo "headroom: $?"
"$CLSYNC" -c "$c" rebalance-nodes --per-node 0; echo "per-node: $?"
"$CLSYNC" -c "$c" rebalance-nodes --min-age later; echo "min-age: $?"
"$CLSYNC" -c "$c" rebalance-disks; echo "disks without nodes: $?"
"$CLSYNC" -c "$c" rebalance-disks --node P1-dn1 --all-nodes; echo "disks both: $?"
"$CLSYNC" -c "$c" rebalance-disks --node P9; echo "disks unknown node: $?"
"$CLSYNC" -c "$c" move-replicas; echo "move nothing: $?"
"$CLSYNC" -c "$c" move-replicas --to-node P1-dn1; echo "to without from: $?"
"$CLSYNC" -c "$c" move-replicas --from-node P1-dn1 --node P2-dn1 --from-volume /x; echo "both: $?"
"$CLSYNC" -c "$c" repair --db Nope; echo "repair db: $?"
"$CLSYNC" rebalance-nodes; echo "no config: $?"
"$CLSYNC" -c "$c" --json status | jq -e '[.nodes[].chunks] == [200, 200, 0] and .leftovers == []'
