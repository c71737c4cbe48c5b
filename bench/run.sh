#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Every clsync-vs-baseline benchmark in one run (issue 10): builds clsync into BUILD when it is
# not there, builds the data with `clsync demo`, starts loopback sshd hosts (127.0.0.2-4, the
# real agent, one cipher), runs each pair RUNS times alternating (clsync, baseline, clsync,
# baseline, ...), drops the page caches before every timed step, and prints one markdown table:
# min / median / max of each side and the ratio of the medians, with the issue's goal where it
# sets one. The methods are in bench/README.md.
#
#   bench/run.sh                          # the defaults below
#   bench/run.sh --quick                  # tiny data, one run: proves every row works (CI)
#   bench/run.sh --only move-local,backup --runs 5 --chunk-size 16M
#   bench/run.sh --list                   # the row names
#
# Knobs (flag or environment): --runs RUNS (3), --chunk-size CHUNK (4M, the demo's chunk size),
# --dates DATES (10: the demo's dates kept; fewer drop the later ones, so fewer chunks move),
# --scan-dates SCAN_DATES (25: the scan tree is the demo's DATES dates over 1 KiB chunks, copied
# this many times: 5,000 chunks x 2 replicas x 29 files), BUILD (build), PORT_BASE (the first free of 28222, 28232, ...),
# XFS (ext4: loop-mounted ext4 images under the scratch directory; tmpfs to use tmpfs mounts),
# BENCH_TMP (/var/tmp, where the scratch directory goes), SYNC_RSS_LIMIT (64M: the --max-memory of
# the sync-rss rows), BENCH_CPU_LOG (a file: each timed step appends its seconds, the machine's
# busy CPU-seconds in it and its command; whether a step was bound by the CPUs). Needs root (page-cache drop, sshd with root login by key, mounts),
# openssh-server, rsync, zstd, jq, GNU time, e2fsprogs.
# Exit status: 0 when every selected row ran and checked its result, 1 when one failed (its
# table line says FAILED and its log is printed on stderr), 2 on a usage error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

ROWS=(rebalance-ssh rebalance-direct move-local disks-xfs disks-rename status status-rss
      status-json-rss backup push push-nochange restore sync-online sync-nochange sync-link
      sync-rss sync-rss-ssh)
RUNS=${RUNS:-3}
CHUNK=${CHUNK:-4M}
DATES=${DATES:-10}
SCAN_DATES=${SCAN_DATES:-25}
PORT_BASE=${PORT_BASE:-} # default: the first free of 28222, 28232, ... (after the sources below)
XFS=${XFS:-ext4}
only=""
usage() { sed -n '/^# Every/,/^# table line/p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RUNS=1 CHUNK=64K DATES=1 SCAN_DATES=1 ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --chunk-size) CHUNK=${2:?}; shift ;;
    --dates) DATES=${2:?}; shift ;;
    --scan-dates) SCAN_DATES=${2:?}; shift ;;
    --list) printf '%s\n' "${ROWS[@]}"; exit 0 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
  shift
done
selected=()
for row in ${only//,/ }; do
  # A prefix selects every row it starts: --only rebalance,status.
  matched=0
  for r in "${ROWS[@]}"; do
    case "$r" in "$row"*) selected+=("$r"); matched=1 ;; esac
  done
  [ "$matched" = 1 ] || { echo "run.sh: no row '$row' (--list)" >&2; exit 2; }
done
[ -n "$only" ] || selected=("${ROWS[@]}")
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (page-cache drop, sshd, mounts)" >&2; exit 2; }

. "$here/common.sh"
if [ ! -x "$BUILD/clsync" ]; then  # a clean clone: build what the bench runs (Release)
  echo "run.sh: building clsync and its static agent in $BUILD" >&2
  "$here/../scripts/install-deps.sh"
  cmake -S "$here/.." -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target clsync clsync-agent-static >&2
fi
if [ ! -x "$BUILD/bench/clsync-bench-link" ]; then  # the sync-link row's network link
  cmake --build "$BUILD" --target clsync-bench-link >&2
fi
. "$here/loopback_sshd.sh"
PORT_BASE=${PORT_BASE:-$(free_port_base 28222 2 3 4)}
. "$here/rows_move.sh"
. "$here/rows_scan.sh"
. "$here/rows_repo.sh"
bench_begin run
results="$work/results.md"
: > "$results"

# row NAME CLSYNC BASELINE DATA CLSYNC_STATS BASELINE_STATS RATE RATIO: one table line.
row() {
  local cells=() c
  for c in "$@"; do cells+=("${c//|/\\|}"); done  # a pipe in a cell would end it
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${cells[@]}" >> "$results"
}
mb() { printf '%.1f MB' "$(calc "$1 / 1e6")"; }
# rate AMOUNT SECONDS UNIT: "N UNIT/s".
rate() { printf '%.1f %s/s' "$(calc "$1 / $2")" "$3"; }
# speed_ratio CLSYNC_MEDIAN BASELINE_MEDIAN GOAL: the baseline's time over clsync's.
speed_ratio() { printf '%.2f×%s' "$(calc "$2 / $1")" "${3:+ (goal ≥ $3)}"; }

# --- the data: one demo for the move and repository rows, loopback sshd hosts ---------------
echo "run.sh: building the demo (--chunk-size $CHUNK) in $work" >&2
"$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
A="$work/demo/cluster-a.yaml"
# keep_dates DIR: only the first DATES dates of the demo in DIR (both databases, every node).
keep_dates() {
  local d
  for d in "$1"/a/*/ssd0/chunkData/*; do
    find "$d" -mindepth 1 -maxdepth 1 -printf "%f\n" | sort | tail -n +$((DATES + 1)) |
      while read -r date; do rm -rf "${d:?}/$date"; done
  done
}
keep_dates "$work/demo"
B="$work/demo/cluster-b.yaml"
avol() { echo "$work/demo/a/$1/ssd0/chunkData"; }
# One cipher everywhere (sshd offers only it), so clsync and OpenSSH's rsync pay the same.
SSHD_CIPHERS=aes128-gcm@openssh.com start_loopback_sshd "$work" "$PORT_BASE" 2 3 4
# The node-to-node key of `transfer: direct`: what the operator provisions on the nodes.
ssh-keygen -q -t ed25519 -N '' -C clsync-node -f "$work/node_key"
cat "$work/node_key.pub" >> "$work/authorized_keys"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
# The load average (1 min), every 10 s: the machine may be shared, the table says how much.
(while :; do cut -d' ' -f1 /proc/loadavg; sleep 10; done) > "$work/load" &
pids+=($!)
failed=()
# CPU seconds used so far by the rows (reaped children of this shell) and by the sshd servers
# with their sessions (reaped by them): what a row costs a loaded or a CI machine.
cpu_seconds() {
  local p t=0
  for p in "${pids[@]}"; do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  calc "($t + $(awk '{print $16 + $17}' /proc/$$/stat)) / $(getconf CLK_TCK)"
}
t_start=$(now) cpu_start=$(cpu_seconds)
for r in "${selected[@]}"; do
  echo "run.sh: $r ($(date -u +%T))" >&2
  t_row=$(now) cpu_row=$(cpu_seconds)
  before=$(wc -l < "$results")
  set +e
  (set -e; "row_${r//-/_}") > "$work/$r.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" != 0 ] || [ "$(wc -l < "$results")" = "$before" ]; then
    failed+=("$r")
    row "$r" FAILED "" "" "" "" "" ""
    { echo "run.sh: row $r failed (exit $rc); its log:"; cat "$work/$r.log"; } >&2
  fi
  printf 'run.sh: %s took %.1f s, %.1f CPU-s\n' "$r" "$(calc "$(now) - $t_row")" \
    "$(calc "$(cpu_seconds) - $cpu_row")" >&2
done
printf 'run.sh: the rows took %.1f s, %.1f CPU-s\n' "$(calc "$(now) - $t_start")" \
  "$(calc "$(cpu_seconds) - $cpu_start")" >&2

echo "$("$CLSYNC" --version | head -n 1), $started: $RUNS run(s) a side, alternating, page caches" \
  "dropped before each timed step, chunks of $CHUNK; $(nproc) cores ($(sed -n \
  's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB;" \
  "load average (1 min) $(sort -g "$work/load" | sed -n '1p;$p' | paste -sd-) during the run"
echo
echo "| row | clsync | baseline | data | clsync min / median / max | baseline min / median / max | clsync rate | ratio |"
echo "|---|---|---|---|---|---|---|---|"
cat "$results"
[ ${#failed[@]} = 0 ] || { echo "run.sh: failed rows: ${failed[*]}" >&2; exit 1; }
