# --max-memory below 16M (0 included) cannot be kept: clsync alone takes about 13 MiB before any
# task's buffers. Refused as a usage error, nothing moves.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" rebalance-nodes --by count --max-memory 0 2>&1; echo "exit: $?"
"$CLSYNC" -c "$c" rebalance-nodes --by count --max-memory 8M 2>&1; echo "exit: $?"
"$CLSYNC" -c "$c" --json status | jq -c '[.nodes[].chunks]'
