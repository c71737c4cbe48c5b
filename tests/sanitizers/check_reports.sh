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
mapfile -t found < <(find "$dir" -type f -size +0 | sort)
# LeakSanitizer's exit check writes "Unable to get registers from thread N." when a thread it
# stopped is gone (ESRCH): the process was SIGKILLed during the check, as the crash and fault
# tests kill runs, and LSan then scans on without that thread. A file holding only such lines
# reports no leak and no error; any other line (a leak, an error) still fails the run.
reports=()
for r in "${found[@]}"; do
  if grep -qvE '^(==[0-9]+==Unable to get registers from thread [0-9]+\.)?$' "$r"; then
    reports+=("$r")
  else
    echo "ignored: $r (a process killed during its exit leak check: $(head -c 200 "$r"))"
  fi
done
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
