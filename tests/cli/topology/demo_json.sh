# One JSON document, usable with jq; the topology files it names load.
"$CLSYNC" --json demo --dir d --chunk-size 4K >out.json || exit 98
jq -e --arg dir "$PWD/d" '
  .dir == $dir and .chunk_size == 4096 and
  (.clusters | length) == 2 and
  .clusters[0] == {name: "demo-a", file: ($dir + "/cluster-a.yaml"), nodes: 3, chunks: 200,
                   replicas: 400, bytes: 1638400} and
  .clusters[1].name == "demo-b" and .clusters[1].chunks == 0 and
  (.next | map(select(test("move-replicas --from-node P3-dn1"))) | length) == 1 and
  (.next[0] == "clsync -c " + $dir + "/cluster-a.yaml status")' out.json
[ "$(find d/a/P1-dn1 -type f | wc -l)" = 5800 ] || exit 97
[ "$(find d/a/P3-dn1 -type f | wc -l)" = 0 ] || exit 96
diff -r d/a/P1-dn1/ssd0/chunkData d/a/P2-dn1/ssd0/chunkData || exit 95
