# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
# shellcheck shell=bash disable=SC2154
#
# bench/run.sh's move rows (sourced): rebalance-nodes relayed over sshd, with `transfer: direct`
# and on local nodes; rebalance-disks across two file systems and on one. Each row plans once
# (--dry-run --json), then RUNS times: clsync's whole move (SPEC §5: hashes on both ends, fsync,
# intents, journal, source removal) timed, the cluster put back untimed, the baseline copying the
# same chunk directories timed, its copy removed untimed. Uses run.sh's globals (A, RUNS, work).

# plan CFG ARGS...: the dry-run plan of `clsync -c CFG --json ARGS...` in $work/plan.json;
# plan_moves and plan_bytes; $work/keys.N holds the chunks moved from source volume $work/vols[N].
plan() {
  local cfg=$1 n=0 vol; shift
  "$CLSYNC" -c "$cfg" --json "$@" --dry-run > "$work/plan.json"
  plan_moves=$(jq '.summary.moves' "$work/plan.json")
  plan_bytes=$(jq '.summary.bytes' "$work/plan.json")
  [ "$plan_moves" -gt 0 ] || { echo "the plan moves nothing" >&2; return 1; }
  rm -f "$work"/keys.*
  vols=()
  while read -r vol; do
    vols+=("$vol")
    jq -r --arg v "$vol" '.moves[] | select(.from.volume == $v) | .chunk' "$work/plan.json" \
      > "$work/keys.$n"
    n=$((n + 1))
  done < <(jq -r '[.moves[].from.volume] | unique[]' "$work/plan.json")
}

# moved JSON [JQ]: the run did the whole plan (and JQ holds).
moved() {
  jq -e --argjson n "$plan_moves" "(.tasks.finished == \$n and .tasks.failed == 0)${2:+ and ($2)}" \
    "$1" >/dev/null || { echo "the run did not do the plan ($plan_moves moves):" >&2; cat "$1" >&2; return 1; }
}

# The baselines: the plan's chunk directories copied into DST (cp -a, rsync -a over ssh to
# 127.0.0.4), one command per source volume, as a script would.
copy_cp() {
  local i
  for i in "${!vols[@]}"; do
    (cd "${vols[$i]}" && xargs -a "$work/keys.$i" cp -a --parents -t "$1")
  done
}
copy_rsync_ssh() {
  local i
  for i in "${!vols[@]}"; do
    rsync -a -r -e "$(ssh_cmd $((PORT_BASE + 4)))" --files-from="$work/keys.$i" "${vols[$i]}/" \
      "root@127.0.0.4:$1/"
  done
}

# nodes_pair CFG BASELINE(cp|rsync_ssh) CLSYNC_TEXT BASELINE_TEXT GOAL [JQ [FLAGS]]: one row of
# `rebalance-nodes --by count` on the demo (133 of 400 replicas move to the empty P3-dn1).
nodes_pair() {
  local cfg=$1 base=$2 ctext=$3 btext=$4 goal=$5 check=${6:-} flags=${7:-} r c=() b=()
  "$CLSYNC" -c "$A" move-replicas --from-node P3-dn1 >/dev/null  # whatever a failed row left
  plan "$A" rebalance-nodes --by count
  for r in $(seq "$RUNS"); do
    # shellcheck disable=SC2086
    c+=("$(timed "$work/out.json" "$CLSYNC" -c "$cfg" --json rebalance-nodes --by count $flags)")
    moved "$work/out.json" "$check"
    "$CLSYNC" -c "$A" move-replicas --from-node P3-dn1 >/dev/null  # back as it was
    mkdir -p "$work/dst"
    b+=("$(timed /dev/null "copy_$base" "$work/dst")")
    rm -rf "$work/dst"
  done
  row "$ROW" "$ctext" "$btext" "$plan_moves chunks, $(mb "$plan_bytes")" \
    "$(spread %.2f "${c[@]}") s" "$(spread %.2f "${b[@]}") s" \
    "$(rate "$(calc "$plan_bytes / 1e6")" "$(median "${c[@]}")" MB)" \
    "$(speed_ratio "$(median "${c[@]}")" "$(median "${b[@]}")" "$goal")"
}

row_rebalance_ssh() {
  ssh_topology "$A" "$PORT_BASE" 2 > "$work/ssh.yaml"
  ROW=rebalance-ssh nodes_pair "$work/ssh.yaml" rsync_ssh \
    "rebalance-nodes, 3 sshd nodes, relayed" "\`rsync -a -e ssh\` + sync" 1.0
}

row_rebalance_direct() {
  ssh_topology "$A" "$PORT_BASE" 2 "transfer: direct
direct:
  identity: $work/node_key
  known_hosts: $work/known_hosts" > "$work/direct.yaml"
  ROW=rebalance-direct nodes_pair "$work/direct.yaml" rsync_ssh \
    "rebalance-nodes, 3 sshd nodes, \`transfer: direct\`" "\`rsync -a -e ssh\` + sync" 1.3 \
    ".tasks.bytes_relayed == 0 and .tasks.bytes_direct > 0" --direct-only
}

row_move_local() {
  ROW=move-local nodes_pair "$A" cp "rebalance-nodes, 3 local nodes" "\`cp -a\` + sync" 0.9
}

# disks_pair CFG NODE_ARGS BASELINE DRAIN_ARGS... : one row of `rebalance-disks --by count`; the
# chunks go back with `move-replicas DRAIN_ARGS` (untimed).
disks_pair() {
  local cfg=$1 nodes=$2 base=$3 r c=() b=() d; shift 3
  # shellcheck disable=SC2086
  plan "$cfg" rebalance-disks $nodes --by count
  for r in $(seq "$RUNS"); do
    # shellcheck disable=SC2086
    c+=("$(timed "$work/out.json" "$CLSYNC" -c "$cfg" --json rebalance-disks $nodes --by count)")
    moved "$work/out.json"
    for d in "$@"; do
      # shellcheck disable=SC2086
      "$CLSYNC" -c "$cfg" move-replicas $d >/dev/null
    done
    b+=("$(timed /dev/null "$base" forth)")
    "$base" back
  done
  CT=("${c[@]}") BT=("${b[@]}")
}

# The cross-file-system baseline: the planned chunks copied onto the destination file system.
xfs_cp() {
  if [ "$1" = forth ]; then
    mkdir -p "$xfs_dst" && copy_cp "$xfs_dst"
  else
    rm -rf "$xfs_dst"
  fi
}

row_disks_xfs() {
  local kind=$XFS src v bytes
  src=$(avol P1-dn1)
  bytes=$(du -sb "$src" | cut -f1)
  for v in x y; do
    # Each file system can hold all of P1-dn1's chunks, with room to spare.
    truncate -s $((bytes * 3 / 2 + (64 << 20))) "$work/fs-$v.img"
    if [ "$kind" = ext4 ] && ! bench_mount ext4 "$work/fs-$v" "$work/fs-$v.img"; then
      echo "no loop ext4 here: tmpfs instead" >&2
      kind=tmpfs
    fi
    [ "$kind" = ext4 ] || bench_mount tmpfs "$work/fs-$v"
    mkdir -p "$work/fs-$v/chunkData"
  done
  cp -a "$src/." "$work/fs-x/chunkData/"
  {
    echo "cluster: bench-xfs"
    echo "replication: 1"
    echo "nodes:"
    echo "  - name: D1"
    echo "    host: local"
    echo "    volumes: [\"$work/fs-x/chunkData\", \"$work/fs-y/chunkData\"]"
    sed -n '/^databases:/,$p' "$A"
  } > "$work/xfs.yaml"
  xfs_dst="$work/fs-y/cp"
  disks_pair "$work/xfs.yaml" "--node D1" xfs_cp "--node D1 --from-volume $work/fs-y/chunkData"
  row disks-xfs "rebalance-disks, 2 $kind file systems" "\`cp -a\` + sync" \
    "$plan_moves chunks, $(mb "$plan_bytes")" \
    "$(spread %.2f "${CT[@]}") s" "$(spread %.2f "${BT[@]}") s" \
    "$(rate "$(calc "$plan_bytes / 1e6")" "$(median "${CT[@]}")" MB)" \
    "$(speed_ratio "$(median "${CT[@]}")" "$(median "${BT[@]}")" 0.9)"
}

# The same-file-system baseline: one process renaming the planned chunks (parents made as
# needed), then sync: the system calls a rename costs, nothing else; `back` undoes it.
rename_floor() {
  jq -r '.moves[] | "\(.from.volume)/\(.chunk)\t\(.to.volume)/\(.chunk)"' "$work/plan.json" |
    WAY=$1 perl -MFile::Path=make_path -MFile::Basename -ne '
      chomp; my ($s, $d) = split /\t/; ($s, $d) = ($d, $s) if $ENV{WAY} eq "back";
      make_path(dirname($d)); rename($s, $d) or die "rename $s: $!\n";
      if ($ENV{WAY} eq "back") { my $p = dirname($s); rmdir($p) && rmdir(dirname($p)); }'
}

row_disks_rename() {
  scan_tree
  local cfg="$work/scan/cluster-a.yaml"
  disks_pair "$cfg" --all-nodes rename_floor \
    "--node P1-dn1 --from-volume $work/scan/a/P1-dn1/ssd1/chunkData" \
    "--node P2-dn1 --from-volume $work/scan/a/P2-dn1/ssd1/chunkData"
  row disks-rename "rebalance-disks, one file system (rename)" "rename(2) in one process + sync" \
    "$plan_moves chunks" "$(spread %.2f "${CT[@]}") s" "$(spread %.2f "${BT[@]}") s" \
    "$(rate "$plan_moves" "$(median "${CT[@]}")" chunks) (goal ≥ 1,000)" \
    "$(speed_ratio "$(median "${CT[@]}")" "$(median "${BT[@]}")" "")"
}
