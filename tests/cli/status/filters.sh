# Filters narrow every count: two dates of one database are 20 chunks.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --json --db Level1 --where 'date>=2020.06.09' |
  jq -c '[.filtered, .health.chunks, [.nodes[].chunks], .nodes[0].bytes]'
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --json --chunk Level1_TSDB/20200601/0/Snapshot \
  --chunk Level1/20200602/3/Snapshot | jq -c '[.health.chunks, .nodes[0].chunks, .nodes[2].chunks]'
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status --json --partition '20200602/*' --table Snapshot |
  jq -c '[.health.chunks, .nodes[1].chunks]'
