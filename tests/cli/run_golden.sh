#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Golden CLI tests, in the style of zstd's tests/cli-tests.
#
#   bash tests/cli/run_golden.sh CASE_DIR CLSYNC [--set-exact-output] [CASE...]
#
# Runs every CASE_DIR/<case>.sh (or only the named cases) with bash, in a fresh scratch
# directory that is also exported as $TMP, with $CLSYNC set to the binary under test and $CASES
# to CASE_DIR. Then compares:
#   <case>.exit          the exit status (default 0)
#   <case>.stdout.exact  stdout, byte for byte        or
#   <case>.stdout.glob   stdout as a bash glob pattern (`*` also matches newlines)
#   <case>.stderr.exact / <case>.stderr.glob   the same for stderr
# A missing expectation file is not checked. On a mismatch the diff is printed.
# --set-exact-output rewrites the existing .exact files (and .exit) from what the cases print.
# Each case gets $CLSYNC_GOLDEN_CASE_TIMEOUT seconds (300 unless set; sanitizer builds set more).
# Exit status: 0 when every case passed, 1 otherwise, 2 for bad usage.

set -u

usage() {
  echo "usage: $0 CASE_DIR CLSYNC [--set-exact-output] [CASE...]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
case_dir=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no directory $1" >&2; exit 2; }
clsync=$2
shift 2
case "$clsync" in
  /*) ;;
  *) clsync=$(pwd)/$clsync ;;
esac
[ -x "$clsync" ] || { echo "$0: $clsync is not an executable" >&2; exit 2; }

set_exact=0
only=()
for arg in "$@"; do
  case "$arg" in
    --set-exact-output) set_exact=1 ;;
    -*) usage ;;
    *) only+=("$arg") ;;
  esac
done

scratch_root=$(mktemp -d "${TMPDIR:-/tmp}/clsync-golden.XXXXXX")
keep_scratch=0
cleanup() {
  if [ "$keep_scratch" = 0 ]; then
    rm -rf "$scratch_root"
  else
    echo "scratch kept for a look: $scratch_root"
  fi
}
trap cleanup EXIT

# Compares `actual` with an expectation file; prints the difference and returns 1 on mismatch.
check_output() {
  local name=$1 what=$2 actual=$3 expected_base=$4
  if [ -f "$expected_base.exact" ]; then
    if [ "$set_exact" = 1 ]; then
      cp "$actual" "$expected_base.exact"
      return 0
    fi
    if ! cmp -s "$actual" "$expected_base.exact"; then
      echo "FAIL $name: $what differs from $(basename "$expected_base").exact:"
      diff -u "$expected_base.exact" "$actual" | sed 's/^/    /'
      return 1
    fi
  elif [ -f "$expected_base.glob" ]; then
    local got pattern
    got=$(cat "$actual")
    pattern=$(cat "$expected_base.glob")
    # shellcheck disable=SC2053  # the right side is a glob on purpose
    if [[ $got != $pattern ]]; then
      echo "FAIL $name: $what does not match $(basename "$expected_base").glob:"
      diff -u "$expected_base.glob" "$actual" | sed 's/^/    /'
      return 1
    fi
  fi
  return 0
}

cases=()
if [ ${#only[@]} -gt 0 ]; then
  for c in "${only[@]}"; do
    cases+=("$case_dir/${c%.sh}.sh")
  done
else
  for c in "$case_dir"/*.sh; do
    [ -e "$c" ] && cases+=("$c")
  done
fi
if [ ${#cases[@]} -eq 0 ]; then
  echo "$0: no cases (*.sh) in $case_dir" >&2
  exit 1
fi

passed=0
failed=0
for script in "${cases[@]}"; do
  name=$(basename "$script" .sh)
  base=$case_dir/$name
  if [ ! -f "$script" ]; then
    echo "FAIL $name: no such case"
    failed=$((failed + 1))
    continue
  fi
  work=$scratch_root/$name
  mkdir -p "$work/tmp"
  out=$work/stdout
  err=$work/stderr
  (
    cd "$work/tmp" || exit 99
    export CLSYNC="$clsync" TMP="$work/tmp" TMPDIR="$work/tmp" CASES="$case_dir"
    export NO_COLOR=1 LC_ALL=C TZ=UTC
    unset CLSYNC_CONFIG CLSYNC_STATE_DIR
    export CLSYNC_STATE_DIR="$work/state"
    exec timeout "${CLSYNC_GOLDEN_CASE_TIMEOUT:-300}" bash "$script"
  ) >"$out" 2>"$err" </dev/null
  status=$?

  ok=1
  want_exit=0
  [ -f "$base.exit" ] && want_exit=$(tr -d ' \n' <"$base.exit")
  if [ "$status" != "$want_exit" ]; then
    if [ "$set_exact" = 1 ] && [ -f "$base.exit" ]; then
      echo "$status" >"$base.exit"
    else
      echo "FAIL $name: exit status $status, expected $want_exit"
      ok=0
    fi
  fi
  check_output "$name" stdout "$out" "$base.stdout" || ok=0
  check_output "$name" stderr "$err" "$base.stderr" || ok=0
  if [ "$ok" = 1 ]; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    if [ -s "$err" ] && [ ! -f "$base.stderr.exact" ] && [ ! -f "$base.stderr.glob" ]; then
      echo "    stderr was:"
      sed 's/^/    /' "$err"
    fi
    failed=$((failed + 1))
    keep_scratch=1
  fi
done

echo "$passed passed, $failed failed ($(basename "$case_dir"))"
[ "$failed" = 0 ]
