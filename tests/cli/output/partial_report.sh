# After a partial run the report shows what happened, not the plan: the failed task, the tasks
# not started (with their chunks), and "after" from what the finished tasks did, which is what
# status then sees.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
CLSYNC_TEST_THROW_AT=after_intent:1 "$CLSYNC" -c "$c" --json rebalance-nodes --by count \
  --concurrency 1 --max-bytes 40K >run.json 2>/dev/null
echo "exit: $?"
jq -c '[.result, .tasks.finished, .tasks.failed, .tasks.not_started,
        ([.moves[] | select(.state == "not_started")] | length)]' run.json
"$CLSYNC" -c "$c" --json status >status.json || exit 1
# "after" is what status sees now; the plan's own "after" is kept beside it.
jq -n --slurpfile r run.json --slurpfile s status.json \
  '[$r[0].after | to_entries[] | .value.chunks] == [$s[0].nodes[].chunks]'
jq -c '[.after | to_entries[] | .value.chunks] | add' run.json
jq -c '[.after_planned | to_entries[] | .value.chunks]' run.json
CLSYNC_TEST_THROW_AT=after_intent:1 "$CLSYNC" -c "$c" rebalance-nodes --by count \
  --concurrency 1 --max-bytes 40K >out 2>/dev/null
echo "exit: $?"
grep -c '^  not started: .* (P[0-9]-dn1:.* → P[0-9]-dn1:.*)$' out
grep -c '^  failed: .*: test fault at after_intent$' out
grep -c 'Per node (after: what the finished tasks did, not the plan):' out
