cat > bad.yaml <<'YAML'
cluster: prod-a
replication: 1
nodes:
  - name: P1
    host: local
    volumes:
      - /ssd/ssd0/chunkData
      - ssd1/chunkData
YAML
"$CLSYNC" -c bad.yaml status
