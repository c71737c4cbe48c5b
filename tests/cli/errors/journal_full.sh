# A journal line that cannot be written (the state directory is full) stops the run from
# starting new tasks, says so naming the file and the errno, and the exit code says the run is
# not done. The chunks stay whole.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
mkdir -p "$TMP/state"
mount -t tmpfs -o size=128k tmpfs "$TMP/state" || { echo "cannot mount a tmpfs (needs root)"; exit 1; }
trap 'umount -l "$TMP/state"' EXIT
# Leave room for the header, the queued lines and some tasks' lines, not for every task's.
head -c $((60 * 1024)) /dev/zero >"$TMP/state/filler" 2>/dev/null
CLSYNC_STATE_DIR="$TMP/state" "$CLSYNC" -c "$c" --json rebalance-nodes --by count >run.json 2>err
rc=$?
echo "exit: $rc"
grep -c "cannot write the task journal $TMP/state/demo-a/runs/.*\.ndjson: No space left on device; no new task is started" err
jq -c '[.result, .exit_code, .tasks.not_started > 0, .tasks.finished < 133,
        (.notes | map(select(.reason | test("No space left on device"))) | length)]' run.json
rm -f "$TMP/state/filler"
"$CLSYNC" -c "$c" --json status | jq -c '[.health.healthy, .leftovers]'
