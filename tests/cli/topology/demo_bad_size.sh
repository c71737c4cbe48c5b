"$CLSYNC" demo --dir d --chunk-size 5X
