#!/usr/bin/env bash
# Sanitizer builds: `clear DIR` empties the report directory before the tests, `check DIR`
# fails when any process (clsync, an agent started by sshd, a test binary) wrote a report there.
set -euo pipefail
mode=$1 dir=$2
mkdir -p "$dir"
if [ "$mode" = clear ]; then
  find "$dir" -mindepth 1 -delete
  exit 0
fi
mapfile -t reports < <(find "$dir" -type f -size +0 | sort)
if [ ${#reports[@]} -eq 0 ]; then
  echo "no sanitizer reports in $dir"
  exit 0
fi
echo "${#reports[@]} sanitizer report(s) in $dir:" >&2
for r in "${reports[@]}"; do
  echo "===== $r" >&2
  head -n 60 "$r" >&2
done
exit 1
