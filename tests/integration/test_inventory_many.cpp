// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Inventories of many SSH nodes (issue 10 item 5), against real sshd on 127.0.0.x and the real
// agent: 16 nodes scanned over at most --connections sessions at once, a rebalance over them,
// and a node that hangs mid-run costing one connect attempt, not one per operation.
#include "core/context.hpp"
#include "core/cluster/node_set.hpp"
#include "core/cluster/topology.hpp"
#include "core/rebalance.hpp"
#include "core/status.hpp"
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/recording_node.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "tests/support/tcp_proxy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <string>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;

namespace inventory_many_cases {

constexpr int k_many = 16;

/// Keeps the inventory's progress (nodes scanned so far) where a scan hook can read it.
struct ScanProgress : Events {
  std::atomic<std::uint64_t> done{0};
  void progress(const Progress& p) override { done = p.tasks_done; }
};

/// `count` SSH nodes n01… on the harness's hosts, volume `dir/nNN` each; database db.
fs::path write_many(const fs::path& dir, const test::SshdHarness& sshd, int count)
{
  std::string y = "cluster: many\nreplication: 2\n" + sshd.topology_ssh_block();
  for (int i = 0; i < count; ++i) {
    const std::string name = (i < 9 ? "n0" : "n") + std::to_string(i + 1);
    y += "  - name: " + name + "\n    host: " + sshd.host(i).address +
         "\n    port: " + std::to_string(sshd.host(i).port) + "\n    volumes: [" +
         (dir / name).string() + "]\n";
    fs::create_directories(dir / name);
  }
  y += "databases:\n  db:\n    levels: [date]\n";
  test::write_file(dir / "many.yaml", y);
  return dir / "many.yaml";
}

/// Replicas per node, chunk → content hash (its replicas all agree), from a verified status.
std::map<std::string, std::uint64_t> replicas_by_node(const StatusResult& r)
{
  std::map<std::string, std::uint64_t> out;
  for (const auto& n : r.inventory.nodes) {
    CHECK_MESSAGE(n.reachable, n.name << ": " << n.error);
    out[n.name] = n.chunks;
  }
  return out;
}

std::map<std::string, std::string> hashes_by_chunk(const StatusResult& r)
{
  std::map<std::string, std::string> out;
  for (const auto& c : r.inventory.chunks) {
    CHECK_MESSAGE(c.replicas.size() == 2, c.key);
    for (const auto& rep : c.replicas) {
      CHECK_MESSAGE(!rep.content_hash.empty(), c.key);
      auto [it, fresh] = out.emplace(c.key, rep.content_hash);
      CHECK_MESSAGE((fresh || it->second == rep.content_hash), c.key << " differs on " << rep.node);
    }
  }
  return out;
}

/// A known_hosts file listing host `i` of `h` under the proxy's address and port.
fs::path known_hosts_via(const test::SshdHarness& h, int i, const test::TcpProxy& proxy,
                         const fs::path& file)
{
  const std::string line = h.known_hosts_line(i);
  test::write_file(file, test::read_file(h.known_hosts()) + "[" + proxy.address() + "]:" +
                             std::to_string(proxy.port()) + line.substr(line.find(' ')) + "\n");
  return file;
}

} // namespace inventory_many_cases

using namespace inventory_many_cases;

TEST_SUITE("inventory_many")
{
  TEST_CASE("16 SSH nodes with --connections 4: status scans at most 4 at once and sees every "
            "replica; a rebalance over them moves exact copies")
  {
    test::SshdHarness sshd(k_many, "inv-many-sshd");
    const fs::path d = test::scratch_dir("inv-many");
    const fs::path yaml = write_many(d, sshd, k_many);
    // 16 chunks, both replicas on n01 and n02: the other 14 nodes hold nothing.
    for (int day = 1; day <= 16; ++day) {
      const std::string key = "db/202006" + std::string(day < 10 ? "0" : "") +
                              std::to_string(day) + "/T";
      const std::string bytes(1000 + 37 * day, static_cast<char>('a' + day));
      for (const char* node : {"n01", "n02"}) {
        test::write_file(d / node / key / "a.col", bytes);
        test::write_file(d / node / key / "sub/b.col", bytes.substr(day));
      }
    }

    auto topo = std::make_shared<Topology>(load_topology(yaml));
    ScanProgress progress;
    std::atomic<int> started{0}, most{0};
    auto watch = [&](const test::RecordedCall& call) {
      if (call.name != "scan") {
        return;
      }
      // A worker reports a node done before it takes the next, so this is the number of nodes
      // being connected to and scanned right now.
      const int now = ++started - static_cast<int>(progress.done.load());
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
    };
    NodeFactory recording = [&](const NodeSpec& spec) {
      auto node = std::make_shared<test::RecordingNode>(open_node(spec));
      node->set_hook(watch);
      return std::shared_ptr<transport::Node>(node);
    };
    Context ctx;
    ctx.topology = topo;
    ctx.nodes = std::make_shared<NodeSet>(*topo, recording, 4);
    ctx.events = &progress;
    ctx.state_dir = d / "state";

    StatusOptions verify;
    verify.verify = true;
    const StatusResult before = status(ctx, verify);
    CHECK(before.exit_code == ExitCode::ok);
    CHECK(started == k_many);
    CHECK(most >= 1);
    CHECK_MESSAGE(most <= 4, "nodes scanned at once: " << most.load());
    const auto held = replicas_by_node(before);
    REQUIRE(held.size() == k_many);
    CHECK(held.at("n01") == 16);
    CHECK(held.at("n02") == 16);
    CHECK(held.at("n16") == 0);
    const auto hashes = hashes_by_chunk(before);
    CHECK(hashes.size() == 16);

    RebalanceNodesOptions o;
    o.plan.by = "count";
    const RebalanceResult r = rebalance_nodes(ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->failed == 0);
    CHECK(r.exec->finished >= 14);

    Context fresh = ctx;
    fresh.nodes = std::make_shared<NodeSet>(*topo, open_node, 4);
    const StatusResult after = status(fresh, verify);
    CHECK(after.exit_code == ExitCode::ok);
    CHECK(after.inventory.health.under_replicated == 0);
    CHECK(hashes_by_chunk(after) == hashes);
    std::uint64_t total = 0;
    for (const auto& node_n : replicas_by_node(after)) {
      const auto& node = node_n.first; // named, not bound: doctest's lambdas
      const auto& n = node_n.second; // capture them (clang 14)
      CHECK_MESSAGE((n >= 1 && n <= 3), node << " holds " << n); // 2 each, ± the threshold
      total += n;
    }
    CHECK(total == 32);
  }

  TEST_CASE("a node that hangs mid-run costs one connect attempt, not one per operation: its "
            "tasks fail at once with the first error, the other node's finish")
  {
    using namespace clsync::test::faults;
    const fs::path d = test::scratch_dir("inv-hang");
    test::SshdHarness h(2, "inv-hang-sshd");
    // n3's connections go through a proxy that counts them: every connect attempt is one.
    test::TcpProxy proxy("127.0.0.60", h.host(1).address, h.host(1).port, {});
    FaultCluster c(d, 3,
                   {{"n1", {d / "n1"}},
                    {"n2", {d / "n2"}, h.host(0).address, h.host(0).port},
                    {"n3", {d / "n3"}, proxy.address(), proxy.port()}});
    c.ssh = {"  user: root",
             "  identity: " + h.client_key().string(),
             "  known_hosts: " + known_hosts_via(h, 1, proxy, d / "known_hosts").string(),
             "  agent_command: " CLSYNC_BINARY,
             "  connect_timeout: 3",
             "  io_timeout: 3"};
    c.write();
    // Six chunks on n1 only, replication 3: repair copies each to n2 and n3 (12 tasks).
    std::vector<std::string> keys;
    for (int i = 1; i <= 6; ++i) {
      keys.push_back("Level1/2020060" + std::to_string(i) + "/0/T");
      put_fault_file(d / "n1" / keys.back() / "a.col", 256 << 10, 40 + i);
    }
    const std::string repair = c.args() + "repair --retries 1";
    PausedRun run(repair, "mid_copy", d / "pause");
    REQUIRE(run.reached());
    // n3 hangs as a frozen host does: the TCP handshake still completes (the kernel answers
    // for the stopped listener), SSH never starts, and its open sessions stop answering.
    const int connects_before = proxy.connections();
    REQUIRE(::kill(h.host(1).pid, SIGSTOP) == 0);
    h.signal_sessions(1, SIGSTOP);
    Outcome o = run.finish();
    const int connects = proxy.connections() - connects_before;
    h.signal_sessions(1, SIGCONT);
    ::kill(h.host(1).pid, SIGCONT);
    INFO("clsync said:\n", o.out);
    CHECK(o.code == 3);
    CHECK(test::contains(o.out, "n3"));
    CHECK(test::contains(o.out, "timed out"));
    // Before: each task attempt on n3 and the lease release connected again, each paying the
    // connect timeout. Now the first failed connect answers for n3 for the rest of the run.
    CHECK_MESSAGE(connects <= 1, "connect attempts to n3 after it hung: " << connects);
    const auto placed = chunks_on_disk(c);
    for (const auto& key : keys) {
      REQUIRE(placed.count(key));
      CHECK_MESSAGE(placed.at(key).count("n2"), key << " was not copied to n2");
    }
  }
}
