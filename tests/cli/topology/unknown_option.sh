"$CLSYNC" --frobnicate demo --dir d
