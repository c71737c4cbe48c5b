# SPDX-License-Identifier: MIT
# Copyright (c) clsync developers
#
# Sourced by the benchmarks: start_loopback_sshd WORK PORT_BASE N... starts one throwaway sshd
# per N on 127.0.0.N:PORT_BASE+N (root login by the key WORK/client only), writes
# WORK/known_hosts, waits until each accepts, and appends the pids to the caller's `pids` array.
# SSHD_CIPHERS (optional) limits the ciphers sshd offers, so every client uses the same one.
start_loopback_sshd() {
  local work=$1 port_base=$2 n port
  shift 2
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$work/client"
  cp "$work/client.pub" "$work/authorized_keys"
  : > "$work/known_hosts"
  # Sessions' runtime directory: persistent agents (--agent-persist) put their sockets there,
  # and bench_cleanup stops them.
  mkdir -p -m 700 "$work/run"
  for n in "$@"; do
    port=$((port_base + n))
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
SetEnv XDG_RUNTIME_DIR=$work/run
EOF
    [ -z "${SSHD_CIPHERS:-}" ] || echo "Ciphers $SSHD_CIPHERS" >> "$work/sshd$n.conf"
    /usr/sbin/sshd -D -e -f "$work/sshd$n.conf" 2>"$work/sshd$n.log" &
    pids+=($!)
    echo "[127.0.0.$n]:$port $(cut -d' ' -f1,2 "$work/host$n.pub")" >> "$work/known_hosts"
  done
  for n in "$@"; do
    for _ in $(seq 100); do
      (exec 3<>/dev/tcp/127.0.0.$n/$((port_base + n))) 2>/dev/null && break
      sleep 0.05
    done
  done
}
