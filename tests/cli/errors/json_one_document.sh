# With --json, stdout carries exactly one JSON document whatever happens, with "error" and
# "exit_code", and the exit code is unchanged: a bad option (a CLI11 parse error), no
# subcommand, a topology error, a command missing its required options.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
one_doc() { # FILE: exactly one JSON value, an object with error and exit_code
  [ "$(jq -s 'length' "$1")" = 1 ] && jq -c '[.command, .exit_code, (.error | length > 0)]' "$1"
}
"$CLSYNC" --json -c "$c" status --frobnicate >o1 2>e1; echo "bad option: $?"; one_doc o1
jq -r '.type' e1
"$CLSYNC" -c "$c" rebalance-nodes --json --by sideways >o2 2>/dev/null; echo "bad value: $?"; one_doc o2
"$CLSYNC" --json >o3 2>/dev/null; echo "no subcommand: $?"; one_doc o3
printf 'cluster: a\nreplication: 1\nnodes:\n  - name: n1\n    host: "-oProxyCommand=touch x"\n    volumes: [/srv]\n' >bad.yaml
"$CLSYNC" --json -c bad.yaml rebalance-nodes >o4 2>/dev/null; echo "topology: $?"; one_doc o4
jq -r '.error' o4
"$CLSYNC" --json -c "$c" sync-online >o5 2>/dev/null; echo "missing --from/--to: $?"; one_doc o5
"$CLSYNC" --json -c "$c" status --tasks >o6 2>/dev/null; echo "ok: $?"; jq -s 'length' o6
