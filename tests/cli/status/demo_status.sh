# The seed scenario: 200 chunks on P1-dn1 and P2-dn1, none on P3-dn1, all healthy.
"$CLSYNC" demo --dir "$TMP/d" --chunk-size 32K >/dev/null || exit 1
"$CLSYNC" -c "$TMP/d/cluster-a.yaml" status >out || exit 1
# The node table is the first block; capacity and free space depend on the machine.
awk '/^$/ && n++ { exit } /^P[0-9]-dn1 / { print $1, $4, $5, $6 }' out
grep '^health:' out
if grep -q -e UNREACHABLE -e STATE out; then echo "unexpected state column"; fi
