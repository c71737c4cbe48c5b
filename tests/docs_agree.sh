#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
#   bash tests/docs_agree.sh CLSYNC SOURCE_DIR
#
# README, --help and the man pages must tell the same story:
#  - every --option the README lists under "Options of the writing commands" exists in the
#    --help of each command it is listed for (all the commands the section names, or those a
#    bullet names before "only:");
#  - every --option on a `clsync COMMAND …` line of the README's examples exists in that
#    command's --help (or the global one);
#  - every --option of a command's --help is in its man page.
set -u
clsync=$1
src=$2
status=0
opts() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
global=$("$clsync" --help | opts)
help_of() { { "$clsync" "$1" --help; "$clsync" --help; } | opts; }
fail() { echo "FAIL: $*"; status=1; }

# The writing commands' section.
section=$(awk '/^### Options of the writing commands/ { on = 1; next } /^#/ { on = 0 } on' "$src/README.md")
[ -n "$section" ] || fail "README has no 'Options of the writing commands' section"
all=$(grep -m1 'share:$' <<<"$section" | grep -oE '`[a-z-]+`' | tr -d '`')
[ -n "$all" ] || fail "the section does not say which commands share the options"
# One bullet per line (continuation lines joined).
bullets=$(awk '/^- / { if (b) print b; b = $0; next } /^  / { b = b " " $0; next } { if (b) print b; b = "" } END { if (b) print b }' <<<"$section")
checked=0
while IFS= read -r bullet; do
  [ -n "$bullet" ] || continue
  cmds=$all
  if [[ $bullet =~ ^-\ ((\`[a-z-]+\`,?\ ?)+)\ only: ]]; then
    cmds=$(grep -oE '`[a-z-]+`' <<<"${BASH_REMATCH[1]}" | tr -d '`')
  fi
  for o in $(opts <<<"$bullet"); do
    for c in $cmds; do
      help_of "$c" | grep -qxF -- "$o" || fail "README lists $o for $c, but 'clsync $c --help' has no $o"
      checked=$((checked + 1))
    done
  done
done <<<"$bullets"

# The examples.
commands=$("$clsync" --help | awk '/^Subcommands:/ { on = 1; next } /^$/ { if (on) exit } on && /^  [a-z]/ { print $1 }')
[ -n "$commands" ] || fail "'clsync --help' lists no subcommands"
while IFS= read -r line; do
  words=($line)
  cmd=""
  for w in "${words[@]:1}"; do
    if grep -qxF -- "$w" <<<"$commands"; then
      cmd=$w
      break
    fi
  done
  [ -n "$cmd" ] || continue
  code=${line%%#*}
  code=${code%%|*} # what follows a pipe is another program's (jq's --arg)
  for o in $(opts <<<"$code"); do
    help_of "$cmd" | grep -qxF -- "$o" || fail "README runs 'clsync $cmd … $o', but 'clsync $cmd --help' has no $o"
    checked=$((checked + 1))
  done
done < <(grep -E '^clsync [a-z-]' "$src/README.md")

# --help against the man pages.
for c in $commands; do
  man=$src/man/clsync-$c.1
  [ -f "$man" ] || { fail "no man page for $c"; continue; }
  for o in $("$clsync" "$c" --help | opts); do
    grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$man" || fail "'clsync $c --help' has $o, man/clsync-$c.1 does not"
    checked=$((checked + 1))
  done
done
[ "$status" = 0 ] && echo "README, --help and man pages agree ($checked checks)"
exit $status
