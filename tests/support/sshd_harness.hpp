// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/open.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

/// Real OpenSSH servers for the SSH tests: one `/usr/sbin/sshd -D -e -f <cfg>` per simulated
/// host on 127.0.0.2, 127.0.0.3, … (a free port each), with throwaway host keys, a throwaway
/// client key in an AuthorizedKeysFile of the harness, root login by key only, no PAM, an sftp
/// subsystem, and a known_hosts file listing every host. Nothing here skips: a missing sshd
/// or a server that does not start throws std::runtime_error, which fails the test.
namespace clsync::test {

struct SshdHost {
  std::string address; ///< 127.0.0.N
  int port = 0;
  pid_t pid = -1; ///< the listening sshd; -1 when stopped
  std::filesystem::path config;
  std::filesystem::path host_key; ///< private key; ".pub" next to it
  std::filesystem::path log;      ///< sshd's stderr
};

class SshdHarness {
public:
  /// Starts `count` servers (1 ≤ count ≤ 32) under a fresh scratch directory named `name`.
  explicit SshdHarness(int count, const std::string& name = "sshd");
  /// Stops every server and its session processes.
  ~SshdHarness();
  SshdHarness(const SshdHarness&) = delete;
  SshdHarness& operator=(const SshdHarness&) = delete;

  int size() const { return static_cast<int>(m_hosts.size()); }
  const SshdHost& host(int i) const { return m_hosts.at(static_cast<std::size_t>(i)); }
  const std::filesystem::path& dir() const { return m_dir; }
  /// The client's private key (authorized on every host).
  std::filesystem::path client_key() const { return m_dir / "client_ed25519"; }
  /// A known_hosts file with every host's current key.
  std::filesystem::path known_hosts() const { return m_dir / "known_hosts"; }
  /// $HOME of every session (shared by the hosts; they all run on this machine).
  std::filesystem::path home() const { return m_dir / "home"; }
  /// $XDG_RUNTIME_DIR of every session (0700): persistent agents put their sockets in
  /// runtime_dir()/clsync.
  std::filesystem::path runtime_dir() const { return m_dir / "run"; }
  /// The known_hosts line of host `i`: "[127.0.0.N]:PORT ssh-ed25519 AAAA…".
  std::string known_hosts_line(int i) const;
  /// A topology file's `ssh:` block (ending in "nodes:\n") for the harness's hosts: user root,
  /// the client key, the harness's known_hosts, agent_command = the built clsync, timeouts of
  /// 5 s to connect and 30 s of I/O.
  std::string topology_ssh_block() const;

  /// A target for host `i` that works out of the box: user root, the client key, the
  /// harness's known_hosts (strict), agent_command = the built clsync, timeouts of a few
  /// seconds to connect and 30 s of I/O, a pool of 2.
  transport::SshTarget
  target(int i, std::vector<std::string> roots, const std::string& name = "") const;

  /// Stops host `i`'s listener and every session below it (SIGKILL), waiting for them.
  void stop(int i);
  /// Starts host `i` again on the same address and port; throws when it does not come up.
  void start(int i);
  /// Gives host `i` a fresh host key (a "reinstalled" host) and restarts it. The harness's
  /// known_hosts file is left as it was, so it now holds the old key.
  void regenerate_host_key(int i);

  /// Restarts host `i` with `lines` (sshd_config keywords) ahead of the harness's own, so
  /// they win (sshd keeps a keyword's first value): e.g. "RekeyLimit 16M", "LogLevel DEBUG1".
  void set_extra_config(int i, std::vector<std::string> lines);

  /// The per-connection sshd processes below host `i`'s listener (the privileged monitor and
  /// the session child), oldest first.
  std::vector<pid_t> session_pids(int i) const;
  /// The non-sshd processes below host `i`'s listener: the commands sessions run (the agent).
  std::vector<pid_t> agent_pids(int i) const;
  /// Sends `sig` to every session_pids(i) / agent_pids(i); returns how many got it.
  int signal_sessions(int i, int sig) const;
  int signal_agents(int i, int sig) const;

private:
  void write_config(int i);
  std::filesystem::path m_dir;
  std::vector<SshdHost> m_hosts;
  std::vector<std::vector<std::string>> m_extra_config; ///< per host, see set_extra_config
};

/// All descendants of `pid` (children, grandchildren …) with their command names.
std::vector<std::pair<pid_t, std::string>> descendants(pid_t pid);

} // namespace clsync::test
