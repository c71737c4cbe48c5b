# With --json, the error is one JSON object on stderr, and stdout holds exactly one document
# saying what failed, with the exit code (SPEC §9: printed whatever the outcome).
printf 'cluster: a b\nreplication: 1\nnodes: []\n' > bad.yaml
"$CLSYNC" --json -c bad.yaml status 2> err.json > out.json
code=$?
jq -e '.type == "exit_error" and .code == 2 and (.message | startswith("bad.yaml:1:10: cluster:"))' err.json >/dev/null || { cat err.json >&2; exit 99; }
[ "$(jq -s length out.json)" = 1 ] || { cat out.json >&2; exit 98; }
jq -e '.command == "status" and .result == "failed" and .exit_code == 2 and (.error | startswith("bad.yaml:1:10: cluster:"))' out.json >/dev/null || { cat out.json >&2; exit 97; }
exit $code
