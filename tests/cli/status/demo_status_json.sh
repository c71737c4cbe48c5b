# The --json document of the demo cluster has the documented fields and values.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" --json status >doc.json || exit 1
jq -e '
  .cluster == "demo-a" and .replication == 2 and .exit_code == 0 and (has("error") | not)
  and ([.nodes[].name] == ["P1-dn1", "P2-dn1", "P3-dn1"])
  and ([.nodes[].chunks] == [200, 200, 0])
  and ([.nodes[].bytes] == [6553600, 6553600, 0])
  and all(.nodes[]; .host == "local" and .reachable == true and (has("error") | not)
                    and .capacity_bytes > 0 and .free_bytes > 0 and (.volumes | length) == 1)
  and ([.nodes[].volumes[0].chunks] == [200, 200, 0])
  and all(.nodes[].volumes[]; (.path | startswith("/")) and has("bytes")
                              and has("capacity_bytes") and has("free_bytes"))
  and .health == {"chunks": 200, "healthy": 200, "under_replicated": 0, "over_replicated": 0,
                  "duplicate_on_node": 0, "divergent": 0, "zone_unsafe": 0}
  and .balance.shares == "capacity" and .balance.chunks.max == 200 and .balance.chunks.min == 0
  and .balance.bytes.max == 6553600
  and .unhealthy == [] and .unmanaged == [] and .leftovers == [] and .problems == []
  and (has("chunks") | not) and (has("groups") | not)
' doc.json
