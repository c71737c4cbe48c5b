# --max-memory caps the tasks run at once (8 MiB each) and says so; the run still completes.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --state-dir "$TMP/s" --json rebalance-nodes --by count \
  --max-memory 16M >run.json || exit 1
jq -e '.tasks.finished == 133 and .tasks.failed == 0' run.json
