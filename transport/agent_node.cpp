// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_client.hpp"
#include "transport/agent_connection.hpp"
#include "transport/safe_path.hpp"

#include <set>

namespace clsync::transport {

using detail::AgentConnection;
using detail::ConnectionPool;
using detail::PooledConnection;
using nlohmann::json;
using wire::MsgType;

namespace {

/// A field of a reply; a missing one is a protocol error.
const json& at(const json& j, const char* key)
{
  auto it = j.find(key);
  if (!j.is_object() || it == j.end()) {
    throw TransportError(FailureKind::error,
                         std::string("agent protocol: reply without '") + key + "'");
  }
  return *it;
}

/// Reads a stream's frames into a sink. When the sink throws, the agent is told to CANCEL and
/// the frames still in flight are drained, so the connection can be reused.
template <class OnFrame>
json consume_stream(AgentConnection& c, MsgType request, OnFrame&& on_frame)
{
  for (;;) {
    auto& f = c.recv();
    if (f.type == MsgType::reply) {
      return wire::from_payload(f.payload, wire::to_string(request));
    }
    if (f.type == MsgType::error) {
      throw c.remote_error(f);
    }
    try {
      on_frame(f);
    } catch (...) {
      if (c.broken()) {
        throw;  // our own stream failed: nothing to drain
      }
      std::exception_ptr failure = std::current_exception();
      try {
        c.send(MsgType::cancel, json::object());
        c.flush();
        for (;;) {
          auto& g = c.recv();
          if (g.type == MsgType::reply || g.type == MsgType::error) {
            break;
          }
        }
      } catch (const TransportError&) {
        c.mark_broken();
      }
      std::rethrow_exception(failure);
    }
  }
}

/// Writes a chunk through a connection it holds until finish or abort: frames go out without
/// waiting (no round trip per file). Mistakes the client can see for itself (a bad path, a
/// link to a file not sent, a size that differs from the announced one) fail at once and abort
/// the stream; what only the agent can see (a hash mismatch, a full disk) fails on a later call
/// or at the latest in finish(). Any failure leaves no temp directory.
class RemoteChunkWriter : public ChunkWriter {
public:
  RemoteChunkWriter(PooledConnection c, std::string volume, std::string task)
      : m_c(std::move(c)), m_volume(std::move(volume)), m_task(std::move(task))
  {
  }
  ~RemoteChunkWriter() override
  {
    // A finished chunk stays for commit_chunk; only an unfinished stream is dropped.
    if (!m_finished) {
      abort();
    }
  }

  void begin_file(const FileEntry& file) override
  {
    check_open();
    if (m_in_file) {
      fail_local(FailureKind::refused, m_cur.path + " was not ended before " + file.path);
    }
    if (auto why = relative_path_problem(file.path, PathUse::file); !why.empty()) {
      fail_local(FailureKind::refused, "refused file '" + file.path + "': " + why);
    }
    if (!file.link_to.empty() && !m_sent.contains(file.link_to)) {
      fail_local(FailureKind::refused,
                 file.path + " links to " + file.link_to + ", which the stream has not sent");
    }
    m_cur = file;
    m_cur_bytes = 0;
    m_in_file = true;
    m_c->send(MsgType::file_begin, wire::to_wire(file));
  }
  void file_data(std::span<const char> data) override
  {
    check_open();
    if (!m_in_file || !m_cur.link_to.empty()) {
      fail_local(FailureKind::refused, "data outside a file of the stream");
    }
    m_cur_bytes += data.size();
    if (m_cur_bytes > m_cur.size) {
      fail_local(FailureKind::error, m_cur.path + " received more than the " +
                                         std::to_string(m_cur.size) + " bytes announced");
    }
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      m_c->send_raw(MsgType::data, data.data(), n);
      data = data.subspan(n);
    }
    poll_error();
  }
  void end_file(const std::string& sha256) override
  {
    check_open();
    if (!m_in_file) {
      fail_local(FailureKind::refused, "end of a file that was not begun");
    }
    if (m_cur.link_to.empty() && m_cur_bytes != m_cur.size) {
      fail_local(FailureKind::error, m_cur.path + " received " + std::to_string(m_cur_bytes) +
                                         " bytes, the source announced " +
                                         std::to_string(m_cur.size));
    }
    m_in_file = false;
    m_sent.insert(m_cur.path);
    m_c->send(MsgType::file_end, json{{"sha256", sha256}});
  }
  ChunkDigest finish() override
  {
    check_open();
    m_done = true;
    m_c->send(MsgType::finish, json::object());
    m_c->flush();
    auto& f = m_c->recv();
    m_final = true;
    if (f.type == MsgType::error) {
      throw m_c->remote_error(f);
    }
    if (f.type != MsgType::reply) {
      throw m_c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " ending a chunk write");
    }
    m_finished = true;
    return wire::decode<ChunkDigest>(wire::from_payload(f.payload, "write_chunk"));
  }
  void abort() noexcept override
  {
    try {
      if (m_finished) {
        // The stream is over and the temp stays for commit_chunk; abort means drop it.
        m_finished = false;
        if (!m_c->broken()) {
          m_c->call(MsgType::remove_task_dirs, json{{"volume", m_volume}, {"task", m_task}});
        }
        return;
      }
      if (m_done && m_final) {
        return;
      }
      m_done = true;
      if (m_c->broken()) {
        return;
      }
      m_c->send(MsgType::abort, json::object());
      m_c->flush();
      if (!m_final) {
        m_final = true;
        (void)m_c->recv();  // REPLY or ERROR: both end the stream
      }
    } catch (...) {
      m_c->mark_broken();
    }
  }

private:
  void check_open()
  {
    if (m_done) {
      throw TransportError(FailureKind::error,
                           m_c->node() + ": the writer of task " + m_task + " is already closed");
    }
  }
  /// A mistake seen on this side: the agent drops the stream (and its temp) before we throw.
  [[noreturn]] void fail_local(FailureKind kind, const std::string& what)
  {
    abort();
    throw TransportError(kind, m_c->node() + ": " + what + " (task " + m_task + ")");
  }
  void poll_error()
  {
    if (auto* fp = m_c->poll()) {
      auto& f = *fp;
      if (f.type == MsgType::error) {
        m_final = true;
        m_done = true;
        // The agent drains until our ABORT; send it so the connection is in step again.
        auto err = m_c->remote_error(f);
        try {
          m_c->send(MsgType::abort, json::object());
          m_c->flush();
        } catch (...) {
          m_c->mark_broken();
        }
        throw err;
      }
      throw m_c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " during a chunk write");
    }
  }

  PooledConnection m_c;
  std::string m_volume;
  std::string m_task;
  FileEntry m_cur;
  std::uint64_t m_cur_bytes = 0;
  bool m_in_file = false;
  std::set<std::string> m_sent;
  bool m_done = false;      ///< finish or abort was sent (or the agent ended the stream)
  bool m_final = false;     ///< the stream's final frame was received
  bool m_finished = false;  ///< finish() succeeded: the temp directory waits for commit
};

class RemoteFileWriter : public FileWriter {
public:
  explicit RemoteFileWriter(PooledConnection c) : m_c(std::move(c)) {}
  ~RemoteFileWriter() override { abort(); }

  void write(std::span<const char> data) override
  {
    if (m_done) {
      throw TransportError(FailureKind::error, m_c->node() + ": file writer already finished");
    }
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      m_c->send_raw(MsgType::data, data.data(), n);
      data = data.subspan(n);
    }
    if (auto* fp = m_c->poll()) {
      auto& f = *fp;
      if (f.type != MsgType::error) {
        throw m_c->protocol_error("unexpected frame during a file write");
      }
      m_done = m_final = true;
      auto err = m_c->remote_error(f);
      try {
        m_c->send(MsgType::abort, json::object());
        m_c->flush();
      } catch (...) {
        m_c->mark_broken();
      }
      throw err;
    }
  }
  std::string commit() override
  {
    if (m_done) {
      throw TransportError(FailureKind::error, m_c->node() + ": file writer already finished");
    }
    m_done = true;
    m_c->send(MsgType::finish, json::object());
    m_c->flush();
    auto& f = m_c->recv();
    m_final = true;
    if (f.type == MsgType::error) {
      throw m_c->remote_error(f);
    }
    if (f.type != MsgType::reply) {
      throw m_c->protocol_error("unexpected frame ending a file write");
    }
    return wire::get_string(wire::from_payload(f.payload, "create_file"), "sha256");
  }
  void abort() noexcept override
  {
    if (m_done && m_final) {
      return;
    }
    m_done = true;
    try {
      if (m_c->broken()) {
        return;
      }
      m_c->send(MsgType::abort, json::object());
      m_c->flush();
      if (!m_final) {
        m_final = true;
        (void)m_c->recv();
      }
    } catch (...) {
      m_c->mark_broken();
    }
  }

private:
  PooledConnection m_c;
  bool m_done = false;
  bool m_final = false;
};

class AgentNode : public Node {
public:
  AgentNode(AgentNodeOptions o, AgentConnector connect)
      : m_description(o.description), m_pool(std::move(o), std::move(connect))
  {
  }

  std::string describe() const override { return m_description; }

  NodeScan scan(const ScanSpec& spec) override
  {
    auto c = m_pool.get();
    c->send(MsgType::scan, wire::to_wire(spec));
    c->flush();
    std::vector<ReplicaScan> replicas;
    json rest = consume_stream(*c, MsgType::scan, [&](const wire::Frame& f) {
      if (f.type != MsgType::scan_part) {
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a scan");
      }
      json part = wire::from_payload(f.payload, "scan_part");
      for (const auto& r : at(part, "replicas")) {
        replicas.push_back(wire::decode<ReplicaScan>(r));
      }
    });
    auto result = wire::decode<NodeScan>(rest);
    result.replicas = std::move(replicas);
    return result;
  }

  ChunkDigest read_chunk(const std::string& volume, const std::string& key,
                         ChunkSink& sink) override
  {
    auto c = m_pool.get();
    c->send(MsgType::read_chunk, json{{"volume", volume}, {"key", key}});
    c->flush();
    json digest = consume_stream(*c, MsgType::read_chunk, [&](const wire::Frame& f) {
      switch (f.type) {
      case MsgType::file_begin:
        sink.begin_file(wire::decode<FileEntry>(wire::from_payload(f.payload, "file_begin")));
        break;
      case MsgType::data: sink.file_data({f.payload.data(), f.payload.size()}); break;
      case MsgType::file_end:
        sink.end_file(wire::get_string(wire::from_payload(f.payload, "file_end"), "sha256"));
        break;
      default:
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a chunk read");
      }
    });
    return wire::decode<ChunkDigest>(digest);
  }

  std::unique_ptr<ChunkWriter> write_chunk(const std::string& volume,
                                           const std::string& task) override
  {
    auto c = m_pool.get();
    c->call(MsgType::write_chunk, json{{"volume", volume}, {"task", task}});
    return std::make_unique<RemoteChunkWriter>(std::move(c), volume, task);
  }

  std::string fingerprint(const std::string& volume, const std::string& key) override
  {
    return wire::get_string(call(MsgType::fingerprint, {{"volume", volume}, {"key", key}}),
                            "fingerprint");
  }

  ChunkDigest hash_chunk(const std::string& volume, const std::string& key) override
  {
    return wire::decode<ChunkDigest>(call(MsgType::hash_chunk, {{"volume", volume}, {"key", key}}));
  }

  CommitOutcome commit_chunk(const std::string& volume, const std::string& task,
                             const std::string& key, CommitMode mode) override
  {
    auto r = call(MsgType::commit_chunk, {{"volume", volume}, {"task", task}, {"key", key},
                                          {"mode", wire::to_wire(mode)}});
    return wire::decode<CommitOutcome>(at(r, "outcome"));
  }

  RenameOutcome rename_chunk(const std::string& from_volume, const std::string& key,
                             const std::string& to_volume) override
  {
    auto r = call(MsgType::rename_chunk,
                  {{"from_volume", from_volume}, {"key", key}, {"to_volume", to_volume}});
    return wire::decode<RenameOutcome>(at(r, "outcome"));
  }

  ChunkDigest copy_chunk_local(const std::string& from_volume, const std::string& key,
                               const std::string& to_volume, const std::string& task) override
  {
    return wire::decode<ChunkDigest>(call(
        MsgType::copy_chunk_local,
        {{"from_volume", from_volume}, {"key", key}, {"to_volume", to_volume}, {"task", task}}));
  }

  void trash_chunk(const std::string& volume, const std::string& key,
                   const std::string& task) override
  {
    call(MsgType::trash_chunk, {{"volume", volume}, {"key", key}, {"task", task}});
  }
  void untrash_chunk(const std::string& volume, const std::string& task,
                     const std::string& key) override
  {
    call(MsgType::untrash_chunk, {{"volume", volume}, {"task", task}, {"key", key}});
  }
  void remove_task_dirs(const std::string& volume, const std::string& task) override
  {
    call(MsgType::remove_task_dirs, {{"volume", volume}, {"task", task}});
  }
  void write_intent(const std::string& volume, const std::string& task,
                    const std::string& record) override
  {
    call(MsgType::write_intent, {{"volume", volume}, {"task", task}, {"record", record}});
  }
  void remove_intent(const std::string& volume, const std::string& task) override
  {
    call(MsgType::remove_intent, {{"volume", volume}, {"task", task}});
  }

  LeaseResult acquire_lease(const LeaseInfo& mine, const std::string& replace_run_id) override
  {
    return wire::decode<LeaseResult>(call(
        MsgType::acquire_lease, {{"lease", wire::to_wire(mine)}, {"replace_run_id", replace_run_id}}));
  }
  void refresh_lease(const LeaseInfo& mine) override
  {
    call(MsgType::refresh_lease, {{"lease", wire::to_wire(mine)}});
  }
  void release_lease(const std::string& run_id, bool force) override
  {
    call(MsgType::release_lease, {{"run_id", run_id}, {"force", force}});
  }
  std::optional<LeaseInfo> read_lease() override
  {
    auto r = call(MsgType::read_lease, json::object());
    auto it = r.find("lease");
    if (it == r.end() || it->is_null()) {
      return std::nullopt;
    }
    return wire::decode<LeaseInfo>(*it);
  }

  void read_file(const std::string& root, const std::string& relpath, std::uint64_t offset,
                 ByteSink& sink) override
  {
    auto c = m_pool.get();
    c->send(MsgType::read_file, json{{"root", root}, {"relpath", relpath}, {"offset", offset}});
    c->flush();
    consume_stream(*c, MsgType::read_file, [&](const wire::Frame& f) {
      if (f.type != MsgType::data) {
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a file read");
      }
      sink.write({f.payload.data(), f.payload.size()});
    });
  }

  std::unique_ptr<FileWriter> create_file(const std::string& root,
                                          const std::string& relpath) override
  {
    auto c = m_pool.get();
    c->call(MsgType::create_file, json{{"root", root}, {"relpath", relpath}});
    return std::make_unique<RemoteFileWriter>(std::move(c));
  }

  std::vector<DirEntry> list_dir(const std::string& root, const std::string& relpath) override
  {
    auto r = call(MsgType::list_dir, {{"root", root}, {"relpath", relpath}});
    std::vector<DirEntry> out;
    for (const auto& e : at(r, "entries")) {
      out.push_back(wire::decode<DirEntry>(e));
    }
    return out;
  }

  void remove_file(const std::string& root, const std::string& relpath) override
  {
    call(MsgType::remove_file, {{"root", root}, {"relpath", relpath}});
  }

private:
  json call(MsgType type, const json& request)
  {
    auto c = m_pool.get();
    return c->call(type, request);
  }

  std::string m_description;
  ConnectionPool m_pool;
};

} // namespace

std::shared_ptr<Node> make_agent_node(AgentNodeOptions options, AgentConnector connect)
{
  return std::make_shared<AgentNode>(std::move(options), std::move(connect));
}

} // namespace clsync::transport
