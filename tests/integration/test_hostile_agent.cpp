// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// A hostile agent: a fake agent program that answers nonsense, lies about lengths, sends
// truncated or wrongly shaped CBOR, never answers, or streams files that climb out of the
// chunk. The client must fail with a TransportError naming the node, never crash, never hang
// past its I/O timeout, and never write outside the destination volume. The fake agents are
// shell scripts that `cat` pre-computed frames: as local processes (spawn_agent_process), and
// as an `agent_command` behind a real sshd, where the command also goes through the login
// shell (which must see it as one program path).
#include "core/sync/chunk_stream.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/agent_client.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/open.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

using namespace clsync::transport;
using clsync::test::contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// The bytes of one frame of `type` with `payload`.
std::string hostile_frame(wire::MsgType type, const std::string& payload)
{
  auto h = wire::encode_header(type, payload.size());
  return std::string(h.begin(), h.end()) + payload;
}

std::string hostile_cbor(const json& j)
{
  auto p = wire::to_payload(j);
  return std::string(p.begin(), p.end());
}

/// A frame header with any length and any type byte (lies included).
std::string hostile_raw_header(std::uint32_t length, std::uint8_t type)
{
  std::string h(5, '\0');
  h[0] = static_cast<char>(length >> 24);
  h[1] = static_cast<char>(length >> 16);
  h[2] = static_cast<char>(length >> 8);
  h[3] = static_cast<char>(length);
  h[4] = static_cast<char>(type);
  return h;
}

/// A correct hello reply of this protocol version.
std::string hostile_good_hello()
{
  wire::HelloReply r;
  r.version = "hostile";
  r.hostname = "evil";
  return hostile_frame(wire::MsgType::hello_reply, hostile_cbor(wire::to_wire(r)));
}

/// Writes a fake agent into `dir`: it prints `bytes`, then runs `after` (by default it reads
/// its input to the end, so it neither answers nor exits). Returns its path.
fs::path hostile_agent_script(const fs::path& dir,
                              const std::string& bytes,
                              const std::string& after = "exec cat >/dev/null")
{
  static int counter = 0;
  const std::string n = std::to_string(++counter);
  clsync::test::write_file(dir / ("reply" + n + ".bin"), bytes);
  const fs::path script = dir / ("agent" + n);
  clsync::test::write_file(script, "#!/bin/sh\ncat '" + (dir / ("reply" + n + ".bin")).string() +
                                       "'\n" + after + "\n");
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

/// A node served by `script` as a local child process, with an I/O deadline of `io_ms` and a
/// stall limit of `stall_s` (0: none).
std::shared_ptr<Node>
hostile_piped_node(const fs::path& script, const std::string& root, int io_ms = 5000, int stall_s = 0)
{
  AgentNodeOptions o;
  o.description = "node H1 (hostile)";
  o.pool_size = 1;
  o.stall_limit_s = stall_s;
  return make_agent_node(o, [script, root, io_ms] {
    auto stream = spawn_agent_process({script.string()}, "node H1 (hostile)", io_ms);
    wire::Hello hello;
    hello.version = "test";
    hello.roots = {root};
    agent_hello(*stream, hello, "node H1 (hostile)");
    return stream;
  });
}

/// The message of the TransportError `f` throws ("(no error)" when it returns, "(other: …)"
/// for another exception type).
std::string hostile_failure(const std::function<void()>& f)
{
  try {
    f();
  } catch (const TransportError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(other: ") + e.what() + ")";
  }
  return "(no error)";
}

/// Every path under `dir`, sorted (to prove nothing appeared where nothing may).
std::vector<std::string> hostile_listing(const fs::path& dir)
{
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(e.path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// A FileEntry of `size` bytes at `path` for a chunk stream.
std::string hostile_file_begin(const std::string& path, std::uint64_t size, std::uint32_t mode = 0644)
{
  FileEntry f;
  f.path = path;
  f.size = size;
  f.mtime_ns = 1'600'000'000'000'000'000;
  f.mode = mode;
  return hostile_frame(wire::MsgType::file_begin, hostile_cbor(wire::to_wire(f)));
}

std::string hostile_file_end(const std::string& content)
{
  return hostile_frame(wire::MsgType::file_end, hostile_cbor(json{{"sha256", sha256_hex(content)}}));
}

std::string hostile_dir(const std::string& path, std::uint32_t mode)
{
  ChunkDir d;
  d.path = path;
  d.mode = mode;
  d.mtime_ns = 1;
  return hostile_frame(wire::MsgType::dir, hostile_cbor(wire::to_wire(d)));
}

/// A scratch directory with `agents/` for fake agent scripts and `dst/`, the volume of a local
/// node D1 that a hostile stream is written to.
struct HostileStreamDirs {
  fs::path dir, agents, dst;
  std::shared_ptr<Node> local;
  explicit HostileStreamDirs(const std::string& name)
      : dir(clsync::test::scratch_dir(name)), agents(dir / "agents"), dst(dir / "dst")
  {
    fs::create_directories(agents);
    fs::create_directories(dst);
    local = make_local_node("D1", {dst.string()});
  }
};

/// An ERROR frame ending a stream: were the stream accepted, this ends it, so a refusal must
/// come from the writer before it.
std::string hostile_stream_end()
{
  wire::ErrorInfo over;
  over.message = "hostile-stream-over";
  return hostile_frame(wire::MsgType::error, hostile_cbor(wire::to_wire(over)));
}

/// Reads a chunk from `n` into a sink that keeps nothing (for decoding failures).
void hostile_read_discard(Node& n, const std::string& root, const std::string& key)
{
  struct Discard : ChunkSink {
    void begin_file(const FileEntry&) override {}
    void file_data(std::span<const char>) override {}
    void file_hole(std::uint64_t) override {}
    void end_file(const std::string&) override {}
    void directory(const ChunkDir&) override {}
  } sink;
  n.read_chunk(root, key, sink);
}

} // namespace

TEST_SUITE("hostile")
{
  TEST_CASE("an agent that answers the hello with nonsense fails the node cleanly")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-hello");
    const std::string root = dir.string();
    struct Case {
      const char* name;
      std::string bytes;
      std::string after;
      const char* says;
    };
    const std::vector<Case> cases = {
        {"a shell greeting", "Welcome to node 7!\n", "exec cat >/dev/null", "agent protocol"},
        {"a greeting, then exit", "Last login: never\n", "exit 0", "node H1"},
        {"nothing, exit 0", "", "exit 0", "node H1"},
        {"a 4 GiB frame", hostile_raw_header(0xffffffffu, 2), "exec cat >/dev/null", "exceeds"},
        {"a 64 MiB frame that ends after 10 bytes",
         hostile_raw_header(wire::k_max_frame, 2) + std::string(10, 'x'), "exit 0", "node H1"},
        {"an unknown frame type", hostile_raw_header(0, 250), "exec cat >/dev/null", "node H1"},
        {"a reply instead of a hello reply", hostile_frame(wire::MsgType::reply, hostile_cbor(json::object())),
         "exec cat >/dev/null", "node H1"},
        {"truncated CBOR", hostile_frame(wire::MsgType::hello_reply, "\xa3\x68protocol"),
         "exec cat >/dev/null", "node H1"},
        {"CBOR of the wrong shape", hostile_frame(wire::MsgType::hello_reply, hostile_cbor(json::array({1, 2}))),
         "exec cat >/dev/null", "node H1"},
        {"a protocol of 2^64-1",
         hostile_frame(wire::MsgType::hello_reply,
                       hostile_cbor(json{{"protocol", UINT64_MAX}, {"version", "x"}, {"hostname", "h"},
                                         {"euid", 0}, {"error", ""}})),
         "exec cat >/dev/null", "node H1"},
        {"a lying length", hostile_raw_header(1000, 2) + hostile_cbor(json::object()), "exit 0",
         "node H1"},
    };
    for (const auto& c : cases) {
      INFO("case: " << std::string(c.name));
      const auto node = hostile_piped_node(hostile_agent_script(dir, c.bytes, c.after), root);
      const std::string m = hostile_failure([&] { node->read_lease(root); });
      CHECK_MESSAGE(contains(m, "node H1"), m);
      CHECK_MESSAGE(contains(m, c.says), m);
      CHECK_MESSAGE(!contains(m, "(other:"), m);
    }
  }

  TEST_CASE("an agent that answers a request with nonsense fails the request, naming the node")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-reply");
    const std::string root = dir.string();
    const std::string hello = hostile_good_hello();
    const std::vector<std::pair<const char*, std::string>> replies = {
        {"truncated CBOR", hostile_frame(wire::MsgType::reply, "\xa1\x6b" "fingerpr")},
        {"an array", hostile_frame(wire::MsgType::reply, hostile_cbor(json::array()))},
        {"a number for a string", hostile_frame(wire::MsgType::reply, hostile_cbor(json{{"fingerprint", 5}}))},
        {"an unknown type", hostile_raw_header(3, 201) + "abc"},
        {"a scan part", hostile_frame(wire::MsgType::scan_part, hostile_cbor(json{{"replicas", json::array()}}))},
        {"data", hostile_frame(wire::MsgType::data, "zzz")},
        {"an error of the wrong shape", hostile_frame(wire::MsgType::error, hostile_cbor(json("boom")))},
        {"a lying length", hostile_raw_header(500, 3) + hostile_cbor(json{{"fingerprint", "x"}})},
        {"a hello reply again", hostile_good_hello()},
        {"keepalives, then the end", std::string(hostile_frame(wire::MsgType::keepalive, "")) +
                                         hostile_frame(wire::MsgType::keepalive, "")},
    };
    for (const auto& name_bytes : replies) {
      const auto& name = name_bytes.first; // named, not bound: doctest's lambdas
      const auto& bytes = name_bytes.second; // capture them (clang 14)
      INFO("case: " << std::string(name));
      const auto node =
          hostile_piped_node(hostile_agent_script(dir, hello + bytes, "exit 3"), root);
      const std::string m = hostile_failure([&] { node->fingerprint(root, "Level1/d/t"); });
      // Framing errors and replies of the wrong shape alike name the node.
      CHECK_MESSAGE(contains(m, "node H1"), m);
      CHECK_MESSAGE((!contains(m, "(other:") && !contains(m, "(no error)")), m);
    }
    // Scans and digests of the wrong shape, too.
    const std::vector<std::pair<const char*, std::string>> scans = {
        {"replicas not a list", hostile_frame(wire::MsgType::scan_part, hostile_cbor(json{{"replicas", "x"}}))},
        {"a replica of the wrong shape",
         hostile_frame(wire::MsgType::scan_part, hostile_cbor(json{{"replicas", json::array({json::array()})}}))},
        {"a reply without volumes", hostile_frame(wire::MsgType::reply, hostile_cbor(json{{"x", 1}}))},
    };
    for (const auto& name_bytes : scans) {
      const auto& name = name_bytes.first; // named, not bound: doctest's lambdas
      const auto& bytes = name_bytes.second; // capture them (clang 14)
      INFO("case: " << std::string(name));
      const auto node = hostile_piped_node(hostile_agent_script(dir, hello + bytes), root);
      ScanSpec spec;
      const std::string m = hostile_failure([&] { node->scan(spec); });
      CHECK_MESSAGE(contains(m, "agent protocol"), m);
      CHECK_MESSAGE(contains(m, "node H1"), m);
      CHECK_MESSAGE((!contains(m, "(other:") && !contains(m, "(no error)")), m);
    }
  }

  TEST_CASE("a hostile chunk stream writes nothing outside the destination's temp directory")
  {
    const HostileStreamDirs dirs("hostile-stream");
    const fs::path& dir = dirs.dir;
    const fs::path& agents = dirs.agents;
    const fs::path& dst = dirs.dst;
    const auto& local = dirs.local;
    const std::string hello = hostile_good_hello();
    const std::string abc = "abc";
    const auto good_file = hostile_file_begin("a.col", 3) +
                           hostile_frame(wire::MsgType::data, abc) + hostile_file_end(abc);
    struct Case {
      const char* name;
      std::string stream;
    };
    const std::vector<Case> cases = {
        {"a file that climbs", hostile_file_begin("../../escape", 3) +
                                   hostile_frame(wire::MsgType::data, abc) + hostile_file_end(abc)},
        {"an absolute file", hostile_file_begin((dir / "abs").string(), 3) +
                                 hostile_frame(wire::MsgType::data, abc) + hostile_file_end(abc)},
        {"a directory that climbs", good_file + hostile_dir("..", 07777)},
        {"a directory that climbs further", good_file + hostile_dir("x/../../..", 0)},
        {"a hard link out of the chunk",
         good_file + hostile_frame(wire::MsgType::file_begin, [] {
           FileEntry f;
           f.path = "b.col";
           f.size = 3;
           f.link_to = "../../../etc/passwd";
           return hostile_cbor(wire::to_wire(f));
         }()) + hostile_file_end(abc)},
        {"a hard link to a file not sent",
         hostile_frame(wire::MsgType::file_begin, [] {
           FileEntry f;
           f.path = "b.col";
           f.size = 3;
           f.link_to = "a.col";
           return hostile_cbor(wire::to_wire(f));
         }()) + hostile_file_end(abc)},
        {"more bytes than announced", hostile_file_begin("big.col", 3) +
                                          hostile_frame(wire::MsgType::data, std::string(200000, 'x')) +
                                          hostile_file_end(std::string(200000, 'x'))},
        {"a hole beyond the size", hostile_file_begin("h.col", 3) +
                                       hostile_frame(wire::MsgType::hole, hostile_cbor(json{{"length", UINT64_MAX}})) +
                                       hostile_file_end("")},
        {"a size of 2^64-1", hostile_file_begin("s.col", UINT64_MAX) +
                                 hostile_frame(wire::MsgType::data, abc) + hostile_file_end(abc)},
        {"data outside a file", hostile_frame(wire::MsgType::data, abc)},
        {"a file inside a file", hostile_file_begin("a.col", 3) + hostile_file_begin("b.col", 3)},
        {"the same file twice", good_file + good_file},
        {"a wrong hash", hostile_file_begin("a.col", 3) + hostile_frame(wire::MsgType::data, abc) +
                             hostile_file_end("abd")},
        {"a name with NUL", hostile_file_begin(std::string("a\0b", 3), 3) +
                                hostile_frame(wire::MsgType::data, abc) + hostile_file_end(abc)},
    };
    const std::string stream_end = hostile_stream_end();
    const auto before = hostile_listing(dir);
    for (const auto& c : cases) {
      INFO("case: " << std::string(c.name));
      const auto src = hostile_piped_node(
          hostile_agent_script(agents, hello + c.stream + stream_end), "/srv/vol");
      const std::string m = hostile_failure([&] {
        auto writer = local->write_chunk(dst.string(), "hostile1");
        src->read_chunk("/srv/vol", "Level1/d/t", *writer);
        writer->finish();
      });
      CHECK_MESSAGE(m != "(no error)", m);
      CHECK_MESSAGE(!contains(m, "(other:"), m);
      CHECK_MESSAGE(!contains(m, "hostile-stream-over"), m);
      if (std::string(c.name) == "more bytes than announced") {
        // Refused at the first excess byte, not after writing all of them.
        CHECK_MESSAGE(contains(m, "more than the 3 bytes announced"), m);
      }
      // Nothing outside dst/.clsync-tmp-* appeared, and the temp is gone.
      auto after = hostile_listing(dir);
      after.erase(std::remove_if(after.begin(), after.end(),
                                 [](const std::string& p) { return p.rfind("agents", 0) == 0; }),
                  after.end());
      auto expected = before;
      expected.erase(std::remove_if(expected.begin(), expected.end(),
                                    [](const std::string& p) { return p.rfind("agents", 0) == 0; }),
                     expected.end());
      CHECK(after == expected);
      CHECK((fs::status(dir).permissions() & fs::perms::others_write) == fs::perms::none);
      CHECK(fs::exists("/etc/passwd"));
    }
  }

  TEST_CASE("a reply of the right framing but the wrong shape names the node and what was asked")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-shape");
    const std::string root = dir.string();
    const std::string hello = hostile_good_hello();
    const std::string key = "Level1/d/t";
    auto reply = [](const json& j) { return hostile_frame(wire::MsgType::reply, hostile_cbor(j)); };
    const std::string abc = "abc";
    struct Case {
      const char* name;
      std::string bytes;
      std::function<void(Node&)> call;
      std::vector<std::string> says;
    };
    const std::vector<Case> cases = {
        {"fingerprint: a number", reply(json{{"fingerprint", 5}}),
         [&](Node& n) { n.fingerprint(root, key); }, {"fingerprint", key}},
        {"hash_chunk: an empty map", reply(json::object()),
         [&](Node& n) { n.hash_chunk(root, key); }, {"hash_chunk", key}},
        {"commit_chunk: an unknown outcome", reply(json{{"outcome", "sideways"}}),
         [&](Node& n) { n.commit_chunk(root, "t1", key, CommitMode::no_replace); },
         {"commit_chunk", key}},
        {"rename_chunk: no outcome", reply(json{{"x", 1}}),
         [&](Node& n) { n.rename_chunk(root, key, root); }, {"rename_chunk", key}},
        {"list_dir: entries of numbers", reply(json{{"entries", json::array({1, 2})}}),
         [&](Node& n) { n.list_dir(root, "snapshots"); }, {"list_dir", "snapshots"}},
        {"read_lease: a string", reply(json{{"lease", "mine"}}),
         [&](Node& n) { n.read_lease(root); }, {"read_lease"}},
        {"read_chunk: a file_begin of numbers",
         hostile_frame(wire::MsgType::file_begin, hostile_cbor(json{{"path", 5}, {"size", "x"}})),
         [&](Node& n) { hostile_read_discard(n, root, key); }, {"read_chunk", key}},
        {"read_chunk: a negative hole",
         hostile_file_begin("a.col", 3) +
             hostile_frame(wire::MsgType::hole, hostile_cbor(json{{"length", -1}})),
         [&](Node& n) { hostile_read_discard(n, root, key); }, {"read_chunk", key, "a.col"}},
        {"read_chunk: a digest of the wrong shape",
         hostile_file_begin("a.col", 3) + hostile_frame(wire::MsgType::data, abc) +
             hostile_file_end(abc) + reply(json{{"files", "many"}}),
         [&](Node& n) { hostile_read_discard(n, root, key); }, {"read_chunk", key}},
        {"pull_chunk: progress in words", hostile_frame(wire::MsgType::pull_progress,
                                                        hostile_cbor(json{{"bytes", "lots"}})),
         [&](Node& n) { n.pull_chunk(root, "t1", DirectSource{}, {}); }, {"pull_chunk"}},
        {"a writer's finish: no digest", reply(json::object()) + reply(json{{"x", 1}}),
         [&](Node& n) { n.write_chunk(root, "t1")->finish(); }, {"finish", "t1"}},
    };
    for (const auto& c : cases) {
      INFO("case: " << std::string(c.name));
      // The agent keeps reading after its reply: an agent that left at once could make the
      // request's own write fail first (a broken pipe), which is not what this case tries.
      const auto node = hostile_piped_node(hostile_agent_script(dir, hello + c.bytes), root);
      const std::string m = hostile_failure([&] { c.call(*node); });
      CHECK_MESSAGE(contains(m, "node H1"), m);
      CHECK_MESSAGE(contains(m, "agent protocol"), m);
      for (const auto& w : c.says) {
        CHECK_MESSAGE(contains(m, w), m);
      }
      CHECK_MESSAGE((!contains(m, "(other:") && !contains(m, "(no error)")), m);
    }
  }

  TEST_CASE("sync-online's chunk stream refuses what a hostile source sends, naming the source")
  {
    const HostileStreamDirs dirs("hostile-sync-stream");
    const fs::path& agents = dirs.agents;
    const fs::path& dst = dirs.dst;
    const auto& local = dirs.local;
    const std::string hello = hostile_good_hello();
    const std::string abc = "abc";
    const std::string long_name(2u << 20, 'n');
    struct Case {
      const char* name;
      std::string stream;
      const char* says;
    };
    const std::vector<Case> cases = {
        {"a name of 2 MiB", hostile_file_begin(long_name, 3), "a name of"},
        {"a hole beyond the size",
         hostile_file_begin("h.col", 3) +
             hostile_frame(wire::MsgType::hole, hostile_cbor(json{{"length", UINT64_MAX}})),
         "more than the 3 bytes"},
        {"more bytes than announced",
         hostile_file_begin("big.col", 3) + hostile_frame(wire::MsgType::data, std::string(9, 'x')),
         "more than the 3 bytes"},
    };
    const std::string stream_end = hostile_stream_end();
    for (const auto& c : cases) {
      INFO("case: " << std::string(c.name));
      const auto src = hostile_piped_node(
          hostile_agent_script(agents, hello + c.stream + stream_end), "/srv/vol");
      const std::string m = hostile_failure([&] {
        // As SyncSource::read and a destination of the fan-out do.
        clsync::core::sync::ChunkStreamWriter out(local->write_chunk(dst.string(), "hostile2"));
        clsync::core::sync::ChunkStreamEncoder enc(out, {}, "chunk Level1/d/t on source node H1");
        try {
          src->read_chunk("/srv/vol", "Level1/d/t", enc);
          enc.finish();
          out.finish("");
        } catch (...) {
          out.abort();
          throw;
        }
      });
      CHECK_MESSAGE(contains(m, "source node H1"), m);
      CHECK_MESSAGE(contains(m, c.says), m);
      CHECK_MESSAGE(!contains(m, "internal error"), m);
      CHECK_MESSAGE((!contains(m, "(other:") && !contains(m, "hostile-stream-over")), m);
      CHECK(hostile_listing(dst).empty());
    }
  }

  TEST_CASE("an agent that only keeps a request alive is given up after the stall limit")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-stall");
    const std::string root = dir.string();
    const std::string hello = hostile_good_hello();
    // Far longer than the 1 s stall limit, then it leaves: a client without the limit ends
    // with "closed the connection" instead (after 60 s), never with the stall error.
    auto forever = [&](const std::string& frame) {
      clsync::test::write_file(dir / "frame.bin", frame);
      return "i=0; while [ $i -lt 600 ]; do cat '" + (dir / "frame.bin").string() +
             "'; sleep 0.1; i=$((i+1)); done; exit 0";
    };
    struct Case {
      const char* name;
      std::string frame;
      std::function<void(Node&)> call;
    };
    const std::vector<Case> cases = {
        {"keepalives", hostile_frame(wire::MsgType::keepalive, ""),
         [&](Node& n) { n.hash_chunk(root, "Level1/d/t"); }},
        {"pull progress of no bytes",
         hostile_frame(wire::MsgType::pull_progress, hostile_cbor(json{{"bytes", 0}})),
         [&](Node& n) { n.pull_chunk(root, "t1", DirectSource{}, {}); }},
    };
    for (const auto& c : cases) {
      INFO("case: " << std::string(c.name));
      const auto node = hostile_piped_node(hostile_agent_script(dir, hello, forever(c.frame)),
                                           root, 5000, 1);
      const std::string m = hostile_failure([&] { c.call(*node); });
      CHECK_MESSAGE(contains(m, "node H1"), m);
      CHECK_MESSAGE(contains(m, "without progress"), m);
    }
  }
}
