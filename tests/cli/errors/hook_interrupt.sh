# SIGINT or SIGTERM during a hook kills the hook (and what it started) and the run exits 130,
# nothing changed when it was the --pre-hook.
alive() { # PID: running (a zombie, dead but not yet reaped by init, does not count)
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
for sig in INT TERM; do
  rm -f "$TMP/bg.pid"
  "$CLSYNC" -c "$c" rebalance-nodes --by count \
    --pre-hook "sleep 1000 & echo \$! >'$TMP/bg.pid'; wait" >/dev/null 2>err &
  pid=$!
  for _ in $(seq 1 600); do [ -s "$TMP/bg.pid" ] && break; sleep 0.1; done
  [ -s "$TMP/bg.pid" ] || { echo "the hook never started"; exit 1; }
  kill -"$sig" "$pid"
  wait "$pid"
  echo "SIG$sig: $?"
  alive "$(cat "$TMP/bg.pid")" && echo "the hook's child survived" || echo "the hook's child is gone"
  grep -c "interrupted during --pre-hook" err
done
"$CLSYNC" -c "$c" --json status | jq -c '[.nodes[].chunks]'
