// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_client.hpp"

#include "transport/agent_connection.hpp"

#include <algorithm>
#include <cstring>

namespace clsync::transport {

using nlohmann::json;
using wire::MsgType;

namespace {

/// The stream an agent's hello reply is read from, without reading ahead, keeping the first
/// bytes that came: when they are not a clsync frame (a login banner, another program), the
/// error can show them.
class HelloReplySource : public wire::ByteSource {
public:
  explicit HelloReplySource(AgentStream& stream) : m_stream(stream) {}
  std::size_t read_some(char* buf, std::size_t /*n*/) override
  {
    // One byte at a time (the hello is short): the reader then never takes bytes past the
    // hello reply, which belong to the connection's own reader.
    const std::size_t got = m_stream.read_some(buf, 1);
    m_total += got;
    m_first.append(buf, std::min(got, k_keep - std::min(k_keep, m_first.size())));
    return got;
  }
  std::uint64_t total() const { return m_total; }
  /// The first bytes, printable ASCII as it is, anything else as \xHH.
  std::string first_bytes() const
  {
    static constexpr char k_hello_hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : m_first) {
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out += static_cast<char>(c);
      } else {
        out += "\\x";
        out += k_hello_hex[c >> 4];
        out += k_hello_hex[c & 15];
      }
    }
    return out;
  }

private:
  static constexpr std::size_t k_keep = 48;
  AgentStream& m_stream;
  std::string m_first;
  std::uint64_t m_total = 0;
};

} // namespace

std::optional<wire::HelloReply>
try_agent_hello(AgentStream& stream, const wire::Hello& hello, const std::string& node)
{
  auto payload = wire::to_payload(wire::to_wire(hello));
  auto header = wire::encode_header(MsgType::hello, payload.size());
  HelloReplySource source(stream);
  wire::FrameReader reader(source, 64 << 10);
  wire::Frame f;
  try {
    stream.write_all(header.data(), header.size());
    stream.write_all(payload.data(), payload.size());
    stream.flush();
    bool got = reader.next(f);
    while (got && f.type == MsgType::keepalive) {
      got = reader.next(f);
    }
    if (!got) {
      return std::nullopt;
    }
  } catch (const TransportError& e) {
    // A command that is not there may be gone before our hello is even written.
    if (e.kind() == FailureKind::timeout) {
      throw;
    }
    if (source.total() > 0) {
      // Something answered, and it is not a clsync agent (a banner from the login shell's
      // rc files, another program): say what came; a retry would get the same.
      throw TransportError(FailureKind::error,
                           "agent on " + node + " did not answer the hello as a clsync agent (" +
                               e.what() + "); it sent '" + source.first_bytes() +
                               "' (is agent_command a clsync binary, and do the login shell's "
                               "rc files print nothing?)");
    }
    return std::nullopt;
  }
  if (f.type != MsgType::hello_reply) {
    throw TransportError(FailureKind::error, "agent on " + node + " answered the hello with " +
                                                 wire::to_string(f.type));
  }
  wire::HelloReply reply;
  try {
    reply = wire::decode<wire::HelloReply>(wire::from_payload(f.payload, "hello reply"));
  } catch (const TransportError& e) {
    throw TransportError(FailureKind::error, "agent on " + node + ": " + e.what());
  }
  wire::check_hello_reply(reply, node);
  return reply;
}

wire::HelloReply agent_hello(AgentStream& stream, const wire::Hello& hello, const std::string& node)
{
  auto reply = try_agent_hello(stream, hello, node);
  if (!reply) {
    std::string diag = stream.diagnostics();
    throw TransportError(FailureKind::error, "agent on " + node + " exited before the hello" +
                                                 (diag.empty() ? "" : ": " + diag));
  }
  return *reply;
}

namespace detail {

namespace {
constexpr std::size_t k_out_buffer = 512u << 10;
}

AgentConnection::AgentConnection(std::unique_ptr<AgentStream> stream,
                                 std::string node,
                                 bool compress,
                                 std::chrono::milliseconds stall_limit)
    : m_stream(std::move(stream)), m_node(std::move(node)), m_reader(*m_stream),
      m_compress(compress), m_stall_limit(stall_limit)
{
  m_out.reserve(k_out_buffer);
}

template <class F> auto AgentConnection::guarded(F&& f) -> decltype(f())
{
  if (m_broken) {
    throw TransportError(FailureKind::error, m_node + ": connection to the agent is broken", true);
  }
  try {
    return f();
  } catch (const TransportError& e) {
    m_broken = true;
    // Stream errors name the node already, framing errors do not; a lost connection is
    // worth another try either way.
    std::string what = e.what();
    if (what.rfind(m_node, 0) != 0) {
      std::string diag = m_stream->diagnostics();
      what = m_node + ": " + what + (diag.empty() ? "" : " (agent: " + diag + ")");
    }
    throw TransportError(e.kind(), what, true);
  }
}

void AgentConnection::send_raw(MsgType type, const char* data, std::size_t n)
{
  auto header = wire::encode_header(type, n);
  progressed();
  guarded([&] {
    if (m_out.size() + header.size() + n > k_out_buffer && !m_out.empty()) {
      m_stream->write_all(m_out.data(), m_out.size());
      m_out.clear();
    }
    m_out.insert(m_out.end(), header.begin(), header.end());
    if (n >= k_out_buffer / 2) {
      // Big data frames go straight out; only the header is copied.
      m_stream->write_all(m_out.data(), m_out.size());
      m_out.clear();
      m_stream->write_all(data, n);
    } else {
      m_out.insert(m_out.end(), data, data + n);
    }
    return 0;
  });
}

void AgentConnection::send_data(std::span<const char> data)
{
  if (m_compress) {
    auto z = m_compressor.compress(data);
    if (!z.empty()) {
      send_raw(MsgType::data_zstd, z.data(), z.size());
      return;
    }
  }
  send_raw(MsgType::data, data.data(), data.size());
}

std::span<const char> AgentConnection::data_of(const wire::Frame& f)
{
  if (f.type == MsgType::data_zstd) {
    try {
      wire::decompress_data(f.payload, m_inflated);
    } catch (const TransportError& e) {
      throw protocol_error(e.what());
    }
    return {m_inflated.data(), m_inflated.size()};
  }
  return {f.payload.data(), f.payload.size()};
}

void AgentConnection::send(MsgType type, const json& payload)
{
  auto p = wire::to_payload(payload);
  send_raw(type, p.data(), p.size());
}

void AgentConnection::flush()
{
  guarded([&] {
    if (!m_out.empty()) {
      m_stream->write_all(m_out.data(), m_out.size());
      m_out.clear();
    }
    m_stream->flush();
    return 0;
  });
}

void AgentConnection::check_stalled()
{
  if (m_stall_limit.count() <= 0 ||
      std::chrono::steady_clock::now() - m_progress_at <= m_stall_limit) {
    return;
  }
  m_broken = true;
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(m_stall_limit).count();
  throw TransportError(FailureKind::timeout,
                       m_node + ": the agent kept the request alive for " + std::to_string(s) +
                           " s without progress (only keepalives came back); given up",
                       true);
}

void AgentConnection::note_frame()
{
  if (m_frame.type == MsgType::keepalive || m_frame.type == MsgType::pull_progress) {
    check_stalled();  // a PULL_PROGRESS counts once its caller saw new bytes (progressed())
  } else {
    progressed();
  }
}

wire::Frame& AgentConnection::recv()
{
  return guarded([&]() -> wire::Frame& {
    do {
      if (!m_reader.next(m_frame)) {
        std::string diag = m_stream->diagnostics();
        throw TransportError(FailureKind::error, m_node + ": the agent closed the connection" +
                                                     (diag.empty() ? "" : " (" + diag + ")"));
      }
      note_frame();
    } while (m_frame.type == MsgType::keepalive);
    return m_frame;
  });
}

wire::Frame* AgentConnection::poll()
{
  return guarded([&]() -> wire::Frame* {
    while (m_reader.has_buffered() || m_stream->readable()) {
      if (!m_reader.next(m_frame)) {
        throw TransportError(FailureKind::error, m_node + ": the agent closed the connection");
      }
      note_frame();
      if (m_frame.type != MsgType::keepalive) {
        return &m_frame;
      }
    }
    return nullptr;
  });
}

TransportError AgentConnection::remote_error(const wire::Frame& f)
{
  wire::ErrorInfo info;
  try {
    info = wire::decode<wire::ErrorInfo>(wire::from_payload(f.payload, "error"));
  } catch (const TransportError& e) {
    return protocol_error(e.what()); // an error frame of the wrong shape still names the node
  }
  return TransportError(info.kind, m_node + ": " + info.message, info.retryable);
}

TransportError AgentConnection::protocol_error(const std::string& what)
{
  m_broken = true;
  return TransportError(FailureKind::error, m_node + ": agent protocol: " + what, true);
}

json AgentConnection::call(MsgType type, const json& request)
{
  send(type, request);
  flush();
  auto& f = recv();
  if (f.type == MsgType::reply) {
    try {
      return wire::from_payload(f.payload, wire::to_string(type));
    } catch (const TransportError& e) {
      throw protocol_error(e.what());
    }
  }
  if (f.type == MsgType::error) {
    throw remote_error(f);
  }
  throw protocol_error(std::string("unexpected ") + wire::to_string(f.type) + " answering " +
                       wire::to_string(type));
}

PooledConnection::~PooledConnection()
{
  if (m_conn) {
    m_pool->give_back(std::move(m_conn));
  }
}

PooledConnection ConnectionPool::get()
{
  for (;;) {
    std::unique_ptr<AgentConnection> c;
    {
      std::lock_guard lock(m_mutex);
      if (m_idle.empty()) {
        break;
      }
      c = std::move(m_idle.back());
      m_idle.pop_back();
    }
    auto idle = std::chrono::steady_clock::now() - c->last_used();
    if (idle < std::chrono::seconds(m_options.idle_check_s)) {
      return PooledConnection(*this, std::move(c));
    }
    // A server-alive check: an idle connection may have died with its sshd or a NAT entry.
    try {
      c->call(MsgType::ping, json::object());
      return PooledConnection(*this, std::move(c));
    } catch (const TransportError&) {
      // dropped; try the next idle one or open a new one
    }
  }
  return PooledConnection(
      *this, std::make_unique<AgentConnection>(m_gate.open(m_connect), node(), m_options.compress,
                                               std::chrono::seconds(m_options.stall_limit_s)));
}

void ConnectionPool::close_idle()
{
  std::deque<std::unique_ptr<AgentConnection>> idle;
  {
    std::lock_guard lock(m_mutex);
    idle.swap(m_idle);
  }
  // Destroyed outside the lock: closing a session waits for its channel to close.
}

void ConnectionPool::give_back(std::unique_ptr<AgentConnection> c)
{
  if (c->broken()) {
    return;
  }
  c->touch();
  std::lock_guard lock(m_mutex);
  if (static_cast<int>(m_idle.size()) < m_options.pool_size) {
    m_idle.push_back(std::move(c));
  }
}

} // namespace detail
} // namespace clsync::transport
