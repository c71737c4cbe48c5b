# With --json, the error is one JSON object on stderr and stdout stays empty.
printf 'cluster: a b\nreplication: 1\nnodes: []\n' > bad.yaml
"$CLSYNC" --json -c bad.yaml status 2> err.json
code=$?
jq -e '.type == "exit_error" and .code == 2 and (.message | startswith("bad.yaml:1:10: cluster:"))' err.json >/dev/null || { cat err.json >&2; exit 99; }
exit $code
