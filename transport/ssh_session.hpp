// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/agent_client.hpp"
#include "transport/open.hpp"

#include <memory>
#include <string>

/// libssh, wrapped (RAII). This file's .cpp is the only one that includes libssh.
///
/// Every wait has a deadline of ours: libssh has no I/O timeout of its own, so after the
/// connection is set up (connect, host key, authentication and channel requests, bounded by the
/// connect timeout) the session is switched to non-blocking mode and every read, write and
/// flush polls with the target's I/O timeout. TCP_NODELAY is set (libssh without it moves
/// bulk data an order of magnitude slower), TCP_QUICKACK before each wait for input (sshd's
/// Nagle would otherwise hold a reply until our delayed ACK: 40 ms a request) and AES-GCM
/// ciphers are preferred.
namespace clsync::transport {

/// "node P2-dn1 (127.0.0.3:2222)": how messages name an SSH node.
std::string describe_ssh_target(const SshTarget& target);

/// An authenticated SSH session to one node.
class SshSession {
public:
  /// Connects to target.host:port, checks the host key against target.known_hosts (strict:
  /// only a known, matching key; accept_new: an unknown key is accepted and recorded; a
  /// changed key or a key of another type is always refused), then authenticates: the
  /// `identity` file, then ssh-agent (when SSH_AUTH_SOCK is set), then the default keys. Never
  /// asks for a password or passphrase. Throws ConnectError (a TransportError) naming the node
  /// and host:
  /// kind timeout ("connect timed out"), host_key ("host key mismatch … (known_hosts F line
  /// N)", "unknown host key …"), auth ("authentication failed (tried …)"), or error
  /// (retryable; "connection refused").
  static std::shared_ptr<SshSession> connect(const SshTarget& target);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  /// The node's description, for messages.
  const std::string& label() const;
  /// The server's host key fingerprint ("SHA256:…").
  const std::string& fingerprint() const;

  struct Impl;

private:
  explicit SshSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
  friend class SshExecChannel;
};

/// A unix socket on the node, reached through a `direct-streamlocal` channel (sshd connects
/// to it as the authenticated user; no shell, no process start).
struct NodeUnixSocket {
  std::string path;
};

/// A command running on the node over an exec channel of `session` (or a persistent agent
/// reached over a direct-streamlocal channel), as a byte stream with deadlines (AgentStream).
/// The channel keeps its session alive.
class SshExecChannel : public AgentStream {
public:
  /// Opens a session channel and requests `command` (run by the node's login shell).
  /// Throws TransportError naming the node.
  SshExecChannel(std::shared_ptr<SshSession> session, const std::string& command);
  /// Opens a direct-streamlocal channel to `socket` on the node. Throws TransportError
  /// naming the node (refused: nothing listens there, or sshd forbids forwarding).
  SshExecChannel(std::shared_ptr<SshSession> session, const NodeUnixSocket& socket);
  ~SshExecChannel() override;

  std::size_t read_some(char* buf, std::size_t n) override;
  bool readable() override;
  void write_all(const char* data, std::size_t n) override;
  void flush() override;
  /// The command's stderr (last 4 KiB) and exit status, when known.
  std::string diagnostics() override;

  /// True once the command closed its output or the channel closed (it exited, or is about
  /// to).
  bool eof();
  /// Signals end of input to the command.
  void send_eof();
  /// Waits (I/O timeout) for the command to exit; returns its exit status, or -1 when it was
  /// killed by a signal or the status never came.
  int exit_status();

  struct Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace clsync::transport
