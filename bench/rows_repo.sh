# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
# shellcheck shell=bash disable=SC2154
#
# bench/run.sh's repository and sync rows (sourced): backup against `tar | zstd -T0 -3`, push
# against `rsync -a -e ssh` (a full push and one with nothing to send), restore against
# `zstd -d | tar -x` into two directories, sync-online against `rsync -a -e ssh` (cold and with
# nothing to send), and sync-online's peak RSS under --max-memory. Uses run.sh's globals (A, B,
# RUNS, PORT_BASE, work).

ONE_REPLICA=(Level1 Level1_TSDB)  # every chunk of cluster A, on P1-dn1


# repo_line ROW CLSYNC_TEXT BASELINE_TEXT DATA BYTES GOAL: the line of a throughput row
# from the arrays c and b.
repo_line() {
  row "$1" "$2" "$3" "$4" "$(spread %.2f "${c[@]}") s" "$(spread %.2f "${b[@]}") s" \
    "$(rate "$(calc "$5 / 1e6")" "$(median "${c[@]}")" MB)" "$(speed_ratio "$(median "${c[@]}")" "$(median "${b[@]}")" "$6")"
}

tar_zstd() { tar -cf - -C "$(avol P1-dn1)" "${ONE_REPLICA[@]}" | zstd -q -T0 -3 > "$work/tar.zst"; }

row_backup() {
  local r c=() b=() bytes chunks
  bytes=$(cd "$(avol P1-dn1)" && du -sb --apparent-size "${ONE_REPLICA[@]}" | awk '{s += $1} END {print s}')
  for r in $(seq "$RUNS"); do
    rm -rf "$work/repo-backup"
    c+=("$(timed "$work/out.json" "$CLSYNC" -c "$A" --json backup --to "$work/repo-backup")")
    jq -e '.failed == 0 and .skipped == 0' "$work/out.json" >/dev/null
    b+=("$(timed /dev/null tar_zstd)")
  done
  chunks=$(jq '.chunks' "$work/out.json")
  repo_line backup "backup, 3 local nodes" "\`tar -cf - | zstd -T0 -3\` + sync" \
    "$chunks chunks, $(mb "$bytes"); objects $(printf %.3f "$(calc "$(du -sb --apparent-size \
      "$work/repo-backup/objects" | cut -f1) / $(stat -c %s "$work/tar.zst")")")× tar.zst's size" \
    "$bytes" 1.0
}

# repo: a backup of all of cluster A in $work/repo, made once (untimed).
repo() {
  [ -d "$work/repo" ] || "$CLSYNC" -c "$A" backup --to "$work/repo.tmp" >/dev/null
  [ -d "$work/repo" ] || mv "$work/repo.tmp" "$work/repo"
  repo_bytes=$(cd "$work/repo" && du -sbc objects snapshots clsync-repo.json | tail -n 1 | cut -f1)
  repo_data="$(find "$work/repo/objects" -type f | wc -l) objects, $(mb "$repo_bytes")"
}
push_port=$((PORT_BASE + 2))
# The no-change rows run clsync as a cron job would: with the node's agent kept between runs
# (--agent-persist through its environment variable, which a clsync without it ignores).
AGENT_PERSIST=${AGENT_PERSIST:-10m}
clsync_push() {
  CLSYNC_SSH_AGENT_PERSIST=$AGENT_PERSIST "$CLSYNC" push "$work/repo" "ssh://root@127.0.0.2:$push_port$1" --identity "$work/client" \
    --known-hosts "$work/known_hosts" --agent-command "$AGENT"
}
# What push sends: the objects, the snapshots and the marker (a repository's cache/ and tmp/ are
# its own); rsync sends the same.
rsync_push() {
  rsync -a -e "$(ssh_cmd "$push_port")" --exclude /cache --exclude /tmp "$work/repo/" \
    "root@127.0.0.2:$1/"
}
pushed_exactly() {
  diff -r -x cache -x tmp "$work/repo" "$work/push-c" >/dev/null ||
    { echo "the pushed repository differs" >&2; diff -r -x cache -x tmp "$work/repo" "$work/push-c" >&2; return 1; }
}

row_push() {
  local r c=() b=()
  repo
  for r in $(seq "$RUNS"); do
    rm -rf "$work/push-c" "$work/push-r"
    c+=("$(timed /dev/null clsync_push "$work/push-c")")
    b+=("$(timed /dev/null rsync_push "$work/push-r")")
  done
  pushed_exactly
  repo_line push "push to 1 sshd host" "\`rsync -a -e ssh\` + sync" "$repo_data" "$repo_bytes" 1.0
}

row_push_nochange() {
  local r c=() b=()
  repo
  rm -rf "$work/push-c" "$work/push-r"
  clsync_push "$work/push-c" >/dev/null
  rsync_push "$work/push-r"
  for r in $(seq "$RUNS"); do
    c+=("$(timed /dev/null clsync_push "$work/push-c")")
    b+=("$(timed /dev/null rsync_push "$work/push-r")")
  done
  pushed_exactly
  row push-nochange "push, nothing to send (agent kept: --agent-persist $AGENT_PERSIST)" "\`rsync -a -e ssh\`, nothing to send" "$repo_data" \
    "$(spread %.2f "${c[@]}") s" "$(spread %.2f "${b[@]}") s" "" \
    "$(speed_ratio "$(median "${c[@]}")" "$(median "${b[@]}")" 2.0)"
}

# The restore baseline: each object of the snapshot unpacked into two directories (2 replicas).
unpack_twice() {
  local object key d
  while read -r object key; do
    for d in tar1 tar2; do
      mkdir -p "$work/$d/$key"
      zstd -q -d -c < "$work/repo-restore/objects/${object:0:2}/$object.tar.zst" | tar -x -C "$work/$d/$key"
    done
  done < "$work/objects.txt"
}
empty_b() {
  local v
  for v in $(awk '/volumes:/ {v=$2; gsub(/[\[\]",]/, "", v); print v}' "$B"); do
    find "$v" -mindepth 1 -delete
  done
  rm -rf "$work/tar1" "$work/tar2"
}

row_restore() {
  local r c=() b=() snap chunks bytes
  rm -rf "$work/repo-restore"
  "$CLSYNC" -c "$A" --json backup --to "$work/repo-restore" --db Level1 --where 'date<=2020.06.05' \
    > "$work/out.json"
  snap="$work/repo-restore/snapshots/$(jq -r '.snapshot' "$work/out.json").json"
  chunks=$(jq '.chunks | length' "$snap")
  bytes=$(jq '[.chunks[].files[]? | select((.link_to // "") == "") | .size] | add' "$snap")
  jq -r '.chunks[] | "\(.object) \(.key)"' "$snap" > "$work/objects.txt"
  for r in $(seq "$RUNS"); do
    empty_b
    c+=("$(timed "$work/out.json" "$CLSYNC" -c "$B" --json restore --from "$work/repo-restore")")
    jq -e --argjson n $((2 * chunks)) '.replicas_written == $n' "$work/out.json" >/dev/null
    empty_b
    b+=("$(timed /dev/null unpack_twice)")
  done
  empty_b
  repo_line restore "restore, 2 replicas, 3 local nodes" \
    "\`zstd -d | tar -x\` into 2 directories + sync" \
    "$chunks chunks, $(mb "$bytes") a replica" "$bytes" 1.0
}

# sync-online into one SSH node (replication 1) behind 127.0.0.2; its own state directory, so a
# cold round starts from nothing.
sync_setup() {
  ssh_topology "$B" "$PORT_BASE" 2 | awk '
    /^replication:/ {print "replication: 1"; next}
    /- name: B2/ {skip = 1} /^databases:/ {skip = 0} !skip' > "$work/b1.yaml"
  sed -i "s|volumes: \\[.*\\]|volumes: [\"$work/b1/chunkData\"]|" "$work/b1.yaml"
  sync_src="$(avol P1-dn1)/Level1"
  sync_bytes=$(du -sb "$sync_src" | cut -f1)
  sync_data="$(find "$sync_src" -mindepth 3 -maxdepth 3 -type d | wc -l) chunks of Level1, $(mb "$sync_bytes")"
}
sync_cold() { rm -rf "$work/b1" "$work/sync-state" "$work/sync-r"; mkdir -p "$work/b1/chunkData" "$work/sync-r"; }
# clsync_sync [TOPOLOGY [SYNC_ARGS...]]: the sync into B1 (or TOPOLOGY, e.g. B1 behind the
# link), its --json document on stdout.
clsync_sync() {
  local to=${1:-$work/b1.yaml}
  shift || true
  CLSYNC_SSH_AGENT_PERSIST=$AGENT_PERSIST "$CLSYNC" --state-dir "$work/sync-state" --json \
    sync-online --from "$A" --to "$to" --db Level1 "$@"
}
# rsync_sync [PORT]: the same directory to 127.0.0.2's sshd (or whatever listens on PORT there).
rsync_sync() { rsync -a -e "$(ssh_cmd "${1:-$push_port}")" "$sync_src" "root@127.0.0.2:$work/sync-r/"; }
synced_exactly() {
  diff -r "$sync_src" "$work/b1/chunkData/Level1" >/dev/null || { echo "B1 differs from A" >&2; return 1; }
}

row_sync_online() {
  local r c=() b=()
  sync_setup
  for r in $(seq "$RUNS"); do
    sync_cold
    c+=("$(timed /dev/null clsync_sync)")
    b+=("$(timed /dev/null rsync_sync)")
  done
  synced_exactly
  repo_line sync-online "sync-online into 1 sshd node, cold" "\`rsync -a -e ssh\` + sync" \
    "$sync_data" "$sync_bytes" 1.0
}

row_sync_nochange() {
  local r c=() b=()
  sync_setup
  sync_cold
  clsync_sync >/dev/null
  rsync_sync
  for r in $(seq "$RUNS"); do
    c+=("$(timed /dev/null clsync_sync)")
    b+=("$(timed /dev/null rsync_sync)")
  done
  synced_exactly
  row sync-nochange "sync-online, nothing changed (agent kept: --agent-persist $AGENT_PERSIST)" "\`rsync -a -e ssh\`, nothing changed" \
    "$sync_data" "$(spread %.2f "${c[@]}") s" "$(spread %.2f "${b[@]}") s" "" \
    "$(speed_ratio "$(median "${c[@]}")" "$(median "${b[@]}")" 2.0)"
}

# sync-link: the cold sync-online of sync-online's row with --compress, through a network link
# of LINK_RATE bytes per second each way (default 125000000: 1 Gbit/s), shared by every
# connection (clsync-bench-link, a TCP proxy in front of 127.0.0.2's sshd: `tc netem` is not
# available), against `rsync -a -e ssh` through the same link. On loopback alone nothing is
# slower than the CPU, and --compress only adds work; on a link it is what an operator picks.
LINK_RATE=${LINK_RATE:-125000000}
row_sync_link() {
  local r c=() b=() link_port
  sync_setup
  "$(dirname "$CLSYNC")/bench/clsync-bench-link" 127.0.0.2 127.0.0.2 "$push_port" "$LINK_RATE" \
    > "$work/link.port" &
  link_pid=$!  # global: the trap runs after this function has returned
  trap 'kill "$link_pid" 2>/dev/null' EXIT  # the row runs in a subshell of its own
  for _ in $(seq 100); do [ -s "$work/link.port" ] && break; sleep 0.1; done
  link_port=$(cat "$work/link.port")
  [ -n "$link_port" ] || { echo "clsync-bench-link did not start" >&2; return 1; }
  echo "[127.0.0.2]:$link_port $(cut -d' ' -f1,2 "$work/host2.pub")" >> "$work/known_hosts"
  sed "s/port: $push_port\$/port: $link_port/" "$work/b1.yaml" > "$work/b1-link.yaml"
  grep -q "port: $link_port" "$work/b1-link.yaml"
  for r in $(seq "$RUNS"); do
    sync_cold
    c+=("$(timed "$work/out.json" clsync_sync "$work/b1-link.yaml" --compress)")
    jq -e '.failed == 0 and .copied > 0' "$work/out.json" >/dev/null
    b+=("$(timed /dev/null rsync_sync "$link_port")")
  done
  synced_exactly
  repo_line sync-link "sync-online --compress into 1 sshd node, cold, through a $(calc "$LINK_RATE * 8 / 1e9") Gbit/s link" \
    "\`rsync -a -e ssh\` through the same link + sync" "$sync_data" "$sync_bytes" 1.3
}

# sync-rss: the peak RSS of a cold sync-online of all of cluster A (both databases, every chunk)
# under --max-memory SYNC_RSS_LIMIT into B's 3 local nodes (2 replicas), and (sync-rss-ssh) into
# the one SSH node of the sync-online row. Issue 9: below the limit while syncing 10 times as
# much: the buffers in flight bound it, not the data. The baseline is the binary's floor
# (`clsync --version`), so the table shows what a run adds to it.
SYNC_RSS_LIMIT=${SYNC_RSS_LIMIT:-64M}
# sync_rss_row ROW TEXT TARGET_YAML RESET CHECK: RUNS cold runs (RESET, untimed, before each),
# alternating with the floor; each must copy every chunk of A and fail none; then CHECK.
sync_rss_row() {
  local r c=() b=() bytes chunks limit_kib
  bytes=$(du -sb "$(avol P1-dn1)" | cut -f1)
  chunks=$(find "$(avol P1-dn1)" -mindepth 4 -maxdepth 4 -type d | wc -l)
  limit_kib=$(numfmt --from=iec --to-unit=1024 "$SYNC_RSS_LIMIT")
  for r in $(seq "$RUNS"); do
    "$4"
    rm -rf "$work/sync-rss-state"
    c+=("$(peak_rss "$work/out.json" "$CLSYNC" --state-dir "$work/sync-rss-state" --json \
      sync-online --from "$A" --to "$3" --max-memory "$SYNC_RSS_LIMIT" | cut -d' ' -f2)")
    jq -e --argjson n "$chunks" '.copied == $n and .failed == 0' "$work/out.json" >/dev/null
    b+=("$(peak_rss /dev/null "$CLSYNC" --version | cut -d' ' -f2)")
  done
  "$5"
  row "$1" "$2" "\`clsync --version\`: peak RSS (the binary's floor)" \
    "$chunks chunks, $(mb "$bytes") ($(printf %.1f "$(calc "$bytes / ($limit_kib * 1024)")")× the limit)" \
    "$(mib "${c[@]}") MiB" "$(mib "${b[@]}") MiB" "" \
    "$(printf '%.2f× --max-memory %s (goal < 1)' "$(calc "$(median "${c[@]}") / $limit_kib")" \
      "$SYNC_RSS_LIMIT")"
}
# Every chunk of A on 2 of B's nodes (status --check exits 5 otherwise), then B emptied.
b_complete() { "$CLSYNC" -c "$B" status --check >/dev/null; empty_b; }
b1_equal() {
  local db
  for db in Level1 Level1_TSDB; do
    diff -r "$(avol P1-dn1)/$db" "$work/b1/chunkData/$db" >/dev/null ||
      { echo "B1's $db differs from A" >&2; return 1; }
  done
}
row_sync_rss() {
  sync_rss_row sync-rss "sync-online --max-memory $SYNC_RSS_LIMIT into 3 local nodes, 2 replicas: peak RSS" \
    "$B" empty_b b_complete
}
row_sync_rss_ssh() {
  sync_setup
  sync_rss_row sync-rss-ssh "sync-online --max-memory $SYNC_RSS_LIMIT into 1 sshd node: peak RSS" \
    "$work/b1.yaml" sync_cold b1_equal
}
