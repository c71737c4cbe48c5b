# A node nobody answers for is reported as unreachable, the others still counted: exit 3.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
sed 's/^databases:/  - name: P4-dn1\n    host: 127.0.0.1\n    port: 1\n    volumes: [\/srv\/chunkData]\ndatabases:/' \
  "$TMP/d/cluster-a.yaml" >c.yaml
"$CLSYNC" -c c.yaml status >out 2>err
rc=$?
awk '/^$/ && n++ { exit } /^P[0-4]-dn1 / { print $1, $4 } / UNREACHABLE$/ { print $1, "UNREACHABLE" }' out
grep -c '^  P4-dn1 (127.0.0.1): ' out
grep -c 'P4-dn1' err
"$CLSYNC" -c c.yaml --json status 2>/dev/null |
  jq -c '[.exit_code, .error, .nodes[3].reachable, (.nodes[3].error | length > 0), [.nodes[].chunks]]'
"$CLSYNC" -c c.yaml status --exclude-node P4-dn1 >out
echo "excluded: $?"
awk '/^$/ && n++ { exit } /^P4-dn1 / { print $1, $NF }' out
exit $rc
