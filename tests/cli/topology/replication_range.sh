# More replicas than nodes; the topology is read from CLSYNC_CONFIG.
printf 'cluster: prod-a\nreplication: 3\nnodes:\n  - {name: P1, host: local, volumes: [/d1]}\n  - {name: P2, host: local, volumes: [/d2]}\n' > bad.yaml
CLSYNC_CONFIG=bad.yaml "$CLSYNC" status
