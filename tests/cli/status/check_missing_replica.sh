# --check exits 0 on the healthy demo and 5 once a replica directory is deleted by hand.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --check >/dev/null
echo "healthy: $?"
rm -rf "$TMP/d/a/P2-dn1/ssd0/chunkData/Level1/20200605/7/Snapshot"
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --check >out
rc=$?
grep '^health:' out
sed -n '/^Unhealthy/,/^$/p' out
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --check --json >doc.json
echo "json: $?"
jq -c '[.exit_code, .error, .health.under_replicated, .unhealthy[0].key, .nodes[1].chunks]' doc.json
# Without --check an unhealthy cluster is still exit 0.
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status >/dev/null
echo "no check: $?"
exit $rc
