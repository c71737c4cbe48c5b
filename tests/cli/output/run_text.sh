# The text report of a real run (not a dry run): the run id, the moves with their state, the
# from→to matrix, per node before and after, the tasks, the journal.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" rebalance-nodes --by count >out || exit 1
sed -E -e 's/run [0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}/run RUN/' \
  -e 's/in [0-9.]+ s \([0-9.]+ MB\/s\)/in S s (R MB\/s)/' -e "s|$CLSYNC_STATE_DIR|STATE|" -e "s|$TMP|TMP|g" \
  -e 's/[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}\.ndjson/RUN.ndjson/' out | tr -s ' '  # widths follow \$TMP
