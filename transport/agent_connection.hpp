// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/agent_client.hpp"
#include "transport/connect_gate.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>

/// Internals of the agent client (agent_client.cpp, agent_node.cpp): one connection and the
/// pool of them. Not for use outside transport/.
namespace clsync::transport::detail {

/// One agent connection: a stream, a frame reader, an output buffer. Any I/O or protocol
/// failure marks it broken; a broken connection is never returned to the pool.
class AgentConnection {
public:
  /// `stall_limit` (zero: none) bounds how long a request may go on with nothing but
  /// KEEPALIVEs (or PULL_PROGRESS without new bytes) coming back: see check_stalled().
  AgentConnection(std::unique_ptr<AgentStream> stream,
                  std::string node,
                  bool compress,
                  std::chrono::milliseconds stall_limit = std::chrono::milliseconds(0));

  /// Queues a control frame (sent on flush, or earlier when the buffer fills).
  void send(wire::MsgType type, const nlohmann::json& payload);
  /// Queues a frame with a raw payload.
  void send_raw(wire::MsgType type, const char* data, std::size_t n);
  /// Queues file bytes (at most k_data_frame) as DATA, or DATA_ZSTD when compressing pays.
  void send_data(std::span<const char> data);
  /// The file bytes of a DATA or DATA_ZSTD frame (valid until the next call).
  std::span<const char> data_of(const wire::Frame& f);
  void flush();
  /// The next frame other than KEEPALIVE; throws TransportError when the stream ends, and
  /// TransportError(timeout) when only KEEPALIVEs came for longer than the stall limit.
  wire::Frame& recv();
  /// A frame other than KEEPALIVE that arrived already, without waiting for one: KEEPALIVEs
  /// that are there are consumed; nullptr when nothing else is waiting. (A frame whose first
  /// bytes arrived is read whole: agents write frames in one go.)
  wire::Frame* poll();
  /// Sends a request and returns the REPLY's payload; an ERROR frame is thrown as
  /// remote_error(); frames of other types are protocol errors.
  nlohmann::json call(wire::MsgType type, const nlohmann::json& request);
  /// The TransportError for an ERROR frame's payload (the connection stays usable); a payload
  /// of the wrong shape is a protocol_error() naming the node.
  TransportError remote_error(const wire::Frame& f);
  /// A protocol error: marks the connection broken and returns the error to throw.
  TransportError protocol_error(const std::string& what);

  /// The request made progress (a PULL_PROGRESS with new bytes; any other frame but a
  /// KEEPALIVE or PULL_PROGRESS, and every frame sent, count by themselves).
  void progressed() { m_progress_at = std::chrono::steady_clock::now(); }
  /// Throws TransportError(timeout) naming the node, and marks the connection broken, when
  /// the request has gone on without progress for longer than the stall limit. The I/O
  /// timeout bounds each read; this bounds an agent that answers every read with a KEEPALIVE
  /// but never finishes (a hung disk under it, or a hostile agent).
  void check_stalled();

  bool broken() const { return m_broken; }
  void mark_broken() { m_broken = true; }
  const std::string& node() const { return m_node; }
  std::chrono::steady_clock::time_point last_used() const { return m_last_used; }
  void touch() { m_last_used = std::chrono::steady_clock::now(); }

private:
  /// Progress bookkeeping for a frame just read (see check_stalled).
  void note_frame();
  /// Runs an I/O step; a TransportError from the stream marks the connection broken.
  template <class F> auto guarded(F&& f) -> decltype(f());

  std::unique_ptr<AgentStream> m_stream;
  std::string m_node;
  wire::FrameReader m_reader;
  wire::Frame m_frame;
  std::vector<char> m_out;
  std::vector<char> m_inflated;
  bool m_compress;
  wire::DataCompressor m_compressor;
  bool m_broken = false;
  std::chrono::milliseconds m_stall_limit;
  std::chrono::steady_clock::time_point m_progress_at = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point m_last_used = std::chrono::steady_clock::now();
};

/// Runs `decode` over a reply or frame already read from `c`. A reply of the wrong shape (a
/// missing field, a wrong type, malformed CBOR) becomes a protocol error naming the node and
/// `about` (what was asked: the request, and the chunk or file when known); the connection
/// is marked broken. Only decoding belongs in `decode`: errors of a sink must pass as they are.
template <class F>
auto decode_reply(AgentConnection& c, const std::string& about, F&& decode) -> decltype(decode())
{
  static constexpr std::string_view k_prefix = "agent protocol: ";
  try {
    return decode();
  } catch (const TransportError& e) {
    std::string_view what = e.what();
    if (what.starts_with(k_prefix)) {
      what.remove_prefix(k_prefix.size());
    }
    throw c.protocol_error(about + ": " + std::string(what));
  } catch (const nlohmann::json::exception& e) {
    throw c.protocol_error(about + ": " + e.what());
  }
}

class ConnectionPool;

/// A connection checked out of the pool; returns it on destruction (or drops it when broken).
class PooledConnection {
public:
  PooledConnection(ConnectionPool& pool, std::unique_ptr<AgentConnection> c)
      : m_pool(&pool), m_conn(std::move(c))
  {
  }
  PooledConnection(PooledConnection&&) = default;
  PooledConnection& operator=(PooledConnection&&) = delete;
  ~PooledConnection();
  AgentConnection* operator->() { return m_conn.get(); }
  AgentConnection& operator*() { return *m_conn; }

private:
  ConnectionPool* m_pool;
  std::unique_ptr<AgentConnection> m_conn;
};

/// Lazily opened connections to one node's agent.
class ConnectionPool {
public:
  ConnectionPool(AgentNodeOptions options, AgentConnector connect)
      : m_options(std::move(options)), m_connect(std::move(connect))
  {
  }
  /// An idle connection (pinged first when it sat idle long), or a new one opened through the
  /// node's ConnectGate (a failed connect answers for the node afterwards; see there).
  PooledConnection get();
  void give_back(std::unique_ptr<AgentConnection> c);
  /// Closes the idle connections; connections in use are kept and returned as usual.
  void close_idle();
  /// Forgets a failed connect remembered by the gate (a new run begins).
  void forget_connect_failure() { m_gate.forget(); }
  const std::string& node() const { return m_options.description; }

private:
  AgentNodeOptions m_options;
  AgentConnector m_connect;
  ConnectGate m_gate;
  std::mutex m_mutex;
  std::deque<std::unique_ptr<AgentConnection>> m_idle;
};

/// A chunk writer streaming over `c` into `<volume>/.clsync-tmp-<task>` (the agent already
/// opened it). See agent_writers.cpp for when errors surface.
std::unique_ptr<ChunkWriter>
make_remote_chunk_writer(PooledConnection c, std::string volume, std::string task);
/// A repository-file writer streaming over `c` (the agent already opened it).
std::unique_ptr<FileWriter> make_remote_file_writer(PooledConnection c);
/// An object writer streaming compressed bytes over `c` to the agent, which unpacks them into
/// `<volume>/.clsync-tmp-<task>` (the agent already opened it).
std::unique_ptr<ObjectWriter>
make_remote_object_writer(PooledConnection c, std::string volume, std::string task);
/// A resumable writer streaming over `c` (the agent already opened the partial at `offset`).
std::unique_ptr<AppendWriter> make_remote_append_writer(PooledConnection c, std::uint64_t offset);

} // namespace clsync::transport::detail
