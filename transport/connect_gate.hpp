// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/agent_client.hpp"
#include "transport/errors.hpp"

#include <chrono>
#include <exception>
#include <mutex>

/// Internals of the agent client (agent_client.cpp): how one node's new connections are opened.
/// Not for use outside transport/.
namespace clsync::transport::detail {

/// One node's connects: one at a time, and a failed one answers for the node afterwards, so an
/// unreachable node costs one connect timeout per run, not one per operation (issue 10).
///
/// - A ConnectError (the TCP connection, SSH handshake, host key or authentication failed)
///   of kind timeout (nothing answered in time), host_key, auth, or not marked retryable is
///   remembered for the gate's life (a run): every later connect throws that same exception
///   at once, without touching the network.
/// - A ConnectError that came fast for a retryable reason (connection refused, lost during the
///   handshake: an sshd restarting) is remembered for `k_retry_hold`: connects in that time
///   throw it at once, the first one after it tries the network again. The executor's retries
///   (with their backoff) therefore still reach a node that comes back within the run.
/// - Any other failure (the session was up; the agent command, its hello, a direct pull's
///   setup failed) is the operation's own: not remembered, and it clears what was, as does a
///   successful connect: the host answered.
/// - Connects run one at a time: callers arriving while one is under way wait for it and then
///   see its outcome (a remembered failure), instead of each paying the same timeout.
class ConnectGate {
public:
  /// How long a fast retryable failure is answered from memory.
  static constexpr std::chrono::milliseconds k_retry_hold{1000};

  /// Runs `connect` under the rules above and returns its stream; throws the remembered
  /// exception (the same object, so its type, kind and message are the first failure's).
  std::unique_ptr<AgentStream> open(const AgentConnector& connect);
  /// Forgets a remembered failure: the next connect tries the network (a new run begins).
  void forget();
  /// Network connects tried so far (remembered failures thrown from memory are not counted).
  int attempts() const;

private:
  /// The remembered failure if it still stands at `now`, else null.
  std::exception_ptr standing(std::chrono::steady_clock::time_point now) const;

  std::mutex m_one_at_a_time; ///< held across a connect
  mutable std::mutex m_mutex; ///< guards the fields below
  std::exception_ptr m_failure;
  bool m_final = false; ///< m_failure stands for the gate's life
  std::chrono::steady_clock::time_point m_until{}; ///< else until then
  int m_attempts = 0;
};

} // namespace clsync::transport::detail
