# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# What the bench scripts share (sourced, not run): the clsync binary of $BUILD, a scratch
# directory removed on exit together with the servers and mounts the script started, the timing
# and statistics helpers, and the SSH topology and command a bench writes for loopback sshd hosts.
#
#   . "$(dirname "$0")/common.sh"; bench_begin NAME     # sets CLSYNC, AGENT, work, pids

BUILD=${BUILD:-build}

bench_begin() {
  CLSYNC=$(realpath "$BUILD/clsync")
  [ -x "$CLSYNC" ] || { echo "build clsync first (cmake --build $BUILD --target clsync)" >&2; exit 2; }
  # The agent a node runs: the static one --deploy-agent installs (3 ms of CPU to start where a
  # RelWithDebInfo clsync takes 26 ms); AGENT overrides, clsync itself when it is not built.
  AGENT=${AGENT:-$(realpath "$BUILD/clsync-agent-static" 2>/dev/null || echo "$CLSYNC")}
  work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/clsync-bench-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  export CLSYNC_STATE_DIR="$work/state"
}

# Kills the servers in `pids`, unmounts what bench_mount mounted (last first), removes $work
# (unless BENCH_KEEP=1: then it says where it is).
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Persistent agents of the no-change rows: each by the PID listening on its socket.
  local s p
  for s in "$work"/run/clsync/*.sock; do
    [ -S "$s" ] || continue
    for p in $(ss -xlpn "src $s" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      kill "$p" 2>/dev/null || true
    done
  done
  if [ -f "$work/mounts" ]; then
    tac "$work/mounts" | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}

# bench_mount TYPE DIR [IMAGE]: mounts tmpfs, or a loop ext4 file system made in IMAGE (a
# sparse file whose size is set by the caller), on DIR; recorded for bench_cleanup.
bench_mount() {
  mkdir -p "$2"
  case "$1" in
    tmpfs) mount -t tmpfs -o size=90% tmpfs "$2" ;;
    ext4) mkfs.ext4 -q -F "$3" && mount -o loop "$3" "$2" ;;
  esac || return 1
  echo "$2" >> "$work/mounts"
}

# Production data is cold: every timed step starts with empty page caches.
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# "min / median / max" of the arguments, each with printf format $1.
spread() {
  local fmt=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v f="$fmt" \
    '{a[NR]=$1} END {printf f " / " f " / " f, a[1], a[int((NR+1)/2)], a[NR]}'
}

# CPU-seconds the whole machine has spent busy (every process and the kernel: user, nice,
# system, irq, softirq, steal from /proc/stat; idle and iowait left out).
busy_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", ($2+$3+$4+$7+$8+$9) / hz; exit }' /proc/stat
}

# timed OUT CMD...: drops the page caches, runs CMD with stdout to OUT, then `sync`; prints the
# seconds both took. CMD failing fails the caller (set -e). With BENCH_CPU_LOG=FILE, each step
# also appends "SECONDS BUSY_CPU_S CMD" to FILE: the CPU-seconds every process on the machine
# spent in it, which says whether a step was bound by the CPUs (busy ≈ cores × seconds).
timed() {
  local out=$1 t0 t1 c0 c1; shift
  drop_caches
  c0=$(busy_cpu)
  t0=$(now)
  "$@" > "$out"
  sync
  t1=$(now)
  c1=$(busy_cpu)
  [ -z "${BENCH_CPU_LOG:-}" ] ||
    echo "$(calc "$t1 - $t0") $(calc "$c1 - $c0") $*" | cut -c1-200 >> "$BENCH_CPU_LOG"
  calc "$t1 - $t0"
}

# peak_rss OUT CMD...: like timed, and prints "SECONDS PEAK_RSS_KIB" (GNU time's %M).
peak_rss() {
  local out=$1 t0 t1; shift
  drop_caches
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$@" > "$out"
  t1=$(now)
  echo "$(calc "$t1 - $t0") $(tail -n 1 "$work/rss")"
}

# ssh_cmd PORT: the OpenSSH command line rsync uses to reach a loopback host (the bench's key
# and known_hosts, host keys checked).
ssh_cmd() {
  echo "ssh -i $work/client -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p $1"
}

# ssh_topology LOCAL_YAML PORT_BASE FIRST_HOST [EXTRA]: prints LOCAL_YAML's cluster with node i
# (first volume only) behind loopback sshd host 127.0.0.(FIRST_HOST+i); EXTRA goes after the
# replication line (e.g. a `transfer: direct` block).
ssh_topology() {
  local yaml=$1 port_base=$2 n=$3 extra=${4:-} name vol
  sed -n '/^cluster:/p; /^replication:/p' "$yaml"
  [ -z "$extra" ] || printf '%s\n' "$extra"
  cat <<EOF
ssh:
  user: root
  identity: $work/client
  known_hosts: $work/known_hosts
  agent_command: $AGENT
nodes:
EOF
  while read -r name vol; do
    printf '  - name: %s\n    host: 127.0.0.%s\n    port: %s\n    volumes: ["%s"]\n' \
      "$name" "$n" "$((port_base + n))" "$vol"
    n=$((n + 1))
  done < <(awk '/- name:/ {n=$3} /volumes:/ {v=$2; gsub(/[\[\]",]/, "", v); print n, v}' "$yaml")
  sed -n '/^databases:/,$p' "$yaml"
}
