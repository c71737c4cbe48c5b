# --connections bounds the nodes an inventory connects to and scans at once: the same result
# with one at a time; 0 is a usage error (exit 2), before any node is contacted.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" --json status --connections 1 | jq -c '[.nodes[].chunks]'
"$CLSYNC" -c "$c" --json status | jq -c '[.nodes[].chunks]'
"$CLSYNC" -c "$c" rebalance-nodes --by count --dry-run --connections 2 --json | jq -c '.summary.moves'
"$CLSYNC" -c "$c" status --connections 0 2>&1
echo "zero: $?"
