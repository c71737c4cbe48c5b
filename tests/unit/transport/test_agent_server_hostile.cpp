// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// The agent decoding a hostile client: frames with lying lengths, unknown types, truncated
// CBOR, oversized lengths, every request type with payloads of the wrong shape, requests
// before the hello and stream frames outside a stream. serve_agent runs on pipes in a thread;
// it must answer ERROR frames or end with its documented exit code (1: protocol error, 2:
// hello refused), never crash, and never touch anything outside its root.
#include "tests/support/scratch.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/agent_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>
#include <unistd.h>

using namespace clsync::transport;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string agent_hostile_frame(wire::MsgType type, const std::string& payload)
{
  auto h = wire::encode_header(type, payload.size());
  return std::string(h.begin(), h.end()) + payload;
}

std::string agent_hostile_cbor(const json& j)
{
  auto p = wire::to_payload(j);
  return std::string(p.begin(), p.end());
}

std::string agent_hostile_header(std::uint32_t length, std::uint8_t type)
{
  const char h[5] = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length),
                     static_cast<char>(type)};
  return std::string(h, 5);
}

std::string agent_hostile_hello(const std::string& root)
{
  wire::Hello hello;
  hello.version = "hostile";
  hello.roots = {root};
  return agent_hostile_frame(wire::MsgType::hello, agent_hostile_cbor(wire::to_wire(hello)));
}

/// What the agent did with `input`: its exit code and the frames it sent.
struct AgentRun {
  int code = -1;
  std::vector<wire::Frame> frames;
  bool garbage = false; ///< output that is not whole frames
};

/// Runs serve_agent with `input` on its stdin (then end of input) and collects its output.
AgentRun agent_hostile_run(const std::string& input)
{
  int in[2], out[2];
  REQUIRE(::pipe(in) == 0);
  REQUIRE(::pipe(out) == 0);
  AgentRun run;
  std::thread agent([&] {
    run.code = serve_agent(in[0], out[1]);
    ::close(out[1]);
  });
  std::thread feeder([&] {
    const char* p = input.data();
    std::size_t left = input.size();
    while (left > 0) {
      const ssize_t n = ::write(in[1], p, left);
      if (n <= 0) {
        break; // the agent stopped reading (it gave up on us): fine
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::close(in[1]);
  });
  std::string output;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) {
    output.append(buf, static_cast<std::size_t>(n));
  }
  agent.join();
  feeder.join();
  ::close(out[0]);
  ::close(in[0]);
  std::size_t pos = 0;
  while (pos + wire::k_header_size <= output.size()) {
    wire::Frame f;
    std::uint32_t len = 0;
    try {
      wire::decode_header(output.data() + pos, f.type, len);
    } catch (const TransportError&) {
      run.garbage = true;
      return run;
    }
    pos += wire::k_header_size;
    if (pos + len > output.size()) {
      run.garbage = true;
      return run;
    }
    f.payload.assign(output.begin() + static_cast<long>(pos), output.begin() + static_cast<long>(pos + len));
    pos += len;
    run.frames.push_back(std::move(f));
  }
  run.garbage = run.garbage || pos != output.size();
  return run;
}

/// Every path under `dir`, sorted.
std::vector<std::string> agent_hostile_listing(const fs::path& dir)
{
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(e.path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_SUITE("transport::agent_server_hostile")
{
  TEST_CASE("broken framing before or after the hello ends the agent with exit 1")
  {
    const fs::path dir = clsync::test::scratch_dir("agent-hostile-framing");
    const fs::path root = dir / "vol";
    fs::create_directories(root / "Level1/d/t");
    clsync::test::write_file(root / "Level1/d/t/a.col", "abc");
    const std::string hello = agent_hostile_hello(root.string());
    struct Case {
      const char* name;
      std::string input;
      int code;
    };
    const std::vector<Case> cases = {
        {"a request before the hello", agent_hostile_frame(wire::MsgType::ping, agent_hostile_cbor(json::object())), 1},
        {"a 4 GiB hello", agent_hostile_header(0xffffffffu, 1) + "x", 1},
        {"an unknown type first", agent_hostile_header(0, 250), 1},
        {"a hello that lies about its length", agent_hostile_header(4000, 1) + "\xa0", 1},
        {"a hello of truncated CBOR", agent_hostile_frame(wire::MsgType::hello, "\xa2\x68protoc"), 1},
        {"text instead of frames", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1},
        {"a hello of the wrong shape", agent_hostile_frame(wire::MsgType::hello, agent_hostile_cbor(json::array({4}))), 2},
        {"a hello of another version",
         agent_hostile_frame(wire::MsgType::hello, agent_hostile_cbor(json{{"protocol", 99}})), 2},
        // 2^32 + our version: a wrapping read would take it for ours and serve.
        {"a hello whose protocol wraps to ours",
         agent_hostile_frame(
             wire::MsgType::hello,
             agent_hostile_cbor(json{{"protocol", (std::uint64_t{1} << 32) + wire::k_protocol_version},
                                     {"version", "x"},
                                     {"roots", json::array({root.string()})}})) +
             agent_hostile_frame(wire::MsgType::ping, agent_hostile_cbor(json::object())),
         2},
        {"a hello whose roots are not strings",
         agent_hostile_frame(wire::MsgType::hello,
                             agent_hostile_cbor(json{{"protocol", wire::k_protocol_version},
                                                     {"version", "x"},
                                                     {"roots", json::array({1, json::object()})},
                                                     {"keepalive_ms", 50},
                                                     {"compress", false}})),
         1},
        {"a relative root", agent_hostile_hello("vol"), 2},
        {"after the hello: an oversized frame", hello + agent_hostile_header(0x7fffffffu, 53), 1},
        {"after the hello: an unknown type", hello + agent_hostile_header(2, 99) + "{}", 1},
        {"after the hello: a truncated frame", hello + agent_hostile_header(100, 53) + "abc", 1},
        {"after the hello: truncated CBOR", hello + agent_hostile_frame(wire::MsgType::ping, "\xbf\x61"), 1},
        {"after the hello: a cut header", hello + std::string("\0\0", 2), 1},
    };
    const auto before = agent_hostile_listing(dir);
    for (const auto& c : cases) {
      CAPTURE(c.name);
      const AgentRun run = agent_hostile_run(c.input);
      CHECK(run.code == c.code);
      CHECK_FALSE(run.garbage);
      // At most the hello reply: nothing is served on a broken stream.
      CHECK(run.frames.size() <= 1);
      for (const auto& f : run.frames) {
        CHECK(f.type == wire::MsgType::hello_reply);
      }
      CHECK(agent_hostile_listing(dir) == before);
    }
  }

  TEST_CASE("every request type with payloads of the wrong shape gets an ERROR, and serving goes on")
  {
    const fs::path dir = clsync::test::scratch_dir("agent-hostile-shapes");
    const fs::path root = dir / "vol";
    fs::create_directories(root / "Level1/d/t");
    clsync::test::write_file(root / "Level1/d/t/a.col", "abc");
    const std::vector<json> shapes = {
        json::array({1, 2, 3}),
        json("volume"),
        json(-1),
        json(nullptr),
        json::object(),
        json{{"volume", 5}, {"key", json::array({"a"})}, {"task", json::object()}},
        json{{"volume", root.string()}, {"key", "../../etc"}, {"task", "../t"}, {"root", "/"},
             {"relpath", "/etc/shadow"}, {"from_volume", "/"}, {"to_volume", "/tmp"}},
        // Valid volume and task, a chunk that does not exist, every other field mistyped.
        json{{"volume", root.string()}, {"key", "Level1/d/none"}, {"task", "t1"},
             {"mode", "sideways"}, {"lease", "x"}, {"manifest", json::array()},
             {"options", 7}, {"record", 5}, {"offset", -1}, {"length", "x"}},
        json{{"root", root.string() + "/.."}, {"relpath", "x"}, {"mode", UINT64_MAX}},
    };
    const auto before = agent_hostile_listing(dir);
    std::size_t tried = 0;
    for (int type = 32; type <= 90; ++type) {
      if (!wire::is_known(static_cast<std::uint8_t>(type))) {
        continue;
      }
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        CAPTURE(type);
        CAPTURE(shapes[i].dump());
        ++tried;
        // The request, an ABORT (ends a write stream the request may have opened; an ERROR
        // otherwise), then a ping, which must still be answered.
        const std::string input =
            agent_hostile_hello(root.string()) +
            agent_hostile_frame(static_cast<wire::MsgType>(type), agent_hostile_cbor(shapes[i])) +
            agent_hostile_frame(wire::MsgType::abort, agent_hostile_cbor(json::object())) +
            agent_hostile_frame(wire::MsgType::ping, agent_hostile_cbor(json::object()));
        const AgentRun run = agent_hostile_run(input);
        CHECK(run.code == 0);
        CHECK_FALSE(run.garbage);
        REQUIRE(run.frames.size() >= 3);
        CHECK(run.frames[0].type == wire::MsgType::hello_reply);
        CHECK(run.frames.back().type == wire::MsgType::reply); // the ping
        // Shapes that name nothing valid (the first six) are refused by every request but ping
        // and scan (whose fields all have defaults); paths that climb (the seventh) by every
        // request that takes one (read_lease takes only the volume, which is valid here).
        const auto t = static_cast<wire::MsgType>(type);
        const bool lenient = t == wire::MsgType::ping || t == wire::MsgType::scan ||
                             (i == 6 && t == wire::MsgType::read_lease);
        if (i < 7 && !lenient) {
          CHECK(run.frames[1].type == wire::MsgType::error);
        }
        CHECK(agent_hostile_listing(dir) == before);
      }
    }
    CHECK(tried > 200);
  }

  TEST_CASE("stream frames outside a stream are refused, and serving goes on")
  {
    const fs::path dir = clsync::test::scratch_dir("agent-hostile-strays");
    const fs::path root = dir / "vol";
    fs::create_directories(root);
    const auto before = agent_hostile_listing(dir);
    for (auto type : {wire::MsgType::data, wire::MsgType::file_begin, wire::MsgType::file_end,
                      wire::MsgType::finish, wire::MsgType::hole, wire::MsgType::dir,
                      wire::MsgType::reply, wire::MsgType::error, wire::MsgType::hello,
                      wire::MsgType::hello_reply, wire::MsgType::scan_part,
                      wire::MsgType::keepalive, wire::MsgType::data_zstd}) {
      CAPTURE(wire::to_string(type));
      const std::string input =
          agent_hostile_hello(root.string()) + agent_hostile_frame(type, agent_hostile_cbor(json::object())) +
          agent_hostile_frame(wire::MsgType::ping, agent_hostile_cbor(json::object()));
      const AgentRun run = agent_hostile_run(input);
      CHECK(run.code == 0);
      CHECK_FALSE(run.garbage);
      REQUIRE(run.frames.size() == 3);
      CHECK(run.frames[1].type == wire::MsgType::error);
      CHECK(run.frames[2].type == wire::MsgType::reply);
      CHECK(agent_hostile_listing(dir) == before);
    }
  }
}
