#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
#   bash tests/check_suites.sh CLSYNC_INTEGRATION SUITE[,SUITE...]
#
# Fails when the integration binary holds a doctest test suite that CTest does not run (the
# comma-separated list is what tests/CMakeLists.txt registered), or when a registered suite has
# no test case (a typo would otherwise run nothing and pass).
set -u
bin=$1
registered=$2
listed=$("$bin" --list-test-suites --no-version=true 2>&1 |
  sed -n '/listing all test suites/,/unskipped test cases/p' | grep -v '^\[doctest\]\|^====' |
  sed 's/[[:space:]]*$//' | grep -v '^$' | sort -u)
if [ -z "$listed" ]; then
  echo "FAIL: $bin listed no test suites"
  exit 1
fi
want=$(tr ',' '\n' <<<"$registered" | grep -v '^$' | sort -u)
status=0
while IFS= read -r s; do
  if ! grep -qxF -- "$s" <<<"$want"; then
    echo "FAIL: suite '$s' is in the integration binary but not registered with CTest"
    status=1
  fi
done <<<"$listed"
while IFS= read -r s; do
  if ! grep -qxF -- "$s" <<<"$listed"; then
    echo "FAIL: suite '$s' is registered with CTest but has no test case in the binary"
    status=1
  fi
done <<<"$want"
[ "$status" = 0 ] && echo "every integration suite is registered: $(wc -l <<<"$listed")"
exit $status
