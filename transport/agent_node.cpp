// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_client.hpp"
#include "transport/agent_connection.hpp"

#include <algorithm>
#include <mutex>
#include <type_traits>

namespace clsync::transport {

using detail::AgentConnection;
using detail::ConnectionPool;
using detail::PooledConnection;
using nlohmann::json;
using wire::MsgType;

namespace {

using detail::decode_reply;

/// A field of a reply; a missing one is a protocol error.
const json& at(const json& j, const char* key)
{
  auto it = j.is_object() ? j.find(key) : j.end();
  if (!j.is_object() || it == j.end()) {
    throw TransportError(FailureKind::error,
                         std::string("agent protocol: reply without '") + key + "'");
  }
  return *it;
}

/// What a reply answers, for messages: "fingerprint of chunk K on /vol".
std::string answering(MsgType type, const std::string& volume = {}, const std::string& key = {})
{
  std::string s = std::string("reply to ") + wire::to_string(type);
  if (!key.empty()) {
    s += " of " + key;
  }
  if (!volume.empty()) {
    s += " on " + volume;
  }
  return s;
}

/// Reads a stream's frames into a sink. When the sink throws, the agent is told to CANCEL and
/// the frames still in flight are drained, so the connection can be reused.
template <class OnFrame>
json consume_stream(AgentConnection& c, MsgType request, OnFrame&& on_frame)
{
  for (;;) {
    auto& f = c.recv();
    if (f.type == MsgType::reply) {
      return decode_reply(c, answering(request),
                          [&] { return wire::from_payload(f.payload, wire::to_string(request)); });
    }
    if (f.type == MsgType::error) {
      throw c.remote_error(f);
    }
    try {
      on_frame(f);
    } catch (...) {
      if (c.broken()) {
        throw; // our own stream failed: nothing to drain
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

class AgentNode : public Node {
public:
  using Node::create_file;
  AgentNode(AgentNodeOptions o, AgentConnector connect)
      : m_description(o.description), m_pool(std::move(o), std::move(connect))
  {
  }

  std::string describe() const override { return m_description; }

  void close_idle() noexcept override { m_pool.close_idle(); }
  void forget_connect_failure() noexcept override { m_pool.forget_connect_failure(); }

  NodeScan scan(const ScanSpec& spec) override
  {
    std::vector<ReplicaScan> replicas;
    NodeScan result = scan_batched(spec, [&](std::vector<ReplicaScan>& batch) {
      std::move(batch.begin(), batch.end(), std::back_inserter(replicas));
    });
    // The agent sends replicas as its node finds them; sorted as a local scan's: by volume
    // (in the order the scan lists them), then key.
    auto volume_of = [&](const ReplicaScan& r) {
      return std::find_if(result.volumes.begin(), result.volumes.end(),
                          [&](const VolumeScan& v) { return v.path == r.volume; }) -
             result.volumes.begin();
    };
    std::sort(replicas.begin(), replicas.end(), [&](const ReplicaScan& a, const ReplicaScan& b) {
      const auto va = volume_of(a);
      const auto vb = volume_of(b);
      return va != vb ? va < vb : a.key < b.key;
    });
    result.replicas = std::move(replicas);
    return result;
  }

  /// Each SCAN_PART frame is one batch, handed over as it is decoded.
  NodeScan scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink) override
  {
    auto c = m_pool.get();
    c->send(MsgType::scan, wire::to_wire(spec));
    c->flush();
    std::vector<ReplicaScan> batch;
    json rest = consume_stream(*c, MsgType::scan, [&](const wire::Frame& f) {
      if (f.type != MsgType::scan_part) {
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a scan");
      }
      decode_reply(*c, "scan part", [&] {
        json part = wire::from_payload(f.payload, "scan_part");
        for (const auto& r : at(part, "replicas")) {
          batch.push_back(wire::decode<ReplicaScan>(r));
        }
      });
      sink(batch);
      batch.clear();
    });
    auto result = decode_reply(*c, answering(MsgType::scan), [&] { return wire::decode<NodeScan>(rest); });
    result.replicas.clear();
    return result;
  }

  ChunkDigest
  read_chunk(const std::string& volume, const std::string& key, ChunkSink& sink) override
  {
    auto c = m_pool.get();
    c->send(MsgType::read_chunk, json{{"volume", volume}, {"key", key}});
    c->flush();
    // Frames are decoded under the node's name first; the sink's own errors pass as they are.
    const std::string about = "read_chunk of " + key + " on " + volume;
    std::string file;  // the file being read, for messages
    auto frame_of = [&](const wire::Frame& f, const char* what) {
      return decode_reply(*c, about + (file.empty() ? "" : ", file " + file) + ": " + what,
                          [&] { return wire::from_payload(f.payload, what); });
    };
    json digest = consume_stream(*c, MsgType::read_chunk, [&](const wire::Frame& f) {
      switch (f.type) {
      case MsgType::file_begin: {
        const json j = frame_of(f, "file_begin");
        auto entry = decode_reply(*c, about, [&] { return wire::decode<FileEntry>(j); });
        file = entry.path;
        sink.begin_file(entry);
        break;
      }
      case MsgType::data:
      case MsgType::data_zstd:
        sink.file_data(c->data_of(f));
        break;
      case MsgType::hole: {
        const json j = frame_of(f, "hole");
        sink.file_hole(decode_reply(*c, about + ", file " + file,
                                    [&] { return wire::get_u64(j, "length"); }));
        break;
      }
      case MsgType::file_end: {
        const json j = frame_of(f, "file_end");
        sink.end_file(decode_reply(*c, about + ", file " + file,
                                   [&] { return wire::get_string(j, "sha256"); }));
        break;
      }
      case MsgType::dir: {
        const json j = frame_of(f, "dir");
        sink.directory(decode_reply(*c, about, [&] { return wire::decode<ChunkDir>(j); }));
        break;
      }
      default:
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a chunk read");
      }
    });
    return decode_reply(*c, about, [&] { return wire::decode<ChunkDigest>(digest); });
  }

  std::unique_ptr<ChunkWriter> write_chunk(const std::string& volume,
                                           const std::string& task) override
  {
    auto c = m_pool.get();
    c->call(MsgType::write_chunk, json{{"volume", volume}, {"task", task}});
    return detail::make_remote_chunk_writer(std::move(c), volume, task);
  }

  std::string fingerprint(const std::string& volume, const std::string& key) override
  {
    return call_as(MsgType::fingerprint, {{"volume", volume}, {"key", key}},
                   answering(MsgType::fingerprint, volume, key),
                   [](const json& r) { return wire::get_string(r, "fingerprint"); });
  }

  ChunkDigest hash_chunk(const std::string& volume, const std::string& key) override
  {
    return call_as(MsgType::hash_chunk, {{"volume", volume}, {"key", key}},
                   answering(MsgType::hash_chunk, volume, key),
                   [](const json& r) { return wire::decode<ChunkDigest>(r); });
  }

  CommitOutcome commit_chunk(const std::string& volume,
                             const std::string& task,
                             const std::string& key,
                             CommitMode mode) override
  {
    return call_as(MsgType::commit_chunk,
                   {{"volume", volume},
                    {"task", task},
                    {"key", key},
                    {"mode", wire::to_wire(mode)},
                    {"fence", fence()}},
                   answering(MsgType::commit_chunk, volume, key),
                   [](const json& r) { return wire::decode<CommitOutcome>(at(r, "outcome")); });
  }

  RenameOutcome rename_chunk(const std::string& from_volume,
                             const std::string& key,
                             const std::string& to_volume) override
  {
    return call_as(MsgType::rename_chunk,
                   {{"from_volume", from_volume},
                    {"key", key},
                    {"to_volume", to_volume},
                    {"fence", fence()}},
                   answering(MsgType::rename_chunk, from_volume, key),
                   [](const json& r) { return wire::decode<RenameOutcome>(at(r, "outcome")); });
  }

  std::vector<RenameItemResult> rename_chunks(const std::string& from_volume,
                                              const std::string& to_volume,
                                              const std::vector<RenameItem>& items) override
  {
    json list = json::array();
    for (const auto& it : items) {
      list.push_back({{"key", it.key}, {"fingerprint", it.fingerprint}});
    }
    auto r = call(MsgType::rename_chunks, {{"from_volume", from_volume},
                                           {"to_volume", to_volume},
                                           {"items", std::move(list)},
                                           {"fence", fence()}});
    const json& results = at(r, "results");
    if (!results.is_array() || results.size() != items.size()) {
      wire::protocol_error("rename_chunks replied " + std::to_string(results.size()) +
                           " results for " + std::to_string(items.size()) + " chunks");
    }
    std::vector<RenameItemResult> out;
    out.reserve(items.size());
    for (const auto& one : results) {
      RenameItemResult x;
      x.outcome = wire::decode<BatchRenameOutcome>(at(one, "outcome"));
      x.error = wire::get_string(one, "error");
      out.push_back(std::move(x));
    }
    return out;
  }

  ChunkDigest copy_chunk_local(const std::string& from_volume,
                               const std::string& key,
                               const std::string& to_volume,
                               const std::string& task) override
  {
    return call_as(
        MsgType::copy_chunk_local,
        {{"from_volume", from_volume}, {"key", key}, {"to_volume", to_volume}, {"task", task}},
        answering(MsgType::copy_chunk_local, from_volume, key),
        [](const json& r) { return wire::decode<ChunkDigest>(r); });
  }

  std::string
  trash_chunk(const std::string& volume, const std::string& key, const std::string& task) override
  {
    return call_as(MsgType::trash_chunk,
                   {{"volume", volume}, {"key", key}, {"task", task}, {"fence", fence()}},
                   answering(MsgType::trash_chunk, volume, key),
                   [](const json& r) { return wire::get_string(r, "fingerprint"); });
  }
  void
  untrash_chunk(const std::string& volume, const std::string& task, const std::string& key) override
  {
    call(MsgType::untrash_chunk,
         {{"volume", volume}, {"task", task}, {"key", key}, {"fence", fence()}});
  }
  void remove_task_dirs(const std::string& volume, const std::string& task) override
  {
    call(MsgType::remove_task_dirs, {{"volume", volume}, {"task", task}, {"fence", fence()}});
  }
  void write_intent(const std::string& volume,
                    const std::string& task,
                    const std::string& record) override
  {
    call(MsgType::write_intent, {{"volume", volume}, {"task", task}, {"record", record}});
  }
  void remove_intent(const std::string& volume, const std::string& task) override
  {
    call(MsgType::remove_intent, {{"volume", volume}, {"task", task}});
  }

  LeaseResult acquire_lease(const std::string& volume,
                            const LeaseInfo& mine,
                            const std::string& replace_run_id) override
  {
    return call_as(MsgType::acquire_lease,
                   {{"volume", volume},
                    {"lease", wire::to_wire(mine)},
                    {"replace_run_id", replace_run_id}},
                   answering(MsgType::acquire_lease, volume),
                   [](const json& r) { return wire::decode<LeaseResult>(r); });
  }
  void refresh_lease(const std::string& volume, const LeaseInfo& mine) override
  {
    call(MsgType::refresh_lease, {{"volume", volume}, {"lease", wire::to_wire(mine)}});
  }
  void release_lease(const std::string& volume, const std::string& run_id, bool force) override
  {
    call(MsgType::release_lease, {{"volume", volume}, {"run_id", run_id}, {"force", force}});
  }
  std::optional<LeaseInfo> read_lease(const std::string& volume) override
  {
    return call_as(MsgType::read_lease, {{"volume", volume}}, answering(MsgType::read_lease, volume),
                   [](const json& r) -> std::optional<LeaseInfo> {
                     auto it = r.is_object() ? r.find("lease") : r.end();
                     if (it == r.end() || it->is_null()) {
                       return std::nullopt;
                     }
                     return wire::decode<LeaseInfo>(*it);
                   });
  }
  /// The fence travels in every fenced request, so each pooled connection (its own agent
  /// process on the node) applies it, including connections opened later.
  void set_fence(const std::string& run_id) override
  {
    std::lock_guard lock(m_fence_mutex);
    m_fence = run_id;
  }

  void read_file(const std::string& root,
                 const std::string& relpath,
                 std::uint64_t offset,
                 ByteSink& sink) override
  {
    auto c = m_pool.get();
    c->send(MsgType::read_file, json{{"root", root}, {"relpath", relpath}, {"offset", offset}});
    c->flush();
    consume_stream(*c, MsgType::read_file, [&](const wire::Frame& f) {
      if (f.type != MsgType::data && f.type != MsgType::data_zstd) {
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a file read");
      }
      sink.write(c->data_of(f));
    });
  }

  std::unique_ptr<FileWriter> create_file(const std::string& root,
                                          const std::string& relpath,
                                          FileDurability durability) override
  {
    auto c = m_pool.get();
    json args{{"root", root}, {"relpath", relpath}};
    if (durability != FileDurability::durable) {
      // Absent means durable: an older agent ignores the field and syncs everything.
      args["durability"] = durability == FileDurability::content ? "content" : "none";
    }
    c->call(MsgType::create_file, args);
    return detail::make_remote_file_writer(std::move(c));
  }

  std::vector<DirEntry> list_dir(const std::string& root, const std::string& relpath) override
  {
    return call_as(MsgType::list_dir, {{"root", root}, {"relpath", relpath}},
                   answering(MsgType::list_dir, root, relpath), entries_of);
  }

  void remove_file(const std::string& root, const std::string& relpath) override
  {
    call(MsgType::remove_file, {{"root", root}, {"relpath", relpath}});
  }

  void rename_file(const std::string& root, const std::string& from, const std::string& to) override
  {
    call(MsgType::rename_file, {{"root", root}, {"from", from}, {"to", to}});
  }

  std::unique_ptr<AppendWriter> append_file(const std::string& root,
                                            const std::string& relpath,
                                            const std::string& expected_sha256) override
  {
    auto c = m_pool.get();
    auto r = c->call(MsgType::append_file,
                     json{{"root", root}, {"relpath", relpath}, {"sha256", expected_sha256}});
    const auto offset = decode_reply(*c, answering(MsgType::append_file, root, relpath),
                                     [&] { return wire::get_u64(r, "offset"); });
    return detail::make_remote_append_writer(std::move(c), offset);
  }

  std::vector<DirEntry> list_tree(const std::string& root, const std::string& relpath) override
  {
    return call_as(MsgType::list_tree, {{"root", root}, {"relpath", relpath}},
                   answering(MsgType::list_tree, root, relpath), entries_of);
  }

  void create_dir(const std::string& root, const std::string& relpath, std::uint32_t mode) override
  {
    call(MsgType::create_dir, {{"root", root}, {"relpath", relpath}, {"mode", mode}});
  }

  std::vector<ChunkLocation> locate_chunk(const std::string& key) override
  {
    return call_as(MsgType::locate_chunk, {{"key", key}}, answering(MsgType::locate_chunk, {}, key),
                   [](const json& r) {
                     std::vector<ChunkLocation> out;
                     for (const auto& l : at(r, "locations")) {
                       out.push_back(
                           {wire::get_string(l, "volume"), wire::get_string(l, "fingerprint")});
                     }
                     return out;
                   });
  }
  std::vector<std::string> volumes_holding(const std::string& key) override
  {
    // LOCATE_CHUNK without fingerprints; an agent that predates the field sends them anyway,
    // and they are dropped here.
    return call_as(MsgType::locate_chunk, {{"key", key}, {"fingerprints", false}},
                   answering(MsgType::locate_chunk, {}, key), [](const json& r) {
                     std::vector<std::string> out;
                     for (const auto& l : at(r, "locations")) {
                       out.push_back(wire::get_string(l, "volume"));
                     }
                     return out;
                   });
  }
  PlacedHold place_hold_fingerprint(const std::string& volume,
                                    const std::string& key,
                                    const std::string& record) override
  {
    // PLACE_HOLD asking for the fingerprint after the hold; an agent that predates the field
    // answers the holder alone, and the caller asks fingerprint() as before.
    return call_as(MsgType::place_hold,
                   {{"volume", volume}, {"key", key}, {"record", record}, {"fingerprint", true}},
                   answering(MsgType::place_hold, volume, key), [](const json& r) {
                     PlacedHold out{wire::get_string(r, "holder"), std::nullopt};
                     if (r.is_object() && r.contains("fingerprint")) {
                       out.fingerprint = wire::get_string(r, "fingerprint");
                     }
                     return out;
                   });
  }
  std::string
  place_hold(const std::string& volume, const std::string& key, const std::string& record) override
  {
    return call_as(MsgType::place_hold, {{"volume", volume}, {"key", key}, {"record", record}},
                   answering(MsgType::place_hold, volume, key),
                   [](const json& r) { return wire::get_string(r, "holder"); });
  }
  void release_hold(const std::string& volume,
                    const std::string& key,
                    const std::string& record) override
  {
    call(MsgType::release_hold, {{"volume", volume}, {"key", key}, {"record", record}});
  }

  // Backup objects run in the agent: only compressed bytes and results cross the network.

  PackResult pack_chunk(const std::string& volume,
                        const std::string& key,
                        const PackOptions& options,
                        ByteSink& out) override
  {
    auto c = m_pool.get();
    c->send(MsgType::pack_chunk,
            json{{"volume", volume}, {"key", key}, {"options", wire::to_wire(options)}});
    c->flush();
    json result = consume_stream(*c, MsgType::pack_chunk, [&](const wire::Frame& f) {
      if (f.type != MsgType::data && f.type != MsgType::data_zstd) {
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a pack");
      }
      out.write(c->data_of(f));
    });
    return decode_reply(*c, answering(MsgType::pack_chunk, volume, key),
                        [&] { return wire::decode<PackResult>(result); });
  }

  std::unique_ptr<ObjectWriter> unpack_chunk(const std::string& volume,
                                             const std::string& task,
                                             const ChunkManifest& expected) override
  {
    auto c = m_pool.get();
    c->call(MsgType::unpack_chunk,
            json{{"volume", volume}, {"task", task}, {"manifest", wire::to_wire(expected)}});
    return detail::make_remote_object_writer(std::move(c), volume, task);
  }

  ObjectCheck check_object(const std::string& root,
                           const std::string& relpath,
                           const ChunkManifest& expected) override
  {
    return call_as(MsgType::check_object,
                   {{"root", root}, {"relpath", relpath}, {"manifest", wire::to_wire(expected)}},
                   answering(MsgType::check_object, root, relpath),
                   [](const json& r) { return wire::decode<ObjectCheck>(r); });
  }

  PullResult pull_chunk(const std::string& volume,
                        const std::string& task,
                        const DirectSource& source,
                        const std::function<void(std::uint64_t)>& on_bytes) override
  {
    auto c = m_pool.get();
    c->send(MsgType::pull_chunk,
            json{{"volume", volume}, {"task", task}, {"source", wire::to_wire(source)}});
    c->flush();
    const std::string about = answering(MsgType::pull_chunk, volume, task);
    for (;;) {
      auto& f = c->recv();
      switch (f.type) {
      case MsgType::reply:
        return decode_reply(*c, about, [&] {
          return wire::decode<PullResult>(wire::from_payload(f.payload, "pull_chunk"));
        });
      case MsgType::error:
        throw c->remote_error(f);
      case MsgType::direct_unavailable:
        throw DirectUnavailable(m_description + ": " + decode_reply(*c, about, [&] {
                                  return wire::get_string(
                                      wire::from_payload(f.payload, "direct_unavailable"),
                                      "message");
                                }));
      case MsgType::pull_progress: {
        const auto n = decode_reply(*c, about, [&] {
          return wire::get_u64(wire::from_payload(f.payload, "pull_progress"), "bytes");
        });
        // Only a report of bytes is progress: one of none counts as a keepalive.
        if (n > 0) {
          c->progressed();
        }
        try {
          if (on_bytes) {
            on_bytes(n);
          }
        } catch (...) {
          cancel_pull(*c);
          throw;
        }
        break;
      }
      default:
        throw c->protocol_error(std::string("unexpected ") + wire::to_string(f.type) +
                                " in a pull");
      }
    }
  }

private:
  /// Tells the agent to stop a pull and reads up to its final frame, so the connection stays
  /// usable (the agent removes the temp).
  static void cancel_pull(AgentConnection& c) noexcept
  {
    try {
      c.send(MsgType::cancel, json::object());
      c.flush();
      for (;;) {
        auto& g = c.recv();
        if (g.type == MsgType::reply || g.type == MsgType::error ||
            g.type == MsgType::direct_unavailable) {
          return;
        }
      }
    } catch (...) {
      c.mark_broken();
    }
  }

  json call(MsgType type, const json& request)
  {
    auto c = m_pool.get();
    return c->call(type, request);
  }

  /// A call whose reply `decode` reads under the node's name (detail::decode_reply).
  template <class F>
  auto call_as(MsgType type, const json& request, const std::string& about, F&& decode)
      -> std::invoke_result_t<F&, const json&>
  {
    auto c = m_pool.get();
    const json r = c->call(type, request);
    return decode_reply(*c, about, [&] { return decode(r); });
  }

  static std::vector<DirEntry> entries_of(const json& r)
  {
    std::vector<DirEntry> out;
    for (const auto& e : at(r, "entries")) {
      out.push_back(wire::decode<DirEntry>(e));
    }
    return out;
  }

  std::string fence() const
  {
    std::lock_guard lock(m_fence_mutex);
    return m_fence;
  }

  std::string m_description;
  ConnectionPool m_pool;
  mutable std::mutex m_fence_mutex;
  std::string m_fence;
};

} // namespace

std::shared_ptr<Node> make_agent_node(AgentNodeOptions options, AgentConnector connect)
{
  return std::make_shared<AgentNode>(std::move(options), std::move(connect));
}

} // namespace clsync::transport
