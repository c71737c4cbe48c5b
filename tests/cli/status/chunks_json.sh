# --chunks --json lists every chunk with its partition values and both replicas.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --chunks --json >doc.json || exit 1
jq '.chunks | length' doc.json
jq -e '
  all(.chunks[]; (.key | test("^Level1(_TSDB)?/202006[01][0-9]/[0-9]/Snapshot$"))
                 and .key == "\(.db)/\(.partition.date)/\(.partition.hash)/\(.table)"
                 and (.partition | keys) == ["date", "hash"]
                 and .bytes == 32768 and .health == "healthy"
                 and ([.replicas[].node] == ["P1-dn1", "P2-dn1"])
                 and all(.replicas[]; .files == 29 and .bytes == 32768
                                      and (.fingerprint | test("^[0-9a-f]{64}$"))
                                      and (.volume | endswith("chunkData"))))
  and (.chunks | map(.key) | . == sort)
' doc.json
jq -r '.chunks[0].key' doc.json
