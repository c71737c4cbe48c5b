# replication must be a number.
printf 'cluster: prod-a\nreplication: two\nnodes:\n  - {name: P1, host: local, volumes: [/d]}\n' > bad.yaml
"$CLSYNC" -c bad.yaml status
