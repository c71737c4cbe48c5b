# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
# shellcheck shell=bash disable=SC2154
#
# bench/run.sh's scan rows (sourced): `status` against `find`, and the peak RSS of `status` and
# `status --json --chunks`, on the scan tree. Uses run.sh's globals (RUNS, SCAN_DATES, work).

# scan_tree: $work/scan, built once: `clsync demo --chunk-size 1K --new-disks` (cluster A: P1-dn1
# and P2-dn1 with every chunk on ssd0 and an empty ssd1 on the same file system, P3-dn1 empty),
# its first DATES dates copied SCAN_DATES - 1 more times under later dates: 20 × DATES ×
# SCAN_DATES chunks, 2 replicas each, 29 files a replica.
scan_tree() {
  [ ! -f "$work/scan.complete" ] || return 0
  "$CLSYNC" demo --dir "$work/scan" --chunk-size 1K --new-disks >/dev/null
  keep_dates "$work/scan"
  local k d node db v dates=()
  for k in $(seq 1 $((SCAN_DATES - 1))); do
    for d in "$work"/scan/a/P1-dn1/ssd0/chunkData/Level1/*; do d=${d##*/}
      dates+=("$d:$(date -d "$d + $((k * DATES)) days" +%Y%m%d)")
    done
  done
  for node in P1-dn1 P2-dn1; do
    for db in Level1 Level1_TSDB; do
      v="$work/scan/a/$node/ssd0/chunkData/$db"
      for d in "${dates[@]}"; do cp -a "$v/${d%%:*}" "$v/${d#*:}"; done
    done
  done
  touch "$work/scan.complete"
}

# scan_counts: chunks, replicas and files of the scan tree; scan_data for the data column.
scan_counts() {
  "$CLSYNC" -c "$work/scan/cluster-a.yaml" --json status > "$work/status.json"
  scan_chunks=$(jq '.health.chunks' "$work/status.json")
  scan_replicas=$(jq '[.nodes[].chunks] | add' "$work/status.json")
  scan_files=$(find "$work/scan/a" -type f | wc -l)
  scan_data="$scan_chunks chunks, $scan_replicas replicas, $scan_files files"
}

# The baseline walk: what a scan must learn of each file, its size and mtime (one stat each).
find_stat() { find "$work/scan/a" -printf '%s %T@\n'; }

row_status() {
  scan_tree
  local cfg="$work/scan/cluster-a.yaml" r c=() b=()
  scan_counts
  for r in $(seq "$RUNS"); do
    c+=("$(timed /dev/null "$CLSYNC" -c "$cfg" status)")
    b+=("$(timed /dev/null find_stat)")
  done
  row status "status, 3 local nodes" "\`find -printf '%s %T@'\` of the volumes" "$scan_data" \
    "$(spread %.2f "${c[@]}") s" "$(spread %.2f "${b[@]}") s" \
    "$(rate "$scan_files" "$(median "${c[@]}")" files)" \
    "$(speed_ratio "$(median "${c[@]}")" "$(median "${b[@]}")" "")"
}

# rss_pair ROW CLSYNC_ARGS BASELINE_ARGS CLSYNC_TEXT BASELINE_TEXT: peak RSS (MiB) of the two
# commands, alternating; sets CT and BT (KiB).
# At least 5 runs a side, whatever RUNS says (they take seconds): a peak RSS counts the binary's
# file-backed pages that the page-cache drop left to readahead and fault-around, which moved
# the per-replica figure of the static-linked clsync by up to 100 B between single runs
# (bench/README.md, "Peak RSS of a static clsync").
RSS_RUNS=$(( RUNS > 5 ? RUNS : 5 ))
rss_pair() {
  local r; CT=() BT=()
  for r in $(seq "$RSS_RUNS"); do
    # shellcheck disable=SC2086
    CT+=("$(peak_rss /dev/null "$CLSYNC" $1 | cut -d' ' -f2)")
    # shellcheck disable=SC2086
    BT+=("$(peak_rss /dev/null "$CLSYNC" $2 | cut -d' ' -f2)")
  done
}
mib() { local v=() x; for x in "$@"; do v+=("$(calc "$x / 1024")"); done; spread %.1f "${v[@]}"; }

# empty_scan_cluster: $work/scan-empty/cluster-a.yaml, the scan tree's topology over empty
# volumes: `status` there pays the code pages and buffers of a scan, none of the inventory.
empty_scan_cluster() {
  local v
  rm -rf "$work/scan-empty"
  mkdir -p "$work/scan-empty"
  sed "s|$work/scan/a/|$work/scan-empty/a/|g" "$work/scan/cluster-a.yaml" \
    > "$work/scan-empty/cluster-a.yaml"
  for v in $(grep -o "$work/scan-empty/a/[^\"]*" "$work/scan-empty/cluster-a.yaml"); do
    mkdir -p "$v"
  done
}

# What a replica costs is the peak above `status` of the same cluster emptied (the inventory's
# growth); the peak above `clsync --version` adds the fixed ~1 MiB a scan's code and buffers
# take, which at 10,000 replicas reads as ~100 B a replica more.
row_status_rss() {
  scan_tree
  local cfg="$work/scan/cluster-a.yaml" r ET=()
  scan_counts
  empty_scan_cluster
  rss_pair "-c $cfg status" "-c $work/scan-empty/cluster-a.yaml status"
  for r in $(seq "$RSS_RUNS"); do
    ET+=("$(peak_rss /dev/null "$CLSYNC" --version | cut -d' ' -f2)")
  done
  row status-rss "status: peak RSS" "\`status\` of the same cluster emptied: peak RSS" \
    "$scan_data" "$(mib "${CT[@]}") MiB" "$(mib "${BT[@]}") MiB" "" \
    "$(printf '%.0f B a replica (goal ≤ 300); %.0f B above `clsync --version` (%s MiB)' \
      "$(calc "($(median "${CT[@]}") - $(median "${BT[@]}")) * 1024 / $scan_replicas")" \
      "$(calc "($(median "${CT[@]}") - $(median "${ET[@]}")) * 1024 / $scan_replicas")" \
      "$(mib "${ET[@]}")")"
}

row_status_json_rss() {
  scan_tree
  local cfg="$work/scan/cluster-a.yaml"
  scan_counts
  rss_pair "-c $cfg --json status --chunks" "-c $cfg status"
  row status-json-rss "\`status --json --chunks\`: peak RSS" "\`status\`: peak RSS" "$scan_data" \
    "$(mib "${CT[@]}") MiB" "$(mib "${BT[@]}") MiB" "" \
    "$(printf '%.2f× RSS (goal ≤ 1.2)' "$(calc "$(median "${CT[@]}") / $(median "${BT[@]}")")")"
}
