# --hook-timeout kills a hook past its deadline with its whole process group (what the hook
# started too), and says so: --on-move is a warning, --pre-hook refuses the run.
alive() { # PID: running (a zombie, dead but not yet reaped by init, does not count)
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
"$CLSYNC" -c "$c" rebalance-nodes --by count --max-bytes 1 --hook-timeout 1s \
  --on-move "sleep 1000 & echo \$! >'$TMP/bg.pid'; wait" >/dev/null 2>err
echo "on-move: $?"
grep -c -- "--on-move was killed: it ran past --hook-timeout for chunk " err
alive "$(cat "$TMP/bg.pid")" && echo "the hook's child survived" || echo "the hook's child is gone"
"$CLSYNC" -c "$c" rebalance-nodes --by count --hook-timeout 1s --pre-hook 'sleep 1000' >/dev/null 2>err
echo "pre-hook: $?"
cat err
"$CLSYNC" -c "$c" --json status | jq -c '[.nodes[].chunks]'
"$CLSYNC" -c "$c" rebalance-nodes --hook-timeout 0 2>&1; echo "zero: $?"
