#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Push throughput: `clsync push REPO ssh://…` of a backup repository to a loopback-sshd host
# (127.0.0.2, the real agent) next to `rsync -a -e ssh` of the repository folder; then a
# no-change push next to rsync's no-change run. Each step runs RUNS times with page caches
# dropped before it; medians and ratios are printed. rsync is followed by `sync` (clsync push
# fsyncs every object and snapshot itself).
#
# The repository: `clsync demo --chunk-size CHUNK` data, the first CHUNKS chunk directories of
# P1-dn1 each packed with `tar -cf - | zstd -3` into objects/<aa>/<hash>.tar.zst, and one
# snapshot naming them (what `clsync backup` writes; the content hash here is a stand-in).
#
#   BUILD=build CHUNK=16M CHUNKS=96 RUNS=3 bench/bench_push.sh
#
# Needs root (page-cache drop, sshd with root login by key), openssh-server, rsync, zstd, jq,
# python3.
set -euo pipefail

CHUNK=${CHUNK:-16M}
CHUNKS=${CHUNKS:-96}
RUNS=${RUNS:-3}
PORT_BASE=${PORT_BASE:-26222}
. "$(dirname "$0")/common.sh"
bench_begin push

# --- the repository (built once, kept in $REPO for later runs) -------------------------------
repo=${REPO:-/var/tmp/clsync-bench-push-repo}
if [ ! -f "$repo.complete" ]; then
  rm -rf "$repo"
  "$CLSYNC" demo --dir "$work/demo" --chunk-size "$CHUNK" >/dev/null
  vol="$work/demo/a/P1-dn1/ssd0/chunkData"
  mkdir -p "$repo/objects" "$repo/snapshots"
  chmod 700 "$repo"
  echo '{"format": "clsync-repo", "version": 1}' > "$repo/clsync-repo.json"
  (cd "$vol" && find . -mindepth 4 -maxdepth 4 -type d | sed 's|^\./||' | sort | head -n "$CHUNKS") \
    > "$work/keys"
  pack() {  # $1: chunk key → "key hash sha256 size" on stdout
    local key=$1 hash obj
    hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
    obj="$repo/objects/${hash:0:2}/$hash.tar.zst"
    mkdir -p "$(dirname "$obj")"
    tar -C "$vol/$key" -cf - . | zstd -q -3 -o "$obj"
    echo "$key $hash $(sha256sum "$obj" | cut -d' ' -f1) $(stat -c %s "$obj")"
  }
  export -f pack
  export vol repo
  xargs -a "$work/keys" -P 2 -I{} bash -c 'pack "$@"' _ {} > "$repo.objects"
  python3 "$(dirname "$0")/push_snapshot.py" "$repo.objects" "$vol" > "$work/snap.json"
  cp "$work/snap.json" "$repo/snapshots/$(jq -r .id "$work/snap.json").json"
  rm -rf "$work/demo"
  touch "$repo.complete"
fi
bytes=$(du -sb "$repo" | cut -f1)
objects=$(wc -l < "$repo.objects")

# --- the host ---------------------------------------------------------------------------------
. "$(dirname "$0")/loopback_sshd.sh"
start_loopback_sshd "$work" "$PORT_BASE" 2
port=$((PORT_BASE + 2))
SSH_CMD="ssh -i $work/client -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p $port"
# The agent a node runs: the static one --deploy-agent installs (stripped, no shared libraries:
# 3 ms of CPU to start where the RelWithDebInfo clsync takes 26 ms); AGENT overrides.
AGENT=${AGENT:-$(realpath "$BUILD/clsync-agent-static" 2>/dev/null || echo "$CLSYNC")}
CONNECT=(--identity "$work/client" --known-hosts "$work/known_hosts" --agent-command "$AGENT")

timed() {  # runs "$@" after dropping caches; prints seconds
  drop_caches
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  sync
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
clsync_push() { "$CLSYNC" push "$repo" "ssh://root@127.0.0.2:$port$work/dst-clsync" "${CONNECT[@]}"; }
rsync_push() { rsync -a -e "$SSH_CMD" "$repo/" "root@127.0.0.2:$work/dst-rsync/"; }
ssh_true() { $SSH_CMD root@127.0.0.2 true; }  # the floor: one SSH session that does nothing

declare -A times
for r in $(seq "$RUNS"); do
  rm -rf "$work/dst-clsync" "$work/dst-rsync"
  times[push]+=" $(timed clsync_push)"
  times[rsync]+=" $(timed rsync_push)"
  times[push0]+=" $(timed clsync_push)"
  times[rsync0]+=" $(timed rsync_push)"
  times[ssh0]+=" $(timed ssh_true)"
done
diff -r "$repo" "$work/dst-clsync" >/dev/null || { echo "the pushed repository differs" >&2; exit 1; }

# shellcheck disable=SC2086
{
  p=$(median ${times[push]}); r=$(median ${times[rsync]})
  p0=$(median ${times[push0]}); r0=$(median ${times[rsync0]}); s0=$(median ${times[ssh0]})
}
echo "push of $objects objects + 1 snapshot ($bytes bytes) to loopback sshd; $RUNS runs, medians"
printf '%-34s %9s %9s\n' step seconds MB/s
printf '%-34s %9.2f %9.1f\n' "clsync push (full)" "$p" "$(echo "$bytes / 1000000 / $p" | bc -l)"
printf '%-34s %9.2f %9.1f\n' "rsync -a -e ssh + sync (full)" "$r" "$(echo "$bytes / 1000000 / $r" | bc -l)"
printf '%-34s %9.3f\n' "clsync push (no change)" "$p0"
printf '%-34s %9.3f\n' "rsync -a -e ssh (no change)" "$r0"
printf '%-34s %9.3f\n' "ssh HOST true (the floor)" "$s0"
printf 'throughput ratio clsync/rsync: %.2fx (goal >= 1.0)\n' "$(echo "$r / $p" | bc -l)"
printf 'no-change time ratio clsync/rsync: %.2fx (goal <= 0.5)\n' "$(echo "$p0 / $r0" | bc -l)"
echo "runs (s): push${times[push]}; rsync${times[rsync]}; push0${times[push0]}; rsync0${times[rsync0]}; ssh0${times[ssh0]}"
