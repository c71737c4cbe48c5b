# Every writing command has plan files and --by: move-replicas and repair save a reviewed plan
# with --plan-out and run it with --plan (each move re-validated), as the README promises.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" rebalance-nodes --by count >/dev/null || exit 1
"$CLSYNC" -c "$c" move-replicas --from-node P3-dn1 --by count --dry-run --plan-out drain.json >/dev/null
echo "drain plan: $? $(jq -c '[.command, .by, (.moves | length)]' drain.json)"
"$CLSYNC" -c "$c" --json move-replicas --plan drain.json >run.json
echo "drain run: $? $(jq -c '[.tasks.finished, .tasks.failed]' run.json)"
"$CLSYNC" -c "$c" --json status | jq -c '[.nodes[].chunks]'
"$CLSYNC" -c "$c" move-replicas --plan drain.json --from-node P3-dn1 2>&1; echo "both: $?"
rm -r "$TMP/d/a/P2-dn1/ssd0/chunkData/Level1/20200601/0/Snapshot"
"$CLSYNC" -c "$c" repair --by count --dry-run --plan-out repair.json >/dev/null
echo "repair plan: $? $(jq -c '[.command, .by, [.moves[].kind]]' repair.json)"
"$CLSYNC" -c "$c" --json repair --plan repair.json >rep.json
echo "repair run: $? $(jq -c '[.tasks.finished]' rep.json)"
"$CLSYNC" -c "$c" --json repair --plan repair.json >again.json
echo "stale: $? $(jq -c '[.tasks.finished, (.notes[0].reason | test("stale move"))]' again.json)"
"$CLSYNC" -c "$c" --json status | jq -c '[.health.healthy]'
"$CLSYNC" -c "$c" repair --threshold 3 2>&1 | head -n 1; echo "threshold: ${PIPESTATUS[0]}"
