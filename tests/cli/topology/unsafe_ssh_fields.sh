# A user or host that ssh or a shell would read as something else (an option, a second word, a
# command) is a topology error (exit 2) naming the field with file:line:col.
try() { # YAML-VALUE-OF-USER YAML-VALUE-OF-HOST
  printf 'cluster: a\nreplication: 1\nssh:\n  user: %s\nnodes:\n  - name: n1\n    host: %s\n    volumes: [/srv]\n' "$1" "$2" >t.yaml
  "$CLSYNC" -c t.yaml status 2>&1
  echo "exit: $?"
}
try '"-oProxyCommand=touch pwned"' db1
try 'clsync' '"-oProxyCommand=touch pwned"'
try 'clsync' '"db1;touch pwned"'
try 'clsync' '"db1 -p 2222"'
try 'clsync' '"$(touch pwned)"'
try '"cl sync"' db1
try '"clsync`id`"' db1
[ -e pwned ] && echo "a command ran"
exit 0
