#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Throughput of a large chunk copied between two loopback sshd nodes (127.0.0.2 → 127.0.0.3):
# clsync's transport (one stream, and N chunks in parallel) next to `scp -3` and `rsync -e ssh`
# of the same bytes between the same hosts. Every method runs RUNS times; medians and ratios
# are printed. clsync's figure includes its per-chunk fsync (durability, SPEC §5); scp and
# rsync are shown as-is and followed by `sync` of the destination, for a like-for-like view.
#
#   BUILD=build SIZE_MB=2048 RUNS=3 PAR=4 bench/ssh_throughput.sh
#
# Needs root (sshd on loopback with root login by key), openssh-server, rsync, and the built
# clsync, clsync-bench-ssh-copy targets.
set -euo pipefail

BUILD=${BUILD:-build}
SIZE_MB=${SIZE_MB:-2048}
RUNS=${RUNS:-3}
PAR=${PAR:-4}
PORT_BASE=${PORT_BASE:-}
CLSYNC=$(realpath "$BUILD/clsync")
DRIVER=$(realpath "$BUILD/bench/clsync-bench-ssh-copy")
[ -x "$CLSYNC" ] && [ -x "$DRIVER" ] || {
  echo "build first: cmake --build $BUILD --target clsync clsync-bench-ssh-copy" >&2
  exit 2
}

work=$(mktemp -d /var/tmp/clsync-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p /run/sshd "$work/src" "$work/dst"

. "$(dirname "$0")/loopback_sshd.sh"
PORT_BASE=${PORT_BASE:-$(free_port_base 24222 2 3)}
start_loopback_sshd "$work" "$PORT_BASE" 2 3
SSH_OPTS=(-i "$work/client" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o IdentitiesOnly=yes)
SRC="root@127.0.0.2"; SRC_PORT=$((PORT_BASE + 2))
DST="root@127.0.0.3"; DST_PORT=$((PORT_BASE + 3))

# One big chunk, and PAR chunks holding the same total.
key=Level1/20200601/Key1/Trades
mkdir -p "$work/src/$key"
head -c $((SIZE_MB << 20)) /dev/urandom > "$work/src/$key/big.col"
par_keys=()
for i in $(seq "$PAR"); do
  k=Level1/20200601/Key$((i + 1))/Trades
  mkdir -p "$work/src/$k"
  head -c $(((SIZE_MB << 20) / PAR)) /dev/urandom > "$work/src/$k/part.col"
  par_keys+=(--key "$k")
done
bytes=$((SIZE_MB << 20))

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f\n", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

clsync_copy() {
  "$DRIVER" --src "127.0.0.2:$SRC_PORT" --dst "127.0.0.3:$DST_PORT" --identity "$work/client" \
    --known-hosts "$work/known_hosts" --agent "$CLSYNC" --src-vol "$work/src" \
    --dst-vol "$work/dst" "$@" | awk '{print $2}'
}
scp3() {
  local t0 t1
  t0=$(now)
  scp -q -3 "${SSH_OPTS[@]}" "scp://$SRC:$SRC_PORT/$work/src/$key/big.col" \
    "scp://$DST:$DST_PORT/$work/dst/big.col"
  if [ "${1:-}" = sync ]; then sync -f "$work/dst/big.col"; fi
  t1=$(now)
  rm -f "$work/dst/big.col"
  elapsed "$t0" "$t1"
}
rsync_ssh() {
  # rsync runs on the source node and pushes to the destination node, as an operator would.
  local e="ssh ${SSH_OPTS[*]} -p $DST_PORT" t0 t1
  t0=$(now)
  ssh "${SSH_OPTS[@]}" -p "$SRC_PORT" "$SRC" \
    "rsync -a --whole-file -e '$e' '$work/src/$key/big.col' '$DST:$work/dst/big.col'"
  if [ "${1:-}" = sync ]; then sync -f "$work/dst/big.col"; fi
  t1=$(now)
  rm -f "$work/dst/big.col"
  elapsed "$t0" "$t1"
}

declare -A results
run() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do times+=("$("$@")"); done
  results[$name]=$(printf '%s\n' "${times[@]}" | median)
  printf '%-28s runs: %s\n' "$name" "${times[*]}" >&2
}

run "clsync 1 stream" clsync_copy --key "$key"
run "clsync $PAR streams" clsync_copy "${par_keys[@]}"
run "clsync 1 stream --compress" clsync_copy --key "$key" --compress 1
run "scp -3" scp3
run "scp -3 + sync" scp3 sync
run "rsync -e ssh" rsync_ssh
run "rsync -e ssh + sync" rsync_ssh sync

printf '\n%d MiB between 127.0.0.2 and 127.0.0.3, median of %d runs\n' "$SIZE_MB" "$RUNS"
printf '%-28s %10s %10s %14s\n' method seconds MB/s "vs scp -3"
base=${results["scp -3"]}
for name in "clsync 1 stream" "clsync $PAR streams" "clsync 1 stream --compress" "scp -3" \
            "scp -3 + sync" "rsync -e ssh" "rsync -e ssh + sync"; do
  s=${results[$name]}
  awk -v n="$name" -v s="$s" -v b="$bytes" -v base="$base" \
    'BEGIN {printf "%-28s %10.2f %10.0f %13.2fx\n", n, s, b / s / 1e6, base / s}'
done
