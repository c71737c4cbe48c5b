# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Sourced by the benchmarks: start_loopback_sshd WORK PORT_BASE N... starts one throwaway sshd
# per N on 127.0.0.N:PORT_BASE+N (root login by the key WORK/client only), writes
# WORK/known_hosts, waits until each accepts, and appends the pids to the caller's `pids` array.
# SSHD_CIPHERS (optional) limits the ciphers sshd offers, so every client uses the same one.
# A port already taken (another benchmark running) is an error: clients would reach the other
# run's sshd and refuse its host key, failing every SSH row.

# port_listening HOST PORT: whether something accepts connections there.
port_listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# free_port_base FIRST N...: the first of FIRST, FIRST+10, ... whose ports base+N on 127.0.0.N
# are all free (for a PORT_BASE the caller was not given).
free_port_base() {
  local base=$1 n busy
  shift
  for _ in $(seq 100); do
    busy=
    for n in "$@"; do
      port_listening "127.0.0.$n" $((base + n)) && busy=1
    done
    [ -n "$busy" ] || { echo "$base"; return 0; }
    base=$((base + 10))
  done
  echo "free_port_base: no free ports from $1 on" >&2
  return 1
}

start_loopback_sshd() {
  local work=$1 port_base=$2 n port
  local -A started
  shift 2
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$work/client"
  cp "$work/client.pub" "$work/authorized_keys"
  : > "$work/known_hosts"
  # Sessions' runtime directory: persistent agents (--agent-persist) put their sockets there,
  # and bench_cleanup stops them.
  mkdir -p -m 700 "$work/run"
  # Sessions' home: a node's plain login shell. Root's ~/.bashrc on the project's VM runs
  # `pyenv init` (0.7 CPU-s a session), which the nodes of a cluster do not: it would bill both
  # tools for this machine's shell, the one opening more sessions more. The tests' sshd
  # (tests/support/sshd_harness.cpp) gives sessions a home of their own for the same reason.
  mkdir -p -m 700 "$work/home"
  for n in "$@"; do
    port=$((port_base + n))
    if port_listening "127.0.0.$n" "$port"; then
      echo "start_loopback_sshd: 127.0.0.$n:$port is taken (another benchmark?); set PORT_BASE" >&2
      return 1
    fi
    ssh-keygen -q -t ed25519 -N '' -f "$work/host$n"
    cat > "$work/sshd$n.conf" <<EOF
Port $port
ListenAddress 127.0.0.$n
HostKey $work/host$n
PidFile $work/sshd$n.pid
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 100
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv HOME=$work/home XDG_RUNTIME_DIR=$work/run
EOF
    [ -z "${SSHD_CIPHERS:-}" ] || echo "Ciphers $SSHD_CIPHERS" >> "$work/sshd$n.conf"
    /usr/sbin/sshd -D -e -f "$work/sshd$n.conf" 2>"$work/sshd$n.log" &
    pids+=($!)
    started[$n]=$!
    echo "[127.0.0.$n]:$port $(cut -d' ' -f1,2 "$work/host$n.pub")" >> "$work/known_hosts"
  done
  for n in "$@"; do
    for _ in $(seq 100); do
      port_listening "127.0.0.$n" $((port_base + n)) && break
      sleep 0.05
    done
    # Listening, but maybe someone else: ours must still be running.
    kill -0 "${started[$n]}" 2>/dev/null || {
      echo "start_loopback_sshd: sshd on 127.0.0.$n:$((port_base + n)) did not start:" >&2
      cat "$work/sshd$n.log" >&2
      return 1
    }
  done
}
