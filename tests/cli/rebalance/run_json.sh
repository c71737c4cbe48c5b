# A real rebalance-nodes run: the document reports the finished tasks, the cluster ends balanced,
# and the journal shows the run.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
export CLSYNC_STATE_DIR="$TMP/state"
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --json rebalance-nodes --by count >run.json || exit 1
jq -e '
  .dry_run == false and .result == "ok" and (.run_id | test("^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}$"))
  and .tasks.finished == 133 and .tasks.failed == 0 and .tasks.not_started == 0
  and all(.moves[]; .state == "finished") and .recovery.temps_removed == 0 and .exit_code == 0
' run.json || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --json status | jq -e '[.nodes[].chunks] == [134, 133, 133] and .health.healthy == 200'
ls "$TMP/state/demo-a/runs" | wc -l
