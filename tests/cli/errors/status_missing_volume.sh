# A missing volume hides its replicas as surely as an unreachable node: status exits 3 and the
# JSON says which volume.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 4K >/dev/null || exit 1
c="$TMP/d/cluster-a.yaml"
mv "$TMP/d/a/P3-dn1/ssd0/chunkData" "$TMP/gone"
"$CLSYNC" -c "$c" status >/dev/null 2>&1; echo "text: $?"
"$CLSYNC" -c "$c" --json status 2>/dev/null >s.json; echo "json: $?"
jq -r '.error' s.json | sed "s|$TMP|TMP|g" | sed 's/ (.*)$/ (WHY)/'
jq -c '[.nodes[2].reachable, .nodes[2].volumes[0].ok]' s.json
mv "$TMP/gone" "$TMP/d/a/P3-dn1/ssd0/chunkData"
"$CLSYNC" -c "$c" status >/dev/null 2>&1; echo "back: $?"
