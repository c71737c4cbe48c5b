"$CLSYNC" -c nowhere.yaml status
