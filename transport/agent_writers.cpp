// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// The writers of an agent-backed node: chunk and repository-file streams towards the agent.
#include "transport/agent_connection.hpp"
#include "transport/safe_path.hpp"

#include <set>

namespace clsync::transport::detail {

using nlohmann::json;
using wire::MsgType;

namespace {

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
      m_c->send_data(data.first(n));
      data = data.subspan(n);
    }
    poll_error();
  }
  void file_hole(std::uint64_t length) override
  {
    check_open();
    if (!m_in_file || !m_cur.link_to.empty()) {
      fail_local(FailureKind::refused, "a hole outside a file of the stream");
    }
    if (length > m_cur.size - std::min(m_cur.size, m_cur_bytes)) {
      fail_local(FailureKind::error, m_cur.path + " received more than the " +
                                         std::to_string(m_cur.size) + " bytes announced");
    }
    m_cur_bytes += length;
    m_c->send(MsgType::hole, json{{"length", length}});
    poll_error();
  }
  void directory(const ChunkDir& dir) override
  {
    check_open();
    if (m_in_file) {
      fail_local(FailureKind::refused, "directory " + dir.path + " inside a file of the stream");
    }
    if (!dir.path.empty()) {
      if (auto why = relative_path_problem(dir.path, PathUse::file); !why.empty()) {
        fail_local(FailureKind::refused, "refused directory '" + dir.path + "': " + why);
      }
    }
    m_c->send(MsgType::dir, wire::to_wire(dir));
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
    // The FINISH answer ends the stream whatever it says; a failure before it arrives breaks
    // the connection, which abort() also treats as ended.
    m_final = true;
    const json reply = m_c->call(MsgType::finish, json::object());
    m_finished = true;
    return decode_reply(*m_c, "reply to finish of task " + m_task + " on " + m_volume,
                        [&] { return wire::decode<ChunkDigest>(reply); });
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
        (void)m_c->recv(); // REPLY or ERROR: both end the stream
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
  bool m_done = false;     ///< finish or abort was sent (or the agent ended the stream)
  bool m_final = false;    ///< the stream's final frame was received
  bool m_finished = false; ///< finish() succeeded: the temp directory waits for commit
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
      m_c->send_data(data.first(n));
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
    m_final = true;  // as in RemoteChunkWriter::finish
    const json reply = m_c->call(MsgType::finish, json::object());
    return decode_reply(*m_c, "reply to finish of a file",
                        [&] { return wire::get_string(reply, "sha256"); });
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

/// Appends to a partial through a connection it holds: frames go out without waiting; an agent
/// failure surfaces on a later write or in commit(). close() sends ABORT, which keeps the
/// partial on the node.
class RemoteAppendWriter : public AppendWriter {
public:
  RemoteAppendWriter(PooledConnection c, std::uint64_t offset)
      : m_c(std::move(c)), m_offset(offset)
  {
  }
  ~RemoteAppendWriter() override { close(); }

  std::uint64_t offset() const override { return m_offset; }

  void write(std::span<const char> data) override
  {
    if (m_done) {
      throw TransportError(FailureKind::error, m_c->node() + ": append writer already finished");
    }
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      m_c->send_data(data.first(n));
      data = data.subspan(n);
    }
    if (auto* fp = m_c->poll()) {
      auto& f = *fp;
      if (f.type != MsgType::error) {
        throw m_c->protocol_error("unexpected frame during an append");
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
  std::uint64_t commit() override
  {
    if (m_done) {
      throw TransportError(FailureKind::error, m_c->node() + ": append writer already finished");
    }
    m_done = true;
    m_final = true;
    const json reply = m_c->call(MsgType::finish, json::object());
    return decode_reply(*m_c, "reply to finish of an append",
                        [&] { return wire::get_u64(reply, "size"); });
  }
  void close() noexcept override
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
  std::uint64_t m_offset;
  bool m_done = false;
  bool m_final = false;
};

} // namespace

std::unique_ptr<ChunkWriter>
make_remote_chunk_writer(PooledConnection c, std::string volume, std::string task)
{
  return std::make_unique<RemoteChunkWriter>(std::move(c), std::move(volume), std::move(task));
}

std::unique_ptr<FileWriter> make_remote_file_writer(PooledConnection c)
{
  return std::make_unique<RemoteFileWriter>(std::move(c));
}

namespace {

/// Streams an object's compressed bytes to the agent, which unpacks and checks them next to
/// the disk. Like RemoteChunkWriter, a refusal seen by the agent surfaces on a later write or
/// at the latest in finish(), and leaves no temp directory.
class RemoteObjectWriter : public ObjectWriter {
public:
  RemoteObjectWriter(PooledConnection c, std::string volume, std::string task)
      : m_c(std::move(c)), m_volume(std::move(volume)), m_task(std::move(task))
  {
  }
  ~RemoteObjectWriter() override
  {
    if (!m_finished) {
      abort();
    }
  }

  void write(std::span<const char> data) override
  {
    if (m_done) {
      throw TransportError(FailureKind::error,
                           m_c->node() + ": the object writer of task " + m_task +
                               " is already closed");
    }
    // Object bytes are zstd already: plain DATA whatever the connection's --compress says.
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      m_c->send_raw(MsgType::data, data.data(), n);
      data = data.subspan(n);
    }
    if (auto* fp = m_c->poll()) {
      auto& f = *fp;
      if (f.type != MsgType::error) {
        throw m_c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                  " during an object write");
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

  ChunkDigest finish(const std::string& object_sha256) override
  {
    if (m_done) {
      throw TransportError(FailureKind::error,
                           m_c->node() + ": the object writer of task " + m_task +
                               " is already closed");
    }
    m_done = m_final = true;  // the FINISH answer ends the stream whatever it says
    const json reply = m_c->call(MsgType::finish, json{{"object_sha256", object_sha256}});
    m_finished = true;
    return decode_reply(*m_c, "reply to finish of task " + m_task + " on " + m_volume,
                        [&] { return wire::decode<ChunkDigest>(reply); });
  }

  void abort() noexcept override
  {
    try {
      if (m_finished) {
        // The temp waits for commit_chunk; abort after finish means drop it.
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
  PooledConnection m_c;
  std::string m_volume;
  std::string m_task;
  bool m_done = false;
  bool m_final = false;
  bool m_finished = false;
};

} // namespace

std::unique_ptr<ObjectWriter>
make_remote_object_writer(PooledConnection c, std::string volume, std::string task)
{
  return std::make_unique<RemoteObjectWriter>(std::move(c), std::move(volume), std::move(task));
}

std::unique_ptr<AppendWriter> make_remote_append_writer(PooledConnection c, std::uint64_t offset)
{
  return std::make_unique<RemoteAppendWriter>(std::move(c), offset);
}

} // namespace clsync::transport::detail
