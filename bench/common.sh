# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# What every bench script starts with (sourced, not run): the clsync binary of $BUILD, a scratch
# directory removed on exit together with any server the script started (pids), a state
# directory of the bench's own, and the timing helpers.
#
#   . "$(dirname "$0")/common.sh"; bench_begin NAME     # sets CLSYNC, work, pids

BUILD=${BUILD:-build}

bench_begin() {
  CLSYNC=$(realpath "$BUILD/clsync")
  [ -x "$CLSYNC" ] || { echo "build clsync first (cmake --build $BUILD --target clsync)" >&2; exit 2; }
  work=$(mktemp -d "/var/tmp/clsync-bench-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  export CLSYNC_STATE_DIR="$work/state"
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# Production data is cold: every timed step starts with empty page caches.
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
