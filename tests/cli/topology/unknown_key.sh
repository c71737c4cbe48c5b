# An unknown top-level key: exit 2, its position, and a suggestion.
cat > bad.yaml <<'YAML'
cluster: prod-a
replicaton: 2
nodes:
  - {name: P1, host: local, volumes: [/d/p1]}
YAML
"$CLSYNC" -c bad.yaml status
