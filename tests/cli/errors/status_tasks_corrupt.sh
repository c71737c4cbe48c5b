# status --tasks skips a journal line it cannot read, with a warning naming the file and line,
# and shows the rest: no crash, no silent drop.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" rebalance-nodes --by count --max-bytes 1 >/dev/null || exit 1
j=$(ls "$CLSYNC_STATE_DIR"/demo-a/runs/*.ndjson)
lines=$(wc -l <"$j")
printf '{"type":"task","id":"x-0001","bytes":"many","state":"finished"}\nnot json at all\n' >>"$j"
"$CLSYNC" -c "$c" status --tasks >out 2>err
echo "exit: $?"
grep -c "ok" out
sed "s|$j|JOURNAL|" err | sed 's/\[json.exception[^]]*\][^;]*/[json.exception]/'
"$CLSYNC" -c "$c" --json status --tasks 2>/dev/null | jq -c '[.runs[0].tasks_finished]'
echo "lines before: $lines"
