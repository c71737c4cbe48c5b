"$CLSYNC" --help
