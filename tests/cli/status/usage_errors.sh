# Bad values of status's own flags are usage errors (exit 2), before any node is contacted.
"$CLSYNC" demo --dir "$TMP/d" >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --by node
echo "by: $?"
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --exclude-node P9
echo "exclude: $?"
"$CLSYNC" status
echo "no config: $?"
