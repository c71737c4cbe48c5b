# --by db adds a table of chunks, replicas and bytes per database and replicas per node.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --by db | sed -n '/^By db/,$p'
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --by table --json |
  jq -c '.groups[] | [.name, .db, .table, .chunks, .replicas, .bytes, .per_node["P3-dn1"]]'
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --by volume --json |
  jq -c '.groups[] | [.node, .chunks, .replicas, .bytes]'
