"$CLSYNC" demo --help
