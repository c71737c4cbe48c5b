"$CLSYNC" demo --dir d --skew 1.5
code=$?
[ ! -e d ] || exit 99  # refused before anything was made
exit $code
