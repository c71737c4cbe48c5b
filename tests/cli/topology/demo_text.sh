# The text result says what was built and what to try next; --force rebuilds it.
"$CLSYNC" demo --dir d --chunk-size 1K >/dev/null || exit 98
"$CLSYNC" demo --dir d --force
