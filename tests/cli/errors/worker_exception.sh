# An exception on a worker thread is that task's (or that node's) failure, never
# std::terminate, whatever its type: the task rolls back, the others finish, exit 3.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
CLSYNC_TEST_THROW_AT=after_intent:2 CLSYNC_TEST_THROW_KIND=other \
  "$CLSYNC" -c "$c" --json rebalance-nodes --by count >run.json 2>/dev/null
echo "non-std in a task: $?"
jq -c '[.tasks.finished, .tasks.failed, .result, .exit_code,
        ([.moves[] | select(.state == "failed") | .error][0] | test("not derived from std::exception"))]' run.json
CLSYNC_TEST_THROW_AT=after_intent:3 \
  "$CLSYNC" -c "$c" --json move-replicas --from-node P3-dn1 --by count >drain.json 2>/dev/null
echo "std in a task: $?"
jq -c '[.tasks.failed, ([.moves[] | select(.state == "failed") | .error][0] | test("test fault at after_intent"))]' drain.json
"$CLSYNC" -c "$c" --json status | jq -c '[.health.healthy, .leftovers]'
CLSYNC_TEST_THROW_AT=scan_node:2 CLSYNC_TEST_THROW_KIND=other \
  "$CLSYNC" -c "$c" --json status >status.json 2>/dev/null
echo "non-std in a scan thread: $?"
jq -c '[.exit_code, ([.nodes[] | select(.reachable == false)] | length)]' status.json
