// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_server.hpp"

#include "transport/agent_daemon.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/agent_server_io.hpp"
#include "transport/wire_number.hpp"
#include "transport/open.hpp"
#include "transport/safe_path.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

namespace clsync::transport {

using nlohmann::json;
using wire::Frame;
using wire::MsgType;

namespace {

using namespace detail;

[[noreturn]] void refuse(const std::string& what)
{
  throw TransportError(FailureKind::refused, what);
}

void check_relative(const std::string& p, PathUse use, const char* what)
{
  if (auto problem = relative_path_problem(p, use); !problem.empty()) {
    refuse(std::string(what) + " '" + p + "': " + problem);
  }
}

void check_task(const std::string& t)
{
  if (auto problem = task_id_problem(t); !problem.empty()) {
    refuse("task id '" + t + "': " + problem);
  }
}

std::string strip_slash(std::string p)
{
  while (p.size() > 1 && p.back() == '/') {
    p.pop_back();
  }
  return p;
}

std::string hostname()
{
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    return "unknown";
  }
  return buf;
}

class Server {
public:
  Server(int in_fd, int out_fd, AgentNodeMaker make)
      : m_in(in_fd), m_reader(m_in), m_out(out_fd), m_make(std::move(make))
  {
  }

  int run()
  {
    try {
      if (!handshake()) {
        return 2;
      }
      Keepalive keepalive(m_out, m_keepalive);
      Frame f;
      while (m_reader.next(f)) {
        if (f.type == MsgType::cancel) {
          continue; // it came after the stream it meant had ended; CANCEL has no reply
        }
        BusyScope busy(keepalive);
        dispatch(f);
      }
      return 0;
    } catch (const ClientGone&) {
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "clsync agent: %s\n", e.what());
      return 1;
    }
  }

private:
  bool handshake()
  {
    Frame f;
    if (!m_reader.next(f)) {
      return false;
    }
    if (f.type != MsgType::hello) {
      throw TransportError(FailureKind::error,
                           "expected a hello, got " + std::string(wire::to_string(f.type)));
    }
    wire::HelloReply reply;
    reply.version = CLSYNC_VERSION;
    reply.hostname = hostname();
    reply.euid = static_cast<std::uint32_t>(geteuid());
    json hj = wire::from_payload(f.payload, "hello");
    std::uint32_t protocol = 0;
    // Checked: get<std::uint32_t> would wrap 2^32 + k to protocol k.
    if (hj.is_object() && hj.contains("protocol") && !wire::wire_value(hj["protocol"], protocol)) {
      protocol = 0;
    }
    if (protocol != wire::k_protocol_version) {
      // Our own version goes back so the client can say who speaks what; then we leave.
      reply.error = "client speaks protocol " + std::to_string(protocol);
      m_out.send(MsgType::hello_reply, wire::to_wire(reply));
      return false;
    }
    auto hello = wire::decode<wire::Hello>(hj);
    for (const auto& r : hello.roots) {
      struct stat st {};
      if (r.empty() || r.front() != '/') {
        reply.error = "root '" + r + "' is not an absolute path";
      } else if (::stat(r.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
        reply.error = "root '" + r + "' is not a directory on " + reply.hostname;
      }
      // A missing root is served: its scan says ok=false (a failed disk must not make the
      // whole node unreachable), and every other operation on it fails with not_found.
      if (!reply.error.empty()) {
        break;
      }
    }
    if (reply.error.empty()) {
      try {
        m_node = m_make ? m_make(reply.hostname, hello.roots)
                        : make_local_node(reply.hostname, hello.roots);
      } catch (const std::exception& e) {
        reply.error = e.what();
      }
    }
    if (reply.error.empty() && hello.persist_s > 0) {
      reply.socket = persistent_socket(hello.persist_s);
    }
    m_out.send(MsgType::hello_reply, wire::to_wire(reply));
    if (!reply.error.empty()) {
      return false;
    }
    for (const auto& r : hello.roots) {
      m_roots.push_back(strip_slash(r));
    }
    m_compress = hello.compress;
    m_keepalive =
        std::chrono::milliseconds(std::clamp<std::uint32_t>(hello.keepalive_ms, 50, 60000));
    return true;
  }

  /// The socket of a persistent agent (agent_daemon.hpp) for the client's next run: the one
  /// serving us, or one started now (before any thread of ours runs: it forks). "" when
  /// none can run here; the reason goes to stderr, which the client shows only on failures.
  std::string persistent_socket(std::uint32_t persist_s)
  {
    if (!current_daemon_socket().empty()) {
      return current_daemon_socket();
    }
    constexpr std::uint32_t k_max_persist_s = 7 * 86400;
    AgentNodeMaker make = m_make;
    auto serve = [make](int fd) {
      Server server(fd, fd, make);
      return server.run();
    };
    std::string why;
    std::string path = ensure_agent_daemon(
        std::chrono::seconds(std::min(persist_s, k_max_persist_s)), serve, why);
    if (path.empty()) {
      std::fprintf(stderr, "clsync agent: no persistent agent: %s\n", why.c_str());
    }
    return path;
  }

  std::string root(const json& j, const char* key)
  {
    std::string r = wire::get_string(j, key);
    if (std::find(m_roots.begin(), m_roots.end(), strip_slash(r)) == m_roots.end()) {
      refuse("'" + r + "' is not one of this agent's volumes or roots");
    }
    return r;
  }
  /// A chunk key (PathUse::key) or, for `relpath`, a path inside a chunk or repository.
  std::string rel(const json& j, const char* key)
  {
    std::string p = wire::get_string(j, key);
    check_relative(p, std::string_view(key) == "key" ? PathUse::key : PathUse::file, key);
    return p;
  }
  /// An optional boolean field: `absent` when the request has none (a client that predates it).
  static bool flag(const json& j, const char* key, bool absent)
  {
    const auto it = j.find(key);
    if (it == j.end()) {
      return absent;
    }
    if (!it->is_boolean()) {
      refuse(std::string("field '") + key + "' is not a boolean");
    }
    return it->get<bool>();
  }
  std::string task(const json& j)
  {
    std::string t = wire::get_string(j, "task");
    check_task(t);
    return t;
  }
  /// Applies the request's fence (the run that must hold the volume's lease; "" for none) to
  /// the node before a fenced operation. The agent serves one connection, so no other request
  /// can see it in between.
  void fence(const json& j)
  {
    auto it = j.find("fence");
    m_node->set_fence(it != j.end() && it->is_string() ? it->get<std::string>() : std::string());
  }

  void dispatch(const Frame& f);
  void read_chunk(const json& req);
  void write_chunk(const json& req);
  void read_file(const json& req);
  void create_file(const json& req);
  void pack_chunk(const json& req);
  void unpack_chunk(const json& req);
  void append_file(const json& req);
  void pull_chunk(const json& req);
  template <class Writer, class OnFrame, class OnFinish>
  void write_stream(Writer& writer, const char* what, OnFrame&& on_frame, OnFinish&& on_finish,
                    bool open_reply = true);
  /// The bytes of a DATA or DATA_ZSTD frame (valid until the next call).
  std::span<const char> data_of(const Frame& f);
  /// True when the client sent CANCEL during a read stream.
  bool cancel_requested();

  FdSource m_in;
  wire::FrameReader m_reader;
  FrameOut m_out;
  AgentNodeMaker m_make;
  std::shared_ptr<Node> m_node;
  std::vector<std::string> m_roots;
  std::chrono::milliseconds m_keepalive{5000};
  bool m_compress = false;
  wire::DataCompressor m_compressor;
  std::vector<char> m_inflated;
};

bool Server::cancel_requested()
{
  if (!m_reader.has_buffered()) {
    pollfd p{m_in.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) {
      return false;
    }
  }
  Frame f;
  if (!m_reader.next(f)) {
    throw ClientGone{};
  }
  if (f.type != MsgType::cancel) {
    throw TransportError(FailureKind::error, std::string("unexpected ") + wire::to_string(f.type) +
                                                 " frame during a read stream");
  }
  return true;
}

void Server::dispatch(const Frame& f)
{
  json req = wire::from_payload(f.payload, wire::to_string(f.type));
  try {
    switch (f.type) {
    case MsgType::ping:
      m_out.send(MsgType::reply, json::object());
      return;
    case MsgType::scan: {
      // Replicas leave in SCAN_PART frames as the node finds them: the agent never holds the
      // node's whole replica list.
      std::vector<ReplicaScan> pending;
      auto send_parts = [&](std::size_t at_least) {
        while (!pending.empty() && pending.size() >= at_least) {
          const std::size_t n = std::min(pending.size(), wire::k_scan_batch);
          json part = json::array();
          for (std::size_t k = 0; k < n; ++k) {
            part.push_back(wire::to_wire(pending[k]));
          }
          pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
          m_out.send(MsgType::scan_part, json{{"replicas", std::move(part)}});
        }
      };
      auto result = m_node->scan_batched(wire::decode<ScanSpec>(req),
                                         [&](std::vector<ReplicaScan>& batch) {
                                           std::move(batch.begin(), batch.end(),
                                                     std::back_inserter(pending));
                                           send_parts(wire::k_scan_batch);
                                         });
      send_parts(1);
      m_out.send(MsgType::reply, wire::to_wire(result));
      return;
    }
    case MsgType::read_chunk:
      read_chunk(req);
      return;
    case MsgType::write_chunk:
      write_chunk(req);
      return;
    case MsgType::read_file:
      read_file(req);
      return;
    case MsgType::create_file:
      create_file(req);
      return;
    case MsgType::fingerprint: {
      auto fp = m_node->fingerprint(root(req, "volume"), rel(req, "key"));
      m_out.send(MsgType::reply, json{{"fingerprint", fp}});
      return;
    }
    case MsgType::hash_chunk:
      m_out.send(MsgType::reply,
                 wire::to_wire(m_node->hash_chunk(root(req, "volume"), rel(req, "key"))));
      return;
    case MsgType::commit_chunk: {
      auto mode = wire::decode<CommitMode>(req.value("mode", json()));
      auto v = root(req, "volume");
      auto t = task(req);
      fence(req);
      auto out = m_node->commit_chunk(v, t, rel(req, "key"), mode);
      m_out.send(MsgType::reply, json{{"outcome", wire::to_wire(out)}});
      return;
    }
    case MsgType::rename_chunk: {
      auto from = root(req, "from_volume");
      auto key = rel(req, "key");
      fence(req);
      auto out = m_node->rename_chunk(from, key, root(req, "to_volume"));
      m_out.send(MsgType::reply, json{{"outcome", wire::to_wire(out)}});
      return;
    }
    case MsgType::rename_chunks: {
      auto from = root(req, "from_volume");
      auto to = root(req, "to_volume");
      auto list = req.find("items");
      if (list == req.end() || !list->is_array()) {
        wire::bad_field("items");
      }
      std::vector<RenameItem> items;
      items.reserve(list->size());
      for (const auto& one : *list) {
        items.push_back({rel(one, "key"), wire::get_string(one, "fingerprint")});
      }
      fence(req);
      json results = json::array();
      for (const auto& r : m_node->rename_chunks(from, to, items)) {
        results.push_back({{"outcome", wire::to_wire(r.outcome)}, {"error", r.error}});
      }
      m_out.send(MsgType::reply, json{{"results", std::move(results)}});
      return;
    }
    case MsgType::copy_chunk_local: {
      auto from = root(req, "from_volume");
      auto key = rel(req, "key");
      auto to = root(req, "to_volume");
      m_out.send(MsgType::reply, wire::to_wire(m_node->copy_chunk_local(from, key, to, task(req))));
      return;
    }
    case MsgType::trash_chunk: {
      auto v = root(req, "volume");
      auto key = rel(req, "key");
      fence(req);
      auto fp = m_node->trash_chunk(v, key, task(req));
      m_out.send(MsgType::reply, json{{"fingerprint", fp}});
      return;
    }
    case MsgType::untrash_chunk: {
      auto v = root(req, "volume");
      auto t = task(req);
      fence(req);
      m_node->untrash_chunk(v, t, rel(req, "key"));
      break;
    }
    case MsgType::remove_task_dirs: {
      auto v = root(req, "volume");
      fence(req);
      m_node->remove_task_dirs(v, task(req));
      break;
    }
    case MsgType::write_intent: {
      auto v = root(req, "volume");
      auto t = task(req);
      m_node->write_intent(v, t, wire::get_string(req, "record"));
      break;
    }
    case MsgType::remove_intent: {
      auto v = root(req, "volume");
      m_node->remove_intent(v, task(req));
      break;
    }
    case MsgType::acquire_lease: {
      auto v = root(req, "volume");
      auto mine = wire::decode<LeaseInfo>(req.value("lease", json()));
      auto result = m_node->acquire_lease(v, mine, wire::get_string(req, "replace_run_id"));
      m_out.send(MsgType::reply, wire::to_wire(result));
      return;
    }
    case MsgType::refresh_lease:
      m_node->refresh_lease(root(req, "volume"),
                            wire::decode<LeaseInfo>(req.value("lease", json())));
      break;
    case MsgType::release_lease:
      m_node->release_lease(root(req, "volume"), wire::get_string(req, "run_id"),
                            wire::get_bool(req, "force"));
      break;
    case MsgType::read_lease: {
      auto lease = m_node->read_lease(root(req, "volume"));
      m_out.send(MsgType::reply, json{{"lease", lease ? wire::to_wire(*lease) : json()}});
      return;
    }
    case MsgType::list_dir: {
      auto r = root(req, "root");
      std::string p = wire::get_string(req, "relpath");
      if (!p.empty()) {
        check_relative(p, PathUse::file, "relpath");
      }
      json entries = json::array();
      for (const auto& e : m_node->list_dir(r, p)) {
        entries.push_back(wire::to_wire(e));
      }
      m_out.send(MsgType::reply, json{{"entries", std::move(entries)}});
      return;
    }
    case MsgType::remove_file: {
      auto r = root(req, "root");
      m_node->remove_file(r, rel(req, "relpath"));
      break;
    }
    case MsgType::rename_file: {
      auto r = root(req, "root");
      m_node->rename_file(r, rel(req, "from"), rel(req, "to"));
      break;
    }
    case MsgType::create_dir: {
      auto r = root(req, "root");
      m_node->create_dir(r, rel(req, "relpath"),
                        static_cast<std::uint32_t>(wire::get_u64(req, "mode") & 07777));
      break;
    }
    case MsgType::locate_chunk: {
      json locations = json::array();
      if (flag(req, "fingerprints", true)) {
        for (const auto& l : m_node->locate_chunk(rel(req, "key"))) {
          locations.push_back(json{{"volume", l.volume}, {"fingerprint", l.fingerprint}});
        }
      } else {
        for (const auto& v : m_node->volumes_holding(rel(req, "key"))) {
          locations.push_back(json{{"volume", v}, {"fingerprint", ""}});
        }
      }
      m_out.send(MsgType::reply, json{{"locations", std::move(locations)}});
      return;
    }
    case MsgType::place_hold: {
      auto v = root(req, "volume");
      const auto key = rel(req, "key");
      json reply{{"holder", m_node->place_hold(v, key, wire::get_string(req, "record"))}};
      if (reply["holder"].get_ref<const std::string&>().empty() &&
          flag(req, "fingerprint", false)) {
        // Taken after the hold stands. A failure leaves the field out: the client then asks
        // FINGERPRINT itself and gets the error there, as without the field.
        try {
          reply["fingerprint"] = m_node->fingerprint(v, key);
        } catch (const TransportError&) {
        }
      }
      m_out.send(MsgType::reply, reply);
      return;
    }
    case MsgType::release_hold: {
      auto v = root(req, "volume");
      m_node->release_hold(v, rel(req, "key"), wire::get_string(req, "record"));
      break;
    }
    case MsgType::pack_chunk:
      pack_chunk(req);
      return;
    case MsgType::unpack_chunk:
      unpack_chunk(req);
      return;
    case MsgType::check_object: {
      auto r = root(req, "root");
      auto p = rel(req, "relpath");
      auto manifest = wire::decode<ChunkManifest>(req.value("manifest", json()));
      m_out.send(MsgType::reply, wire::to_wire(m_node->check_object(r, p, manifest)));
      return;
    }
    case MsgType::append_file:
      append_file(req);
      return;
    case MsgType::pull_chunk:
      pull_chunk(req);
      return;
    case MsgType::list_tree: {
      auto r = root(req, "root");
      std::string p = wire::get_string(req, "relpath");
      if (!p.empty()) {
        check_relative(p, PathUse::file, "relpath");
      }
      json entries = json::array();
      for (const auto& e : m_node->list_tree(r, p)) {
        entries.push_back(wire::to_wire(e));
      }
      m_out.send(MsgType::reply, json{{"entries", std::move(entries)}});
      return;
    }
    default:
      throw TransportError(FailureKind::error,
                           std::string("unexpected ") + wire::to_string(f.type) + " frame");
    }
    m_out.send(MsgType::reply, json::object());
  } catch (const TransportError& e) {
    m_out.error(e);
  } catch (const ClientGone&) {
    throw;
  } catch (const std::exception& e) {
    m_out.error(e);
  }
}

void Server::read_chunk(const json& req)
{
  auto v = root(req, "volume");
  auto key = rel(req, "key");
  FrameChunkSink sink(m_out, m_compress ? &m_compressor : nullptr,
                      [this] { return cancel_requested(); });
  try {
    m_out.send(MsgType::reply, wire::to_wire(m_node->read_chunk(v, key, sink)));
  } catch (const Cancelled&) {
    m_out.error(TransportError(FailureKind::refused, "cancelled"));
  }
}

void Server::read_file(const json& req)
{
  auto r = root(req, "root");
  auto p = rel(req, "relpath");
  FrameByteSink sink(m_out, m_compress ? &m_compressor : nullptr,
                     [this] { return cancel_requested(); });
  try {
    m_node->read_file(r, p, wire::get_u64(req, "offset"), sink);
    m_out.send(MsgType::reply, json::object());
  } catch (const Cancelled&) {
    m_out.error(TransportError(FailureKind::refused, "cancelled"));
  }
}

// The write streams: after the opening REPLY, frames arrive without acknowledgement. Exactly
// one final frame goes back; after an ERROR the rest of the stream is read and dropped.
// `on_frame` handles every frame but FINISH, and returns false for a frame it does not expect.
template <class Writer, class OnFrame, class OnFinish>
void Server::write_stream(Writer& writer,
                          const char* what,
                          OnFrame&& on_frame,
                          OnFinish&& on_finish,
                          bool open_reply)
{
  if (open_reply) {
    m_out.send(MsgType::reply, json::object());
  }
  bool failed = false;
  Frame f;
  for (;;) {
    if (!m_reader.next(f)) {
      writer.abort();
      throw ClientGone{};
    }
    const bool last = f.type == MsgType::finish || f.type == MsgType::abort;
    if (failed) {
      if (last) {
        return;
      }
      continue;
    }
    try {
      if (f.type == MsgType::finish) {
        if constexpr (std::is_invocable_v<OnFinish, const Frame&>) {
          m_out.send(MsgType::reply, on_finish(f));  // FINISH carries arguments
        } else {
          m_out.send(MsgType::reply, on_finish());
        }
        return;
      }
      if (f.type == MsgType::abort) {
        writer.abort();
        m_out.send(MsgType::reply, json::object());
        return;
      }
      if (!on_frame(f)) {
        throw TransportError(FailureKind::error, std::string("unexpected ") +
                                                     wire::to_string(f.type) + " frame in a " +
                                                     what + " write stream");
      }
    } catch (const ClientGone&) {
      writer.abort();
      throw;
    } catch (const TransportError& e) {
      writer.abort();
      m_out.error(e);
      failed = true;
    } catch (const std::exception& e) {
      writer.abort();
      m_out.error(e);
      failed = true;
    }
    if (failed && last) {
      return;
    }
  }
}

std::span<const char> Server::data_of(const Frame& f)
{
  if (f.type == MsgType::data_zstd) {
    wire::decompress_data(f.payload, m_inflated);
    return {m_inflated.data(), m_inflated.size()};
  }
  return {f.payload.data(), f.payload.size()};
}

void Server::write_chunk(const json& req)
{
  auto v = root(req, "volume");
  auto writer = m_node->write_chunk(v, task(req));
  write_stream(
      *writer, "chunk",
      [&](const Frame& f) {
        switch (f.type) {
        case MsgType::file_begin:
          writer->begin_file(wire::decode<FileEntry>(wire::from_payload(f.payload, "file_begin")));
          return true;
        case MsgType::data:
        case MsgType::data_zstd:
          writer->file_data(data_of(f));
          return true;
        case MsgType::hole:
          writer->file_hole(wire::get_u64(wire::from_payload(f.payload, "hole"), "length"));
          return true;
        case MsgType::file_end:
          writer->end_file(wire::get_string(wire::from_payload(f.payload, "file_end"), "sha256"));
          return true;
        case MsgType::dir:
          writer->directory(wire::decode<ChunkDir>(wire::from_payload(f.payload, "dir")));
          return true;
        default:
          return false;
        }
      },
      [&] { return wire::to_wire(writer->finish()); });
}

void Server::create_file(const json& req)
{
  auto r = root(req, "root");
  const auto field = req.find("durability");
  const std::string durability =
      field == req.end() ? "" : (field->is_string() ? field->get<std::string>() : "?");
  if (!durability.empty() && durability != "content" && durability != "none") {
    throw TransportError(FailureKind::refused, "create_file: unknown durability '" + durability + "'");
  }
  auto writer = m_node->create_file(r, rel(req, "relpath"),
                                    durability == "content" ? FileDurability::content
                                    : durability == "none"  ? FileDurability::none
                                                            : FileDurability::durable);
  write_stream(
      *writer, "file",
      [&](const Frame& f) {
        if (f.type != MsgType::data && f.type != MsgType::data_zstd) {
          return false;
        }
        writer->write(data_of(f));
        return true;
      },
      [&] {
        return json{{"sha256", writer->commit()}};
      });
}

// The object arrives compressed and is decoded here, next to the disk; the object's bytes are
// already zstd, so they go out as plain DATA whatever the connection's --compress says.
void Server::pack_chunk(const json& req)
{
  auto v = root(req, "volume");
  auto key = rel(req, "key");
  auto options = wire::decode<PackOptions>(req.value("options", json()));
  FrameByteSink sink(m_out, nullptr, [this] { return cancel_requested(); });
  try {
    m_out.send(MsgType::reply, wire::to_wire(m_node->pack_chunk(v, key, options, sink)));
  } catch (const Cancelled&) {
    m_out.error(TransportError(FailureKind::refused, "cancelled"));
  }
}

void Server::unpack_chunk(const json& req)
{
  auto v = root(req, "volume");
  auto t = task(req);
  auto manifest = wire::decode<ChunkManifest>(req.value("manifest", json()));
  auto writer = m_node->unpack_chunk(v, t, manifest);
  write_stream(
      *writer, "object",
      [&](const Frame& f) {
        if (f.type != MsgType::data && f.type != MsgType::data_zstd) {
          return false;
        }
        writer->write(data_of(f));
        return true;
      },
      [&](const Frame& f) {
        auto args = wire::from_payload(f.payload, "finish");
        return wire::to_wire(writer->finish(wire::get_string(args, "object_sha256")));
      });
}

/// The opening REPLY carries the partial's offset, so the client sends only what is missing.
/// ABORT (or a failure) keeps the partial for a later resume.
void Server::append_file(const json& req)
{
  auto r = root(req, "root");
  auto p = rel(req, "relpath");
  auto writer = m_node->append_file(r, p, wire::get_string(req, "sha256"));
  struct Keeper {
    AppendWriter& w;
    void abort() noexcept { w.close(); }
  } keeper{*writer};
  m_out.send(MsgType::reply, json{{"offset", writer->offset()}});
  write_stream(
      keeper, "append", [&](const Frame& f) {
        if (f.type != MsgType::data && f.type != MsgType::data_zstd) {
          return false;
        }
        writer->write(data_of(f));
        return true;
      },
      [&] { return json{{"size", writer->commit()}}; }, false);
}

/// A direct pull (`transfer: direct`): this agent's node reads the chunk from the source's agent
/// over its own ssh client. The client sees progress frames (its deadline and progress bar),
/// then one final frame; DIRECT_UNAVAILABLE says the pull could not be set up.
void Server::pull_chunk(const json& req)
{
  auto v = root(req, "volume");
  auto t = task(req);
  auto source = wire::decode<DirectSource>(req.value("source", json()));
  constexpr std::uint64_t k_progress_bytes = 4u << 20;
  std::uint64_t pending = 0;
  // The first block is reported at once (the client's progress and fault points see the copy
  // start), later ones every 4 MiB or 200 ms.
  std::chrono::steady_clock::time_point last{};
  auto on_bytes = [&](std::uint64_t n) {
    pending += n;
    const auto now = std::chrono::steady_clock::now();
    if (pending >= k_progress_bytes || now - last >= std::chrono::milliseconds(200)) {
      m_out.send(MsgType::pull_progress, json{{"bytes", pending}});
      pending = 0;
      last = now;
    }
    if (cancel_requested()) {
      throw Cancelled{};
    }
  };
  try {
    auto result = m_node->pull_chunk(v, t, source, on_bytes);
    if (pending > 0) {
      m_out.send(MsgType::pull_progress, json{{"bytes", pending}});
    }
    m_out.send(MsgType::reply, wire::to_wire(result));
  } catch (const DirectUnavailable& e) {
    m_out.send(MsgType::direct_unavailable, json{{"message", e.what()}});
  } catch (const Cancelled&) {
    m_out.error(TransportError(FailureKind::refused, "cancelled"));
  }
}

} // namespace

int serve_agent(int in_fd, int out_fd, AgentNodeMaker make_node)
{
  // Bigger pipes mean fewer wake-ups between sshd and us on bulk transfers; best effort.
  (void)::fcntl(in_fd, F_SETPIPE_SZ, 1 << 20);
  (void)::fcntl(out_fd, F_SETPIPE_SZ, 1 << 20);
  ::signal(SIGPIPE, SIG_IGN);
  Server server(in_fd, out_fd, std::move(make_node));
  return server.run();
}

} // namespace clsync::transport
