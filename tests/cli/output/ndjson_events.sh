# --log-format json: every stderr line is one JSON object of a known type; progress, one task
# event per state change, and a last summary with the totals.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
CLSYNC_PROGRESS_FPS=1000 "$CLSYNC" -c "$c" --log-format json rebalance-nodes --by count \
  >/dev/null 2>events || exit 1
jq -e . events >/dev/null && echo "every line parses"
jq -r .type events | sort -u | tr '\n' ' '; echo
jq -s '[.[] | select(.type == "task" and .state == "finished")] | length' events
jq -s '[.[] | select(.type == "task" and .state == "running")] | length' events
jq -s '[.[] | select(.type == "progress" and .bytes_total == 544768)] | length > 0' events
jq -s '[.[] | select(.type == "progress")] | all(has("stalled_s"))' events
tail -n 1 events | jq -c '[.type, .tasks_done, .tasks_total, .bytes_done, .tasks_failed]'
