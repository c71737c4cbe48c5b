cat > bad.yaml <<'YAML'
cluster: prod-a
replication: 1
ssh:
  host_key_policy: off
nodes:
  - {name: P1, host: db1, volumes: [/d]}
YAML
"$CLSYNC" -c bad.yaml status
