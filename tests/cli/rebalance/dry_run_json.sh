# rebalance-nodes --dry-run --json: the documented plan document, and nothing changes.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --json rebalance-nodes --by count --dry-run >plan.json || exit 1
jq -e '
  .dry_run == true and .command == "rebalance-nodes"
  and .summary.moves == 133 and (.moves | length) == 133
  and .summary.bytes == ([.moves[].bytes] | add)
  and all(.moves[]; .to.node == "P3-dn1" and (.from.node == "P1-dn1" or .from.node == "P2-dn1")
                    and .kind == "move" and (.chunk | test("^Level1(_TSDB)?/2020060[1-9]|10/")))
  and .before == {"P1-dn1": {"chunks": 200, "bytes": 819200}, "P2-dn1": {"chunks": 200, "bytes": 819200},
                  "P3-dn1": {"chunks": 0, "bytes": 0}}
  and ([.after[].chunks] | sort) == [133, 133, 134]
  and .tasks.finished == 0 and .tasks.failed == 0
  and (.notes | type) == "array" and (has("run_id") | not)
' plan.json || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --json status | jq -e '[.nodes[].chunks] == [200, 200, 0] and .leftovers == []'
