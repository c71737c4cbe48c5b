# status --tasks shows the journal of the latest runs: a rebalance's 133 finished moves.
"$CLSYNC" demo --dir "$TMP/d" >/dev/null || exit 1
c=("$CLSYNC" -c "$TMP/d/cluster-a.yaml" --state-dir "$TMP/state")
"${c[@]}" status --tasks || exit 1
"${c[@]}" rebalance-nodes --by count >/dev/null || exit 1
"${c[@]}" --json status --tasks >doc.json || exit 1
jq -e '
  (.runs | length) == 1 and .runs[0].command == "rebalance-nodes"
  and (.runs[0].tasks | length) == 133
  and all(.runs[0].tasks[]; .state == "finished" and .destination.node == "P3-dn1"
                            and .delete_source == true and .bytes == 16384)
  and .runs[0].bytes == 133 * 16384 and (.runs[0].finish | type) == "string"
' doc.json >/dev/null || exit 1
"${c[@]}" status --tasks | head -1 | grep -c "rebalance-nodes.*133 finished, 0 failed"
