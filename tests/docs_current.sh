#!/usr/bin/env bash
# Fails when the committed man pages or completions differ from what the option tree generates:
# run scripts/gen-docs.sh after changing an option.
set -euo pipefail
docgen=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$docgen" "$src/man/src" "$tmp/man" "$tmp/completions"
status=0
for f in "$tmp"/man/*.1; do
  diff -u "$src/man/$(basename "$f")" "$f" || { echo "stale: man/$(basename "$f")"; status=1; }
done
for f in "$tmp"/completions/*; do
  diff -u "$src/completions/$(basename "$f")" "$f" || { echo "stale: completions/$(basename "$f")"; status=1; }
done
[ $status -eq 0 ] && echo "docs: man pages and completions are current" || echo "run scripts/gen-docs.sh"
# Every completion must load in its shell.
bash -n "$src/completions/clsync.bash" || status=1
zsh -n "$src/completions/_clsync" || status=1
fish --no-execute "$src/completions/clsync.fish" || status=1
# bash: completing "clsync st" offers status; "clsync status --ch" offers --check once built.
out=$(bash -c 'source "$1"; COMP_WORDS=(clsync st); COMP_CWORD=1; _clsync; echo "${COMPREPLY[*]}"' _ "$src/completions/clsync.bash")
[ "$out" = "status" ] || { echo "bash completion of 'clsync st' gave '$out'"; status=1; }
exit $status
