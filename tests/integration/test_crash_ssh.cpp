// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Crash sweep behind loopback sshd (suite `crash_ssh`): rebalance-nodes with every node over
// SSH, backup into and push to an ssh:// repository, each SIGKILLed at every fault point of the
// client (sampled in CI, all with CLSYNC_TEST_FULL=1); and the remote agent or the session's
// sshd SIGKILLed while a copy is in flight. Checked by walking the volumes and repositories
// here: no chunk below its replicas, no content changed, snapshots name only complete objects,
// a rerun converges with no leftovers.
#include "tests/integration/crash_sweep.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>

#include <set>

#include <chrono>
#include <csignal>
#include <thread>

namespace fs = std::filesystem;
using namespace clsync;
using clsync::test::CrashCase;
using clsync::test::ReplicaMap;

namespace {

std::string ssh_sweep_join(const std::vector<std::string>& v)
{
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
    s += (i ? "; " : "") + v[i];
  }
  return v.size() > 8 ? s + "; …" : s;
}

/// Cluster A's three nodes, each behind its own sshd of `sshd`.
void ssh_sweep_topology(const test::SweepCluster& c, const test::SshdHarness& sshd)
{
  std::string y = "cluster: demo-a\nreplication: 2\nssh:\n  user: root\n  identity: " +
                  sshd.client_key().string() + "\n  known_hosts: " + sshd.known_hosts().string() +
                  "\n  agent_command: " CLSYNC_BINARY "\n  connect_timeout: 5\n"
                  "  io_timeout: 20\nnodes:\n";
  for (int i = 0; i < 3; ++i) {
    const auto& n = c.a_vols[static_cast<std::size_t>(i)];
    y += "  - name: " + n.node + "\n    host: " + sshd.host(i).address +
         "\n    port: " + std::to_string(sshd.host(i).port) + "\n    volumes: [\"" +
         n.volumes[0].string() + "\"]\n";
  }
  y += "databases:\n  Level1:\n    levels: [date, hash]\n"
       "  Level1_TSDB:\n    levels: [date, hash]\n";
  test::write_file(c.a_yaml, y);
}

std::string ssh_sweep_flags(const test::SshdHarness& sshd)
{
  return " --identity '" + sshd.client_key().string() + "' --known-hosts '" +
         sshd.known_hosts().string() + "' --agent-command '" CLSYNC_BINARY "'";
}

std::string ssh_sweep_url(const test::SshdHarness& sshd, const fs::path& path)
{
  return "ssh://root@" + sshd.host(0).address + ":" + std::to_string(sshd.host(0).port) +
         path.string();
}

struct RebalanceSshCrash : CrashCase {
  test::SweepCluster c;
  std::vector<test::VolumesOfNode>& vols;
  ReplicaMap before;
  RebalanceSshCrash(const std::string& name, const test::SshdHarness& sshd)
      : c(name), vols(c.a_vols)
  {
    before = test::walk_replicas(vols);
    REQUIRE(before.size() == 30);
    ssh_sweep_topology(c, sshd);
  }
  std::string command() override
  {
    return c.a_args() + "rebalance-nodes --by count --retries 4";
  }
  void check_after_kill(const std::string& label) override
  {
    const auto problems = test::replica_losses(before, test::walk_replicas(vols));
    CHECK_MESSAGE(problems.empty(), label, ": ", ssh_sweep_join(problems));
  }
  void check_converged(const std::string& label) override
  {
    const auto now = test::walk_replicas(vols);
    const auto problems = test::replica_losses(before, now);
    CHECK_MESSAGE(problems.empty(), label, ": ", ssh_sweep_join(problems));
    std::map<std::string, int> per;
    for (const auto& key_reps : now) {
      const auto& key = key_reps.first; // named, not bound: doctest's lambdas
      const auto& reps = key_reps.second; // capture them (clang 14)
      CHECK_MESSAGE(reps.size() == 2, label, ": ", key, " has ", reps.size(), " replicas");
      for (const auto& r : reps) {
        ++per[r.node];
      }
    }
    CHECK_MESSAGE(now.size() == 30, label);
    CHECK_MESSAGE(per["P3-dn1"] == 20, label);
    std::vector<fs::path> roots;
    for (const auto& n : vols) {
      roots.push_back(n.volumes[0]);
    }
    const auto left = test::crash_leftovers(roots);
    CHECK_MESSAGE(left.empty(), label, ": left ", ssh_sweep_join(left));
  }
};

/// A repository command whose DEST is ssh://: backup of A's first 30 chunks, or a push of a
/// 30-object repository.
struct RepoSshCrash : CrashCase {
  test::SweepCluster c;
  const test::SshdHarness& sshd;
  bool push;
  fs::path src, dest;
  RepoSshCrash(const std::string& name, const test::SshdHarness& s, bool is_push)
      : c(name, is_push), sshd(s), push(is_push), src(c.dir / "repo"), dest(c.dir / "remote-repo")
  {
  }
  std::string command() override
  {
    if (push) {
      return "push --parallel 2 '" + src.string() + "' '" + ssh_sweep_url(sshd, dest) + "'" +
             ssh_sweep_flags(sshd);
    }
    return c.a_args() + "backup --concurrency 2 --to '" + ssh_sweep_url(sshd, dest) + "'" +
           ssh_sweep_flags(sshd);
  }
  void check_after_kill(const std::string& label) override
  {
    const auto problems = test::repository_problems(dest);
    CHECK_MESSAGE(problems.empty(), label, ": ", ssh_sweep_join(problems));
  }
  void check_converged(const std::string& label) override
  {
    std::size_t named = 0;
    const auto problems = test::repository_problems(dest, &named);
    CHECK_MESSAGE(problems.empty(), label, ": ", ssh_sweep_join(problems));
    CHECK_MESSAGE(named == 30, label);
    CHECK_MESSAGE(!test::snapshot_ids(dest).empty(), label);
    // The agent may outlive the client by a moment: give it that before looking for partials.
    std::vector<std::string> left;
    for (int i = 0; i < 40; ++i) {
      left = test::crash_leftovers({dest, c.dir / "a"});
      if (left.empty()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_MESSAGE(left.empty(), label, ": left ", ssh_sweep_join(left));
  }
};

/// Pauses a rebalance-nodes run at its first mid_copy, SIGKILLs what `kill` names, lets it go
/// on; then the checks of a crash, and a converging rerun.
void kill_remote_mid_stream(test::SshdHarness& sshd, int node, bool agent)
{
  const std::string what =
      std::string(agent ? "the agent" : "the session's sshd") + " of node " + std::to_string(node + 1);
  CAPTURE(what);
  RebalanceSshCrash c(std::string("ssh-midstream-") + (agent ? "agent-" : "sshd-") +
                          std::to_string(node),
                      sshd);
  const fs::path gate = test::scratch_dir(std::string("ssh-midstream-gate-") +
                                          (agent ? "agent-" : "sshd-") + std::to_string(node));
  int rc = -1;
  std::thread run([&] {
    rc = test::run_clsync(c.command() + " >/dev/null 2>&1", nullptr,
                          "CLSYNC_TEST_PAUSE_AT=mid_copy:'" + gate.string() + "'");
  });
  bool paused = false;
  for (int i = 0; i < 1200 && !(paused = fs::exists(gate / "mid_copy.reached")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int signalled = agent ? sshd.signal_agents(node, SIGKILL) : sshd.signal_sessions(node, SIGKILL);
  test::write_file(gate / "mid_copy.go", "");
  run.join();
  REQUIRE(paused);
  CHECK_MESSAGE(signalled > 0, what, ": nothing to kill");
  // Retries on fresh sessions may finish the run; a task that ran out of them fails alone.
  CHECK_MESSAGE((rc == 0 || rc == 3), what, ": exit ", rc);
  c.check_after_kill(what);
  CHECK(test::run_clsync(c.command() + " >/dev/null 2>&1") == 0);
  c.check_converged(what + ", then rerun");
}

} // namespace

TEST_SUITE("crash_ssh")
{
  TEST_CASE("rebalance-nodes over sshd killed at every step of the client")
  {
    test::SshdHarness sshd(3, "crash-ssh-rn");
    test::sweep_fault_points(
        "rebalance-nodes/ssh",
        [&](const std::string& name) -> std::unique_ptr<CrashCase> {
          return std::make_unique<RebalanceSshCrash>(name, sshd);
        },
        4);
  }

  TEST_CASE("the remote agent or the session's sshd SIGKILLed mid-stream: no replica lost")
  {
    test::SshdHarness sshd(3, "crash-ssh-mid");
    for (int node : {0, 2}) { // a source, the destination of every move
      kill_remote_mid_stream(sshd, node, true);
      kill_remote_mid_stream(sshd, node, false);
    }
  }

  TEST_CASE("backup into and push to an ssh:// repository killed at every step")
  {
    test::SshdHarness sshd(1, "crash-ssh-repo");
    for (bool push : {false, true}) {
      test::sweep_fault_points(
          push ? "push/ssh" : "backup/ssh",
          [&](const std::string& name) -> std::unique_ptr<CrashCase> {
            return std::make_unique<RepoSshCrash>(name, sshd, push);
          },
          3);
    }
  }
}
