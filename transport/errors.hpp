// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <stdexcept>
#include <string>

namespace clsync::transport {

/// Why a node operation failed. The executor retries only `timeout` and `error` marked
/// `retryable`; the others are final for the run.
enum class FailureKind {
  error,     ///< I/O or protocol failure
  timeout,   ///< a deadline of ours expired (connect, read or write)
  auth,      ///< authentication refused
  host_key,  ///< unknown or changed host key
  not_found, ///< the chunk, file or volume does not exist
  refused,   ///< the agent refused the request (path outside volumes, bad argument)
  no_space,  ///< ENOSPC / EDQUOT on the node
};

/// Every failure below core/ is a TransportError; `what()` names the node and the path.
class TransportError : public std::runtime_error {
public:
  TransportError(FailureKind kind, const std::string& what, bool retryable = false)
      : std::runtime_error(what), m_kind(kind), m_retryable(retryable) {}
  FailureKind kind() const noexcept { return m_kind; }
  /// True when the same operation may succeed if tried again (connection lost, timeout).
  bool retryable() const noexcept { return m_retryable || m_kind == FailureKind::timeout; }

private:
  FailureKind m_kind;
  bool m_retryable;
};

/// A node could not be connected to: the TCP connection, the SSH handshake, the host key check
/// or authentication failed (SshSession::connect). What the node's agent did after that is
/// reported as a plain TransportError. The connect gate (connect_gate.hpp) remembers these.
class ConnectError : public TransportError {
public:
  using TransportError::TransportError;
};

/// A direct pull (Node::pull_chunk) that could not be set up: no node key, a host key refused,
/// no ssh, no agent on the source, or a node that does not pull. Nothing was written; the
/// caller may relay the chunk instead. The message names the nodes and the reason.
class DirectUnavailable : public TransportError {
public:
  explicit DirectUnavailable(const std::string& what) : TransportError(FailureKind::refused, what)
  {
  }
};

/// Name of a kind, for messages and the agent protocol.
const char* to_string(FailureKind kind) noexcept;

} // namespace clsync::transport
