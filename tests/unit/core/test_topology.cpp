// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/suggest.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/topology_errors.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using clsync::core::HostKeyPolicy;
using clsync::core::parse_topology;
using clsync::core::Topology;

namespace {

using clsync::test::topology_error_of;

/// Checks that `yaml` fails at `where` ("t.yaml:L:C: ") with a message containing `fragment`.
void expect_error(const std::string& yaml, const std::string& where, const std::string& fragment)
{
  const std::string msg = topology_error_of(yaml);
  INFO("message: " << msg);
  CHECK(msg.rfind(where, 0) == 0);
  CHECK(msg.find(fragment) != std::string::npos);
}

const std::string k_nodes = "nodes:\n"
                            "  - name: P1\n"
                            "    host: local\n"
                            "    volumes: [/d/p1]\n"
                            "  - name: P2\n"
                            "    host: local\n"
                            "    volumes: [/d/p2]\n";

} // namespace

TEST_SUITE("core::topology")
{
  TEST_CASE("a full file loads with ssh defaults, per-node overrides and databases")
  {
    const std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
    const Topology t = parse_topology(R"(# the seed's cluster
cluster: prod-a
replication: 2
ssh:
  user: clsync
  port: 2222
  identity: ~/.ssh/id_ed25519
  known_hosts: /etc/clsync/known_hosts
  host_key_policy: strict
  agent_command: /opt/clsync/bin/clsync
  connect_timeout: 5
nodes:
  - name: P1-dn1
    host: 192.168.100.41
    volumes: [/ssd/ssd0/chunkData, "/ssd/ssd1//chunkData/"]
    zone: rack-1
    weight: 1.5
  - name: P2-dn1
    host: db2.example.org
    port: 22
    user: root
    host_key_policy: accept-new
    io_timeout: 2m
    agent_persist: 2h
    volumes:
      - /ssd/ssd0/./chunkData
  - name: P3.dn_1
    host: local
    volumes: [/data/chunks]
databases:
  Level1_TSDB:
    levels: [date, hash]
    replication: 3
  Level1:
    levels: [date, hash]
  flat:
    levels: []
)",
                                      "prod.yaml");
    CHECK(t.file == "prod.yaml");
    CHECK(t.cluster == "prod-a");
    CHECK(t.replication == 2);
    REQUIRE(t.nodes.size() == 3);
    const auto& p1 = t.nodes[0];
    CHECK(p1.name == "P1-dn1");
    CHECK(p1.host == "192.168.100.41");
    CHECK_FALSE(p1.is_local());
    CHECK(p1.line == 13);
    CHECK(p1.volumes == std::vector<std::string>{"/ssd/ssd0/chunkData", "/ssd/ssd1/chunkData"});
    CHECK(p1.zone == "rack-1");
    CHECK(p1.weight.value_or(0) == doctest::Approx(1.5));
    CHECK(p1.ssh.user == "clsync");
    CHECK(p1.ssh.port == 2222);
    CHECK(p1.ssh.identity == home + "/.ssh/id_ed25519");
    CHECK(p1.ssh.known_hosts == "/etc/clsync/known_hosts");
    CHECK(p1.ssh.host_key_policy == HostKeyPolicy::strict);
    CHECK(p1.ssh.agent_command == "/opt/clsync/bin/clsync");
    CHECK(p1.ssh.connect_timeout_s == 5);
    CHECK(p1.ssh.io_timeout_s == 60);

    const auto& p2 = t.nodes[1];
    CHECK(p2.ssh.user == "root");
    CHECK(p2.ssh.port == 22);
    CHECK(p2.ssh.host_key_policy == HostKeyPolicy::accept_new);
    CHECK(p2.ssh.io_timeout_s == 120);
    CHECK(p2.ssh.agent_persist_s == 7200);
    CHECK(p1.ssh.agent_persist_s == 0); // off unless asked for
    CHECK(p2.ssh.identity == home + "/.ssh/id_ed25519"); // inherited
    CHECK(p2.volumes == std::vector<std::string>{"/ssd/ssd0/chunkData"});
    CHECK_FALSE(p2.weight.has_value());
    CHECK(t.nodes[2].is_local());
    CHECK(t.ssh.port == 2222);

    REQUIRE(t.databases.size() == 3);
    CHECK(t.databases[0].name == "Level1_TSDB"); // file order
    CHECK(t.databases[1].levels == std::vector<std::string>{"date", "hash"});
    CHECK(t.databases[2].levels.empty());
    CHECK(t.replication_for("Level1_TSDB") == 3);
    CHECK(t.replication_for("Level1") == 2);
    CHECK(t.replication_for("unknown") == 2);
    CHECK(t.find_node("P2-dn1") == &t.nodes[1]);
    CHECK(t.find_node("P9") == nullptr);
    CHECK(t.find_database("Level1") == &t.databases[1]);
    CHECK(t.find_database("level1") == nullptr);
  }

  TEST_CASE("defaults when ssh and databases are absent")
  {
    const Topology t = parse_topology("cluster: c\nreplication: 1\n" + k_nodes, "t.yaml");
    CHECK(t.databases.empty());
    CHECK(t.nodes[0].ssh.port == 22);
    CHECK(t.nodes[0].ssh.agent_command == "clsync");
    CHECK(t.nodes[0].ssh.host_key_policy == HostKeyPolicy::strict);
    CHECK(t.nodes[0].ssh.connect_timeout_s == 10);
    CHECK(t.nodes[1].line == 7);
  }

  TEST_CASE("malformed YAML names the place yaml-cpp stopped")
  {
    expect_error("cluster: a\nnodes: [1, 2\nreplication: 2\n",
                 "t.yaml:3:12: ", "malformed YAML: end of sequence flow not found");
    expect_error("cluster: a\nreplication: 2: 3\n", "t.yaml:2:", "malformed YAML");
    expect_error("{cluster: c, replication: 2\n",
                 "t.yaml:2:1: ", "malformed YAML: end of map flow not found");
    expect_error("cluster: c\n\treplication: 2\n", "t.yaml:", "malformed YAML");
  }

  TEST_CASE("empty files, other documents and roots")
  {
    expect_error("", "t.yaml:1:1: ", "the file is empty");
    expect_error("# only a comment\n\n", "t.yaml:1:1: ", "the file is empty");
    expect_error("- a\n- b\n", "t.yaml:1:1: ",
                 "expected a mapping with cluster, replication and nodes, got a list");
    expect_error("just text\n", "t.yaml:1:1: ", "got 'just text'");
    expect_error("cluster: c\nreplication: 1\n" + k_nodes + "---\ncluster: d\n",
                 "t.yaml:11:1: ", "a second YAML document");
  }

  TEST_CASE("unknown keys at every level, with a suggestion")
  {
    expect_error("cluster: c\nreplicaton: 2\n" + k_nodes, "t.yaml:2:1: ",
                 "unknown key 'replicaton' at the top level; did you mean 'replication'?");
    expect_error("cluster: c\nreplication: 2\ncolour: red\n" + k_nodes, "t.yaml:3:1: ",
                 "unknown key 'colour' at the top level; expected one of: cluster replication");
    expect_error(
        "cluster: c\nreplication: 2\nssh:\n  hostkeypolicy: strict\n" + k_nodes,
        "t.yaml:4:3: ", "unknown key 'hostkeypolicy' in ssh; did you mean 'host_key_policy'?");
    expect_error("cluster: c\nreplication: 1\nnodes:\n  - name: P1\n    host: local\n"
                 "    volume: [/a]\n",
                 "t.yaml:6:5: ", "unknown key 'volume' in node 'P1'; did you mean 'volumes'?");
    expect_error("cluster: c\nreplication: 1\nnodes:\n  - name: P1\n    host: local\n"
                 "    volumes: [/a]\n    known-hosts: /k\n",
                 "t.yaml:7:5: ", "did you mean 'known_hosts'?");
    expect_error(
        "cluster: c\nreplication: 2\n" + k_nodes + "databases:\n  Level1:\n    level: [date]\n",
        "t.yaml:12:5: ", "unknown key 'level' in database 'Level1'; did you mean 'levels'?");
  }

  TEST_CASE("an ssh block inside a node says where overrides go")
  {
    expect_error("cluster: c\nreplication: 1\nnodes:\n  - name: P1\n    host: h\n"
                 "    volumes: [/a]\n    ssh: {port: 2222}\n",
                 "t.yaml:7:5: ",
                 "unknown key 'ssh' in node 'P1'; override ssh settings (user, port, identity, …) "
                 "directly in the node");
  }

  TEST_CASE("duplicate keys")
  {
    expect_error("cluster: c\nreplication: 2\ncluster: d\n" + k_nodes,
                 "t.yaml:3:1: ", "duplicate key 'cluster' at the top level (first on line 1)");
  }

  TEST_CASE("missing required keys point at the mapping")
  {
    expect_error("replication: 2\n" + k_nodes, "t.yaml:1:1: ", "missing 'cluster'");
    expect_error("cluster: c\n" + k_nodes, "t.yaml:1:1: ", "missing 'replication'");
    expect_error("cluster: c\nreplication: 1\n",
                 "t.yaml:1:1: ", "missing 'nodes'; expected a list of nodes");
  }

  TEST_CASE("cluster names")
  {
    expect_error("cluster: prod a\nreplication: 2\n" + k_nodes, "t.yaml:1:10: ",
                 "cluster: 'prod a' is not a valid name; expected letters, digits");
    expect_error("cluster: a/b\nreplication: 2\n" + k_nodes,
                 "t.yaml:1:10: ", "'a/b' is not a valid name");
    expect_error("cluster:\nreplication: 2\n" + k_nodes,
                 "t.yaml:1:1: ", "cluster: expected a non-empty string, got nothing");
    expect_error("cluster: [a]\nreplication: 2\n" + k_nodes, "t.yaml:1:10: ", "got a list");
  }

  TEST_CASE("replication: wrong types and out of range")
  {
    expect_error("cluster: c\nreplication: two\n" + k_nodes, "t.yaml:2:14: ",
                 "replication: expected a whole number of replicas (at least 1), got 'two'");
    expect_error("cluster: c\nreplication: 1.5\n" + k_nodes, "t.yaml:2:14: ", "got '1.5'");
    expect_error("cluster: c\nreplication: 0\n" + k_nodes, "t.yaml:2:14: ", "at least 1), got '0'");
    expect_error("cluster: c\nreplication: -1\n" + k_nodes, "t.yaml:2:14: ", "got '-1'");
    expect_error(
        "cluster: c\nreplication: 3\n" + k_nodes, "t.yaml:2:14: ",
        "replication: 3 is more than the 2 node(s); expected 1 to 2 (the number of nodes)");
    expect_error("cluster: c\nreplication:\n" + k_nodes, "t.yaml:2:1: ", "got nothing");
  }

  TEST_CASE("per-database replication and levels")
  {
    const std::string head = "cluster: c\nreplication: 2\n" + k_nodes + "databases:\n";
    expect_error(head + "  Level1:\n    levels: [date]\n    replication: 3\n", "t.yaml:13:18: ",
                 "replication: expected an integer from 1 to 2 (the number of nodes), got '3'");
    expect_error(head + "  Level1:\n    levels: [date]\n    replication: 0\n",
                 "t.yaml:13:18: ", "got '0'");
    expect_error(head + "  Level1:\n    levels: date\n", "t.yaml:12:13: ",
                 "levels: expected a list of level names, e.g. [date, hash], got 'date'");
    expect_error(head + "  Level1:\n    levels: [date, da te]\n",
                 "t.yaml:12:20: ", "'da te' is not a valid level name");
    expect_error(head + "  Level1:\n    levels: [date, date]\n",
                 "t.yaml:12:20: ", "'date' appears twice");
    expect_error(head + "  Level1:\n    replication: 1\n",
                 "t.yaml:11:3: ", "missing 'levels' in database 'Level1'");
    expect_error(head + "  Level1:\n",
                 "t.yaml:11:3: ", "in database 'Level1': expected a mapping with 'levels'");
    expect_error(head + "  bad/name:\n    levels: []\n",
                 "t.yaml:11:3: ", "'bad/name' is not a valid database name");
    expect_error(head + "  .clsync-tmp:\n    levels: []\n",
                 "t.yaml:11:3: ", "not a valid database name");
    expect_error(head + "  - Level1\n",
                 "t.yaml:11:3: ", "in databases: expected a mapping of database names");
  }

  TEST_CASE("nodes: list, names, duplicates")
  {
    const std::string head = "cluster: c\nreplication: 1\n";
    expect_error(head + "nodes: []\n",
                 "t.yaml:3:8: ", "nodes: expected a list of at least one node");
    expect_error(head + "nodes: P1\n", "t.yaml:3:8: ", "got 'P1'");
    expect_error(head + "nodes:\n  - P1\n", "t.yaml:4:5: ",
                 "in node 1: expected a mapping with name, host and volumes, got 'P1'");
    expect_error(head + "nodes:\n  - host: local\n    volumes: [/a]\n",
                 "t.yaml:4:5: ", "missing 'name' in node 1");
    expect_error(head + "nodes:\n  - name: P 1\n    host: local\n    volumes: [/a]\n",
                 "t.yaml:4:11: ", "name: 'P 1' is not a valid node name");
    expect_error(head + "nodes:\n  - name: P1\n    host: local\n    volumes: [/a]\n"
                        "  - name: P1\n    host: local\n    volumes: [/b]\n",
                 "t.yaml:7:11: ", "duplicate node name 'P1' (first on line 4)");
  }

  TEST_CASE("hosts")
  {
    const std::string head = "cluster: c\nreplication: 1\nnodes:\n  - name: P1\n";
    expect_error(head + "    volumes: [/a]\n", "t.yaml:4:5: ", "missing 'host' in node 'P1'");
    expect_error(head + "    host: \"\"\n    volumes: [/a]\n", "t.yaml:5:11: ",
                 "host: expected a host name or address, or 'local' for this machine, got ''");
    expect_error(head + "    host:\n    volumes: [/a]\n", "t.yaml:5:5: ", "got nothing");
    expect_error(head + "    host: root@db1\n    volumes: [/a]\n",
                 "t.yaml:5:11: ", "with the user in 'user:'");
    expect_error(head + "    host: db 1\n    volumes: [/a]\n",
                 "t.yaml:5:11: ", "is not a host name or address");
  }

  TEST_CASE("volumes: missing, empty, relative, duplicate, nested")
  {
    const std::string head = "cluster: c\nreplication: 1\nnodes:\n  - name: P1\n    host: local\n";
    expect_error(head, "t.yaml:4:5: ", "missing 'volumes' in node 'P1'");
    expect_error(head + "    volumes: []\n", "t.yaml:6:14: ", "volumes: the list is empty");
    expect_error(head + "    volumes: /a\n",
                 "t.yaml:6:14: ", "volumes: expected a list of absolute directories, got '/a'");
    expect_error(head + "    volumes: [data/x]\n",
                 "t.yaml:6:15: ", "volume 'data/x' is a relative path; expected an absolute path");
    expect_error(head + "    volumes: [/a/b, /a/b/]\n",
                 "t.yaml:6:21: ", "volume '/a/b/' is the same directory as '/a/b' (line 6)");
    expect_error(head + "    volumes:\n      - //a/b\n      - /a/./b\n",
                 "t.yaml:8:9: ", "volume '/a/./b' is the same directory as '/a/b' (line 7)");
    expect_error(head + "    volumes: [/a, /a/b]\n",
                 "t.yaml:6:19: ", "volume '/a/b' and '/a' (line 6) are nested");
    expect_error(head + "    volumes: [/a/b, /a]\n", "t.yaml:6:21: ", "are nested");
    expect_error(head + "    volumes: [/ssd0/chunkData, /ssd0/chunkDataX]\n", "(loaded)",
                 "(loaded)");
    expect_error(head + "    volumes: [/]\n", "t.yaml:6:15: ", "is the root directory");
    expect_error(head + "    volumes: [/a, [/b]]\n", "t.yaml:6:19: ", "got a list in the list");
  }

  TEST_CASE("volumes of two nodes on one host may not overlap; on two hosts they may")
  {
    const std::string two = "cluster: c\nreplication: 1\nnodes:\n"
                            "  - name: P1\n    host: HOST1\n    volumes: [/data/x]\n"
                            "  - name: P2\n    host: HOST2\n    volumes: [/data/x]\n";
    CHECK(topology_error_of(two) == "(loaded)");
    std::string same = two;
    same.replace(same.find("HOST2"), 5, "HOST1");
    expect_error(same, "t.yaml:9:15: ",
                 "the same directory as '/data/x' (node 'P1' on the same host, line 6)");
    CHECK(topology_error_of("cluster: c\nreplication: 1\nnodes:\n"
                   "  - name: P1\n    host: local\n    volumes: [/data]\n"
                   "  - name: P2\n    host: local\n    volumes: [/data/p2]\n")
              .find("are nested") != std::string::npos);
  }

  TEST_CASE("ports, policies, weights, timeouts")
  {
    const std::string head =
        "cluster: c\nreplication: 1\nnodes:\n  - name: P1\n    host: h\n    volumes: [/a]\n";
    expect_error(head + "    port: 0\n",
                 "t.yaml:7:11: ", "port: expected a port number from 1 to 65535, got '0'");
    expect_error(head + "    port: 70000\n", "t.yaml:7:11: ", "got '70000'");
    expect_error(head + "    port: ssh\n", "t.yaml:7:11: ", "got 'ssh'");
    expect_error(head + "    port: 22.5\n", "t.yaml:7:11: ", "got '22.5'");
    expect_error("cluster: c\nreplication: 1\nssh:\n  port: -22\n" + k_nodes,
                 "t.yaml:4:9: ", "got '-22'");
    expect_error(head + "    host_key_policy: off\n", "t.yaml:7:22: ",
                 "host_key_policy: expected strict or accept-new, got 'off' (checking host keys "
                 "can never be turned off)");
    expect_error(head + "    host_key_policy: yes\n",
                 "t.yaml:7:22: ", "expected strict or accept-new, got 'yes'");
    expect_error(head + "    weight: 0\n",
                 "t.yaml:7:13: ", "weight: expected a number greater than 0, got '0'");
    expect_error(head + "    weight: -2\n", "t.yaml:7:13: ", "greater than 0");
    expect_error(head + "    weight: heavy\n",
                 "t.yaml:7:13: ", "weight: expected a number, got 'heavy'");
    expect_error(head + "    connect_timeout: soon\n",
                 "t.yaml:7:22: ", "connect_timeout: expected seconds");
    expect_error(head + "    io_timeout: 0\n", "t.yaml:7:17: ", "expected 1 second to 1 day");
    expect_error(head + "    agent_persist: 8d\n", "t.yaml:7:20: ",
                 "agent_persist: expected 0 (off) or a duration up to 7d");
    expect_error(head + "    agent_persist: soon\n", "t.yaml:7:20: ", "agent_persist: expected");
    expect_error(head + "    user: [a]\n",
                 "t.yaml:7:11: ", "user: expected a non-empty string, got a list");
    expect_error(head + "    zone:\n", "t.yaml:7:5: ", "zone: expected a non-empty string");
  }

  TEST_CASE("load_topology reads files and reports unreadable ones without a line")
  {
    const auto dir = clsync::test::scratch_dir("topology-load");
    const auto good = dir / "good.yaml";
    clsync::test::write_file(good, "cluster: c\nreplication: 2\n" + k_nodes);
    const Topology t = clsync::core::load_topology(good);
    CHECK(t.file == good.string());
    CHECK(t.nodes.size() == 2);

    const auto bad = dir / "bad.yaml";
    clsync::test::write_file(bad, "cluster: c\nreplication: 5\n" + k_nodes);
    CHECK_THROWS_WITH_AS(clsync::core::load_topology(bad),
                         (bad.string() + ":2:14: replication: 5 is more than the 2 node(s); "
                                         "expected 1 to 2 (the number of nodes)")
                             .c_str(),
                         clsync::TopologyError);
    const auto missing = dir / "missing.yaml";
    CHECK_THROWS_WITH_AS(clsync::core::load_topology(missing),
                         (missing.string() + ": cannot read: No such file or directory").c_str(),
                         clsync::TopologyError);
    CHECK_THROWS_WITH_AS(clsync::core::load_topology(dir),
                         (dir.string() + ": cannot read: Is a directory").c_str(),
                         clsync::TopologyError);
  }
}

TEST_SUITE("core::suggest")
{
  TEST_CASE("edit distance and closest match")
  {
    using clsync::core::closest_match;
    using clsync::core::edit_distance;
    CHECK(edit_distance("replication", "replicaton") == 1);
    CHECK(edit_distance("abc", "acb") == 1); // a swap is one edit
    CHECK(edit_distance("Volumes", "volumes") == 0);
    CHECK(edit_distance("", "abc") == 3);
    const std::vector<std::string> keys{"cluster", "replication", "nodes"};
    CHECK(closest_match("node", keys).value_or("") == "nodes");
    CHECK(closest_match("clutser", keys).value_or("") == "cluster");
    CHECK_FALSE(closest_match("colour", keys).has_value());
    CHECK_FALSE(closest_match("x", {"y"}).has_value());
  }
}

TEST_SUITE("core::topology")
{
  TEST_CASE("every mutation of a good file loads or fails with FILE:LINE:COL, never otherwise")
  {
    const std::string good = R"(cluster: prod-a
replication: 2
ssh: {user: clsync, port: 22, host_key_policy: strict}
nodes:
  - name: P1-dn1
    host: 10.0.0.1
    volumes: [/ssd/ssd0/chunkData, /ssd/ssd1/chunkData]
    weight: 1.0
  - name: P2-dn1
    host: local
    port: 2222
    volumes:
      - /data/chunks
databases:
  Level1:
    levels: [date, hash]
    replication: 2
)";
    CHECK(topology_error_of(good) == "(loaded)");
    const std::string replacements[] = {"",   ":", "[", "]",  "{", "-",   " ",      "\t",
                                        "\"", "'", "#", "\n", "*", "&a ", "!!map ", "?"};
    std::size_t loaded = 0, failed = 0, bad = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (const auto& r : replacements) {
        std::string text = good;
        text.replace(i, 1, r);
        const std::string msg = topology_error_of(text);
        if (msg == "(loaded)") {
          ++loaded;
          continue;
        }
        ++failed;
        // "t.yaml:LINE:COL: " with LINE and COL positive.
        std::size_t line = 0, col = 0;
        const bool ok = msg.rfind("t.yaml:", 0) == 0 &&
                        std::sscanf(msg.c_str() + 7, "%zu:%zu: ", &line, &col) == 2 && line >= 1 &&
                        col >= 1;
        if (!ok) {
          ++bad;
          INFO("mutation at " << i << " with '" << r << "': " << msg);
          CHECK(ok);
        }
      }
    }
    CHECK(bad == 0);
    CHECK(loaded > 0);
    CHECK(failed > 1000);
  }
}
