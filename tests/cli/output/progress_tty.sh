# When stderr is a terminal it shows a progress bar (phase, tasks, bytes, rate) redrawn in place
# and cleared at the end, while stdout holds the report only: on a real pseudo-terminal (script)
# and with the hidden --fake-tty. Piped, stderr stays silent.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
TERM=xterm script -qec "'$CLSYNC' -c '$c' rebalance-nodes --by count --bwlimit 200K >'$TMP/out'" \
  "$TMP/tty.log" >/dev/null </dev/null
echo "script: $?"
grep -c '^rebalance-nodes: run ' "$TMP/out"
grep -c $'\033' "$TMP/out"
tr '\r' '\n' <"$TMP/tty.log" | grep -cE $'^\033\\[Kexecute [0-9]+/133 tasks  [0-9.]+ (B|KiB|MiB)/532\\.0 KiB  [0-9.]+ (B|KiB|MiB)/s' |
  awk '{ print ($1 > 0) ? "bar drawn" : "no bar" }'
"$CLSYNC" -c "$c" --fake-tty move-replicas --from-node P3-dn1 --by count --bwlimit 200K >out 2>err
echo "fake tty: $?"
tr '\r' '\n' <err | grep -cE $'^\033\\[Kexecute [0-9]+/133 tasks' | awk '{ print ($1 > 0) ? "bar drawn" : "no bar" }'
# The bar is cleared last: stderr ends with a carriage return and an erase-line.
tail -c 4 err | od -An -tx1 | tr -d ' \n'; echo
"$CLSYNC" -c "$c" move-replicas --from-node P1-dn1 --dry-run >/dev/null 2>err2
echo "pipe: $? $(wc -c <err2)"
