// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The writing commands with every node behind a real sshd on 127.0.0.x and the real agent
// (suite `rebalance_ssh`): the same results as on local nodes, and a killed run converges.
#include "core/rebalance.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// Rewrites the demo copy's topology so that node i is SSH host i of `sshd` (same volumes).
void to_ssh_nodes(DemoCopy& d, const test::SshdHarness& sshd)
{
  std::string y = "cluster: demo-a\n"
                  "replication: 2\n" +
                  sshd.topology_ssh_block();
  for (std::size_t i = 0; i < d.topo->nodes.size(); ++i) {
    const auto& n = d.topo->nodes[i];
    y += "  - name: " + n.name + "\n";
    y += "    host: " + sshd.host(static_cast<int>(i)).address + "\n";
    y += "    port: " + std::to_string(sshd.host(static_cast<int>(i)).port) + "\n";
    y += "    volumes: [\"" + n.volumes[0] + "\"]\n";
  }
  y += "databases:\n"
       "  Level1:\n"
       "    levels: [date, hash]\n"
       "  Level1_TSDB:\n"
       "    levels: [date, hash]\n";
  d.edit_yaml([&](std::string& text) { text = y; });
  REQUIRE(!d.topo->nodes[0].is_local());
}

void check_balanced(DemoCopy& d, const std::map<std::string, std::string>& hashes)
{
  auto inv = d.inventory(true);
  auto per = test::replicas_per_node(inv);
  CHECK(per["P1-dn1"] == 134);
  CHECK(per["P2-dn1"] == 133);
  CHECK(per["P3-dn1"] == 133);
  CHECK(inv.health.healthy == 200);
  CHECK(inv.leftovers.empty());
  if (!inv.leftovers.empty()) {
    for (const auto& w : d.events.warnings) {
      MESSAGE("warning of the run: ", w);
    }
  }
  CHECK(test::content_by_chunk(inv) == hashes);
}

} // namespace

TEST_SUITE("rebalance_ssh")
{
  TEST_CASE("over sshd: rebalance-nodes, a drain (--compress) and repair give the local results")
  {
    test::SshdHarness sshd(3, "rebalance-ssh");
    DemoCopy d("rb-ssh");
    const auto hashes = test::content_by_chunk(d.inventory(true));
    to_ssh_nodes(d, sshd);
    RebalanceNodesOptions o;
    o.plan.by = "count";
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    check_balanced(d, hashes);

    MoveReplicasOptions mo;
    mo.from_node = "P3-dn1";
    mo.write.compress = true; // zstd on the wire
    CHECK(move_replicas(d.ctx, mo).code == ExitCode::ok);
    auto drained = d.inventory(true);
    CHECK(test::replicas_per_node(drained)["P3-dn1"] == 0);
    CHECK(drained.health.healthy == 200);
    CHECK(test::content_by_chunk(drained) == hashes);

    for (int i = 0; i < 5; ++i) {
      fs::remove_all(fs::path(d.volume("P2-dn1")) / drained.chunks[i * 11].key);
    }
    auto rep = repair(d.ctx, RepairOptions{});
    CHECK(rep.code == ExitCode::ok);
    REQUIRE(rep.exec);
    CHECK(rep.exec->finished == 5);
    auto repaired = d.inventory(true);
    CHECK(repaired.health.healthy == 200);
    CHECK(test::content_by_chunk(repaired) == hashes);
  }

  TEST_CASE("over sshd: a run killed mid-copy and after a commit converges on rerun")
  {
    test::SshdHarness sshd(3, "rebalance-ssh-crash");
    for (const char* point : {"mid_copy", "after_commit"}) {
      const std::string point_name = point;
      CAPTURE(point_name);
      DemoCopy d(std::string("rb-ssh-crash-") + point);
      const auto hashes = test::content_by_chunk(d.inventory(true));
      to_ssh_nodes(d, sshd);
      const std::string cmd = "-c '" + d.yaml.string() + "' --state-dir '" +
                              d.ctx.state_dir.string() + "' rebalance-nodes --by count";
      REQUIRE(test::run_clsync(cmd, nullptr, "CLSYNC_TEST_CRASH_AT=" + point_name + ":5") ==
              128 + SIGKILL);
      for (const auto& key_n : test::replicas_on_disk(*d.topo)) {
        const auto& key = key_n.first; // named, not bound: doctest's lambdas
        const auto& n = key_n.second; // capture them (clang 14)
        CHECK_MESSAGE(n >= 2, key);
      }
      REQUIRE(test::run_clsync(cmd) == 0);
      check_balanced(d, hashes);
    }
  }

  TEST_CASE("over sshd: a node's sshd dies mid-run and comes back: its tasks retry and finish")
  {
    test::SshdHarness sshd(3, "rebalance-ssh-retry");
    DemoCopy d("rb-ssh-retry");
    const auto hashes = test::content_by_chunk(d.inventory(true));
    to_ssh_nodes(d, sshd);
    RebalanceNodesOptions o;
    o.plan.by = "count";
    o.write.bwlimit = 100 * 1000; // about 5 s for the 133 moves: time to pull the plug
    o.write.retries = 8;
    RebalanceResult r;
    std::thread run([&] { r = rebalance_nodes(d.ctx, o); });
    for (int i = 0; i < 400 && d.events.count("finished") < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    sshd.stop(2); // P3-dn1, the destination of every move
    std::this_thread::sleep_for(std::chrono::seconds(1));
    sshd.start(2);
    run.join();
    REQUIRE(r.exec);
    for (const auto& t : r.exec->tasks) {
      if (t.state != "finished") {
        MESSAGE("task ", t.id, " (", t.move.chunk, ") ", t.state, " after ", t.attempts,
                " attempts: ", t.error);
      }
    }
    CHECK(r.code == ExitCode::ok);
    CHECK(r.exec->finished == 133);
    CHECK(r.exec->failed == 0);
    int retried = 0;
    for (const auto& t : r.exec->tasks) {
      retried += t.attempts > 1 ? 1 : 0;
    }
    CHECK(retried >= 1);
    check_balanced(d, hashes);
  }

  TEST_CASE("over sshd: a task held by a stopped sshd shows as stalled in progress")
  {
    test::SshdHarness sshd(3, "rebalance-ssh-stall");
    DemoCopy d("rb-ssh-stall");
    const auto hashes = test::content_by_chunk(d.inventory(true));
    to_ssh_nodes(d, sshd);
    RebalanceNodesOptions o;
    o.plan.by = "count";
    o.write.bwlimit = 100 * 1000; // about 5 s for the 133 moves: time to stop the server
    RebalanceResult r;
    std::thread run([&] { r = rebalance_nodes(d.ctx, o); });
    for (int i = 0; i < 400 && d.events.count("finished") < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    // P3-dn1 receives every move: with its sessions stopped no byte moves, yet tasks run.
    REQUIRE(sshd.signal_sessions(2, SIGSTOP) > 0);
    for (int i = 0; i < 600 && d.events.max_stalled_s.load() < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const auto stalled = d.events.max_stalled_s.load();
    sshd.signal_sessions(2, SIGCONT);
    run.join();
    CHECK(stalled >= 3);
    CHECK(r.code == ExitCode::ok);
    check_balanced(d, hashes);
  }
}
