: > empty.yaml
"$CLSYNC" -c empty.yaml status
