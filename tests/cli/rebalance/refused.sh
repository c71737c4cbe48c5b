# Refusals of SPEC §5 exit 1 and change nothing: a degraded cluster, a drain that cannot keep
# the replication; a held lease exits 4.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
export CLSYNC_STATE_DIR="$TMP/state"
rm -rf "$TMP/d/a/P2-dn1/ssd0/chunkData/Level1/20200601/0/Snapshot"
"$CLSYNC" -c "$c" rebalance-nodes; echo "degraded: $?"
"$CLSYNC" -c "$c" --json rebalance-nodes >doc.json 2>err.json; echo "degraded json: $?"
jq -e '.type == "exit_error" and .code == 1 and (.message | test("degraded"))' err.json
jq -e '.exit_code == 1 and .result == "failed" and (.error | test("degraded")) and .moves == []
       and .dry_run == false and .summary.moves == 0' doc.json
"$CLSYNC" -c "$c" repair --dry-run --json | jq -e '.summary.moves == 1 and .moves[0].kind == "copy"'
"$CLSYNC" -c "$c" repair >/dev/null; echo "repair: $?"
sed -i '/name: P3-dn1/,/volumes:/d' "$c"
"$CLSYNC" -c "$c" move-replicas --from-node P1-dn1; echo "drain: $?"
printf '{"host":"elsewhere","pid":1,"run_id":"r0","command":"repair","started":%s,"heartbeat":%s}\n' \
  "$(date +%s)" "$(date +%s)" >"$TMP/d/a/P1-dn1/ssd0/chunkData/.clsync-lease"
"$CLSYNC" -c "$c" repair; echo "leased: $?"
"$CLSYNC" -c "$c" repair --break-lock >/dev/null; echo "break-lock: $?"
"$CLSYNC" -c "$c" --json status | jq -e '[.nodes[].chunks] == [200, 200] and .health.healthy == 200'
