printf 'cluster: prod-a\nnodes: [P1, P2\nreplication: 2\n' > bad.yaml
"$CLSYNC" -c bad.yaml status
