cat > bad.yaml <<'YAML'
cluster: prod-a
replication: 1
nodes:
  - name: P1
    host: 10.0.0.1
    volumes: [/d]
  - name: P1
    host: 10.0.0.2
    volumes: [/d]
YAML
"$CLSYNC" -c bad.yaml status
