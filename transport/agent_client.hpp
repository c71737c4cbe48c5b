// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/agent_protocol.hpp"
#include "transport/node.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// The client side of the agent protocol: a Node whose operations run in a `clsync agent`
/// reached through byte streams (an SSH exec channel, or a local pipe in tests). It knows
/// nothing of SSH; transport/ssh_node.cpp supplies the streams.
namespace clsync::transport {

/// A byte stream to one running agent. Every call has a deadline of its own: it waits at most
/// the stream's I/O timeout for progress, then throws TransportError(timeout) naming the node.
/// A stream is used by one thread at a time.
class AgentStream : public wire::ByteSource {
public:
  /// Reads up to `n` bytes (at least one); returns 0 when the agent closed its output.
  /// Throws TransportError (timeout, or error when the connection broke).
  std::size_t read_some(char* buf, std::size_t n) override = 0;
  /// True when at least one byte can be read without waiting; never blocks.
  virtual bool readable() = 0;
  /// Writes all of `data`, waiting at most the I/O timeout for each bit of progress.
  virtual void write_all(const char* data, std::size_t n) = 0;
  /// Pushes everything written so far towards the agent (same deadline rule).
  virtual void flush() = 0;
  /// What the agent wrote on stderr and its exit status when known, for messages; may be "".
  virtual std::string diagnostics() = 0;
};

/// Opens a new stream to the node's agent and completes the hello exchange on it (see
/// agent_hello). Throws TransportError naming the node on any failure.
using AgentConnector = std::function<std::unique_ptr<AgentStream>()>;

/// Sends `hello` on a fresh stream and checks the reply (wire::check_hello_reply). When the
/// stream ends or breaks before a reply (the agent command failed), throws
/// TransportError(error) "agent on <node> exited before the hello: <diagnostics>". Returns the
/// agent's reply.
wire::HelloReply
agent_hello(AgentStream& stream, const wire::Hello& hello, const std::string& node);

/// As agent_hello, but returns nullopt instead of throwing when the stream ended or broke
/// before any reply, so the caller can look at why (an exit status of 127: not installed).
/// Timeouts, a wrong reply and a version mismatch still throw.
std::optional<wire::HelloReply>
try_agent_hello(AgentStream& stream, const wire::Hello& hello, const std::string& node);

/// How an agent-backed node behaves.
struct AgentNodeOptions {
  std::string description; ///< "node P2-dn1 (127.0.0.3:2222)", prefixes every message
  int pool_size = 4;       ///< idle connections kept for reuse
  int idle_check_s = 30;   ///< a connection idle longer than this is pinged before reuse
  /// Send file bytes as DATA_ZSTD (--compress). The connector asks the agent for the same
  /// in its hello (wire::Hello::compress); either side accepts both kinds of data frame.
  bool compress = false;
  /// A request that goes on this long with nothing but KEEPALIVEs coming back (or pulls
  /// reporting no new bytes) fails with a timeout naming the node; 0: never. The stream's
  /// I/O timeout only bounds each read, which a KEEPALIVE satisfies.
  int stall_limit_s = 0;
};

/// The stall limit of a node reached with `io_timeout_s` (the topology's io_timeout): 60
/// times it (an hour by default), long enough for an agent hashing or copying a large chunk
/// on one node, which answers only KEEPALIVEs meanwhile.
constexpr int stall_limit_s(int io_timeout_s)
{
  return 60 * (io_timeout_s > 0 ? io_timeout_s : 60);
}

/// A Node served by agents opened through `connect`. Connections are opened lazily, used by one
/// thread at a time, kept (up to pool_size idle) and reused; a connection whose stream broke is
/// dropped and a later call opens a new one. Errors the agent reports keep their kind and are
/// prefixed with the description; a lost connection gives a retryable TransportError(error).
std::shared_ptr<Node> make_agent_node(AgentNodeOptions options, AgentConnector connect);

/// A stream to `argv` run as a local child process (stdin/stdout pipes), with `io_timeout_ms`
/// deadlines. For tests and for agents on this machine; `label` names it in messages.
/// Throws TransportError when the process cannot be started.
std::unique_ptr<AgentStream> spawn_agent_process(const std::vector<std::string>& argv,
                                                 const std::string& label,
                                                 int io_timeout_ms);

} // namespace clsync::transport
