// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `transfer:` and `direct:` in topology files (SPEC §2, §6), and the routes the executor derives.
#include "core/error.hpp"
#include "core/cluster/topology.hpp"
#include "core/run/direct_route.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/direct_pull.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using clsync::core::DirectRoutes;
using clsync::core::parse_topology;
using clsync::core::Topology;
using clsync::core::TransferMode;

namespace {

std::string direct_error_of(const std::string& yaml)
{
  try {
    parse_topology(yaml, "d.yaml");
  } catch (const clsync::TopologyError& e) {
    CHECK(static_cast<int>(e.code()) == 2);
    return e.what();
  }
  return "(loaded)";
}

void expect_direct_error(const std::string& yaml, const std::string& where,
                         const std::string& fragment)
{
  const std::string msg = direct_error_of(yaml);
  INFO("message: " << msg);
  CHECK(msg.rfind(where, 0) == 0);
  CHECK(msg.find(fragment) != std::string::npos);
}

const std::string k_direct_head = "cluster: c\n"
                                  "replication: 1\n"
                                  "ssh:\n"
                                  "  user: clsync\n"
                                  "  port: 2200\n"
                                  "  agent_command: /opt/clsync/bin/clsync\n";

} // namespace

TEST_SUITE("core::topology")
{
  TEST_CASE("transfer and direct: defaults, top-level settings and per-node overrides")
  {
    const Topology plain = parse_topology(k_direct_head + "nodes:\n"
                                                          "  - name: A\n"
                                                          "    host: 10.0.0.1\n"
                                                          "    volumes: [/d/a]\n",
                                          "d.yaml");
    CHECK(plain.transfer == TransferMode::relay);
    CHECK(plain.nodes[0].transfer == TransferMode::relay);

    const Topology t = parse_topology(k_direct_head + "transfer: direct\n"
                                                      "direct:\n"
                                                      "  identity: /etc/clsync/node_key\n"
                                                      "  known_hosts: ~/.ssh/clsync_known\n"
                                                      "nodes:\n"
                                                      "  - name: A\n"
                                                      "    host: 10.0.0.1\n"
                                                      "    volumes: [/d/a]\n"
                                                      "  - name: B\n"
                                                      "    host: 10.0.0.2\n"
                                                      "    volumes: [/d/b]\n"
                                                      "    direct:\n"
                                                      "      host: 10.1.0.2\n"
                                                      "      port: 22\n"
                                                      "      user: mover\n"
                                                      "      agent_command: clsync-agent\n"
                                                      "  - name: C\n"
                                                      "    host: 10.0.0.3\n"
                                                      "    transfer: relay\n"
                                                      "    volumes: [/d/c]\n",
                                      "d.yaml");
    CHECK(t.transfer == TransferMode::direct);
    CHECK(t.nodes[0].transfer == TransferMode::direct);
    CHECK(t.nodes[2].transfer == TransferMode::relay);
    // Node-side paths are kept as written: they are files on the node, not here.
    CHECK(t.nodes[0].direct.identity == "/etc/clsync/node_key");
    CHECK(t.nodes[0].direct.known_hosts == "~/.ssh/clsync_known");
    // A node's direct block overrides key by key.
    CHECK(t.nodes[1].direct.identity == "/etc/clsync/node_key");
    CHECK(t.nodes[1].direct.host == "10.1.0.2");
    CHECK(t.nodes[1].direct.user == "mover");

    DirectRoutes routes(t, false);
    // B pulls from A: A as the topology reaches it, B's key and known_hosts.
    auto ab = routes.route({"A", "/d/a"}, {"B", "/d/b"}, "db/t/1");
    REQUIRE(ab.direct);
    REQUIRE(ab.source);
    CHECK(ab.source->host == "10.0.0.1");
    CHECK(ab.source->port == 2200);
    CHECK(ab.source->user == "clsync");
    CHECK(ab.source->agent_command == "/opt/clsync/bin/clsync");
    CHECK(ab.source->identity == "/etc/clsync/node_key");
    CHECK(ab.source->roots == std::vector<std::string>{"/d/a"});
    CHECK(ab.source->volume == "/d/a");
    CHECK(ab.source->key == "db/t/1");
    // A pulls from B: B's direct block says how peers reach it.
    auto ba = routes.route({"B", "/d/b"}, {"A", "/d/a"}, "k");
    REQUIRE(ba.source);
    CHECK(ba.source->host == "10.1.0.2");
    CHECK(ba.source->port == 22);
    CHECK(ba.source->user == "mover");
    CHECK(ba.source->agent_command == "clsync-agent");
    // Either end on relay: the pair relays.
    CHECK_FALSE(routes.route({"A", "/d/a"}, {"C", "/d/c"}, "k").direct);
    CHECK_FALSE(routes.route({"C", "/d/c"}, {"A", "/d/a"}, "k").direct);
    // A pair found unable keeps its reason for the rest of the run, once.
    CHECK(routes.mark_unavailable("A", "B", "no key"));
    CHECK_FALSE(routes.mark_unavailable("A", "B", "no key again"));
    auto again = routes.route({"A", "/d/a"}, {"B", "/d/b"}, "k");
    CHECK(again.direct);
    CHECK_FALSE(again.source);
    CHECK(again.problem == "no key");
    CHECK(routes.route({"B", "/d/b"}, {"A", "/d/a"}, "k").source);
  }

  TEST_CASE("a local source needs a direct host; a local destination pulls")
  {
    const Topology t = parse_topology("cluster: c\nreplication: 1\ntransfer: direct\nnodes:\n"
                                      "  - name: L\n    host: local\n    volumes: [/d/l]\n"
                                      "  - name: R\n    host: 10.0.0.9\n    volumes: [/d/r]\n",
                                      "d.yaml");
    DirectRoutes routes(t, true);
    CHECK(routes.direct_only());
    auto from_local = routes.route({"L", "/d/l"}, {"R", "/d/r"}, "k");
    CHECK(from_local.direct);
    CHECK_FALSE(from_local.source);
    CHECK(from_local.problem.find("names no direct: host") != std::string::npos);
    auto to_local = routes.route({"R", "/d/r"}, {"L", "/d/l"}, "k");
    REQUIRE(to_local.source);
    CHECK(to_local.source->host == "10.0.0.9");
  }

  TEST_CASE("transfer and direct: bad values name FILE:LINE:COL")
  {
    const std::string nodes = "nodes:\n  - name: A\n    host: h\n    volumes: [/d/a]\n";
    expect_direct_error(k_direct_head + "transfer: fast\n" + nodes, "d.yaml:7:11:",
                        "transfer: expected relay or direct, got 'fast'");
    expect_direct_error(k_direct_head + "direct: yes\n" + nodes, "d.yaml:7:9:",
                        "in direct: expected a mapping of direct-transfer settings");
    expect_direct_error(k_direct_head + "direct:\n  identiy: /k\n" + nodes, "d.yaml:8:3:",
                        "unknown key 'identiy' in direct; did you mean 'identity'");
    expect_direct_error(k_direct_head + "direct:\n  identity: keys/node\n" + nodes, "d.yaml:8:13:",
                        "not an absolute path on the node");
    expect_direct_error(k_direct_head + "direct:\n  known_hosts: \"/k h\"\n" + nodes,
                        "d.yaml:8:16:", "holds whitespace");
    expect_direct_error(k_direct_head + "direct:\n  identity: /k%h\n" + nodes, "d.yaml:8:13:",
                        "'%'");
    expect_direct_error(k_direct_head + "direct:\n  host: -oProxyCommand=x\n" + nodes,
                        "d.yaml:8:9:", "starts with '-'");
    expect_direct_error(k_direct_head + "direct:\n  user: \"a b\"\n" + nodes, "d.yaml:8:9:",
                        "is not a login name");
    expect_direct_error(k_direct_head + "direct:\n  port: 70000\n" + nodes, "d.yaml:8:9:",
                        "a port number from 1 to 65535");
    expect_direct_error(k_direct_head +
                            "nodes:\n  - name: A\n    host: h\n    transfer: both\n"
                            "    volumes: [/d/a]\n",
                        "d.yaml:10:15:", "transfer: expected relay or direct");
    expect_direct_error(k_direct_head +
                            "nodes:\n  - name: A\n    host: h\n    direct:\n      prot: 22\n"
                            "    volumes: [/d/a]\n",
                        "d.yaml:11:7:", "unknown key 'prot' in node 'A' direct; did you mean");
  }
}

TEST_SUITE("transport::direct")
{
  TEST_CASE("the ssh argv: strict host keys, the node's files, no local shell, one remote word")
  {
    clsync::transport::DirectSource s;
    s.node = "P1";
    s.host = "10.0.0.1";
    s.port = 2222;
    s.user = "root";
    s.identity = "/etc/clsync/key";
    s.known_hosts = "/etc/clsync/known_hosts";
    s.agent_command = "/opt/clsync/bin/clsync";
    s.roots = {"/d/a"};
    s.volume = "/d/a";
    s.key = "db/t/1";
    CHECK(clsync::transport::direct_source_problem(s).empty());
    const auto argv = clsync::transport::direct_ssh_argv(s);
    auto has = [&](const std::string& a, const std::string& b) {
      for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == a && argv[i + 1] == b) {
          return true;
        }
      }
      return false;
    };
    CHECK(argv.front() == "ssh");
    CHECK(has("-o", "BatchMode=yes"));
    CHECK(has("-o", "StrictHostKeyChecking=yes"));
    CHECK(has("-o", "UserKnownHostsFile=/etc/clsync/known_hosts"));
    CHECK(has("-o", "GlobalKnownHostsFile=/dev/null"));
    CHECK(has("-i", "/etc/clsync/key"));
    CHECK(has("-o", "IdentitiesOnly=yes"));
    CHECK(has("-p", "2222"));
    CHECK(has("-l", "root"));
    // The host after "--" (never an option), then the remote command as one word.
    REQUIRE(argv.size() >= 3);
    CHECK(argv[argv.size() - 3] == "--");
    CHECK(argv[argv.size() - 2] == "10.0.0.1");
    CHECK(argv.back() == "/opt/clsync/bin/clsync agent");

    auto problem = [&](auto change) {
      auto t = s;
      change(t);
      return clsync::transport::direct_source_problem(t);
    };
    using clsync::transport::DirectSource;
    CHECK(problem([](DirectSource& t) { t.host = "-oProxyCommand=x"; }) != "");
    CHECK(problem([](DirectSource& t) { t.host = "a b"; }) != "");
    CHECK(problem([](DirectSource& t) { t.user = "-l"; }) != "");
    CHECK(problem([](DirectSource& t) { t.port = 0; }) != "");
    CHECK(problem([](DirectSource& t) { t.identity = "key"; }) != "");
    CHECK(problem([](DirectSource& t) { t.known_hosts = "/a /b"; }) != "");
    CHECK(problem([](DirectSource& t) { t.agent_command = "clsync\nrm -rf /"; }) != "");
    CHECK(problem([](DirectSource& t) { t.volume = "/elsewhere"; }) != "");
    CHECK(problem([](DirectSource& t) { t.key = "../etc"; }) != "");
    CHECK(problem([](DirectSource& t) { t.user = ""; t.identity = ""; t.known_hosts = ""; }) ==
          "");
  }

  TEST_CASE("pull requests and results cross the wire (CBOR) unchanged, and bad ones are refused")
  {
    namespace wire = clsync::transport::wire;
    clsync::transport::DirectSource s;
    s.node = "P1";
    s.host = "127.0.0.2";
    s.port = 40022;
    s.user = "root";
    s.identity = "/k";
    s.known_hosts = "/kh";
    s.agent_command = "clsync";
    s.roots = {"/d/a", "/d/b"};
    s.volume = "/d/b";
    s.key = "db/20240101/1/t";
    s.connect_timeout_s = 5;
    s.io_timeout_s = 30;
    auto back = wire::decode<clsync::transport::DirectSource>(
        wire::from_payload(wire::to_payload(wire::to_wire(s)), "source"));
    CHECK(back.host == s.host);
    CHECK(back.port == s.port);
    CHECK(back.roots == s.roots);
    CHECK(back.key == s.key);
    CHECK(back.io_timeout_s == 30);
    clsync::transport::PullResult r;
    r.read.content_hash = "aa";
    r.read.fingerprint = "ff";
    r.written.content_hash = "aa";
    r.written.bytes = 42;
    auto rb = wire::decode<clsync::transport::PullResult>(
        wire::from_payload(wire::to_payload(wire::to_wire(r)), "pull"));
    CHECK(rb.read.fingerprint == "ff");
    CHECK(rb.written.bytes == 42);
    auto j = wire::to_wire(s);
    j.erase("roots");
    CHECK_THROWS(wire::decode<clsync::transport::DirectSource>(j));
    CHECK(wire::is_known(90));
    CHECK(wire::is_known(92));
    CHECK_FALSE(wire::is_known(93));
    CHECK(std::string(wire::to_string(wire::MsgType::pull_chunk)) == "pull_chunk");
  }
}
