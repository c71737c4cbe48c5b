// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Crash tests (suite `crash`): the real clsync binary is killed with SIGKILL at each fault point
// of a move; after every kill no chunk may have fewer than 2 replicas, and a rerun without the
// fault must converge to the balanced, healthy result with unchanged content.
#include "core/run/journal.hpp"
#include "core/rebalance.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;
using clsync::test::k_killed;

namespace {


std::string base_args(DemoCopy& d)
{
  return "-c '" + d.yaml.string() + "' --state-dir '" + d.ctx.state_dir.string() + "' ";
}

/// No chunk of the demo's 200 has fewer than 2 replicas on disk.
void check_never_below_two(DemoCopy& d, const std::string& when)
{
  auto on_disk = test::replicas_on_disk(*d.topo);
  CHECK_MESSAGE(on_disk.size() == 200, when);
  int short_chunks = 0;
  for (const auto& [key, n] : on_disk) {
    if (n < 2) {
      ++short_chunks;
      MESSAGE(when << ": " << key << " has " << n << " replica(s)");
    }
  }
  CHECK_MESSAGE(short_chunks == 0, when);
}

void check_healthy(const Inventory& inv, const std::map<std::string, std::string>& hashes)
{
  CHECK(inv.chunks.size() == 200);
  CHECK(inv.health.healthy == 200);
  CHECK(inv.leftovers.empty());
  CHECK(test::content_by_chunk(inv) == hashes);
}

/// The journal of the killed run reads back as interrupted.
void check_killed_run_journal(DemoCopy& d)
{
  auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
  REQUIRE(!runs.empty());
  CHECK(runs.back().result == "interrupted");
  CHECK(runs.back().finish.empty());
}

/// Finished tasks recorded so far in the (only) journal of `d`.
int finished_in_journal(DemoCopy& d)
{
  auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
  return runs.empty() ? 0 : static_cast<int>(runs[0].tasks_finished);
}

const char* const k_move_points[] = {"after_intent", "mid_copy",    "after_copy",
                                     "after_commit", "after_trash", "before_intent_removal"};

} // namespace

TEST_SUITE("crash")
{
  TEST_CASE("rebalance-nodes killed at every fault point: never below 2 replicas, rerun converges")
  {
    for (const char* point : k_move_points) {
      const std::string point_name = point;
      CAPTURE(point_name);
      DemoCopy d(std::string("crash-rn-") + point);
      const auto hashes = test::content_by_chunk(d.inventory(true));
      const std::string cmd = base_args(d) + "rebalance-nodes --by count";
      int rc = test::run_clsync(cmd, nullptr, std::string("CLSYNC_TEST_CRASH_AT=") + point + ":7");
      REQUIRE_MESSAGE(rc == k_killed, "the run was not killed at ", point);
      check_never_below_two(d, std::string("after a kill at ") + point);
      check_killed_run_journal(d);

      REQUIRE(test::run_clsync(cmd) == 0);
      auto inv = d.inventory(true);
      auto per = test::replicas_per_node(inv);
      CHECK(per["P1-dn1"] == 134);
      CHECK(per["P2-dn1"] == 133);
      CHECK(per["P3-dn1"] == 133);
      check_healthy(inv, hashes);
      auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
      REQUIRE(runs.size() == 2);
      CHECK(runs[0].result == "ok");
    }
  }

  TEST_CASE("move-replicas --from-node killed mid-drain: never below 2 replicas, rerun empties it")
  {
    for (const char* point : {"mid_copy", "after_commit", "after_trash"}) {
      const std::string point_name = point;
      CAPTURE(point_name);
      DemoCopy d(std::string("crash-mr-") + point);
      RebalanceNodesOptions o;
      o.plan.by = "count";
      REQUIRE(rebalance_nodes(d.ctx, o).code == ExitCode::ok);
      const auto hashes = test::content_by_chunk(d.inventory(true));
      const std::string cmd = base_args(d) + "move-replicas --from-node P3-dn1";
      int rc = test::run_clsync(cmd, nullptr, std::string("CLSYNC_TEST_CRASH_AT=") + point + ":4");
      REQUIRE(rc == k_killed);
      check_never_below_two(d, std::string("after a kill at ") + point);

      REQUIRE(test::run_clsync(cmd) == 0);
      auto inv = d.inventory(true);
      CHECK(test::replicas_per_node(inv)["P3-dn1"] == 0);
      check_healthy(inv, hashes);
    }
  }

  TEST_CASE("rebalance-disks killed after a rename: rerun converges to 100/100")
  {
    // The 9th chunk's task of the per-task path (CLSYNC_RENAME_BATCH=1), and the rename batch
    // (the default: one batch holds every move here) after its intent and after its renames.
    for (const char* point : {"after_intent:9", "after_rename:9", "rename_batch_after_intent:1",
                              "rename_batch_after_renames:1"}) {
      const std::string point_name = point;
      CAPTURE(point_name);
      const bool per_task = point_name.rfind("after_", 0) == 0;
      DemoCopy d(std::string("crash-rd-") + point_name.substr(0, point_name.find(':')));
      const std::string v = d.volume("P1-dn1");
      d.edit_yaml([&](std::string& y) {
        auto at = y.find("\"" + v + "\"");
        y.insert(at + v.size() + 2, ", \"" + v + "-ssd1\"");
      });
      fs::create_directories(v + "-ssd1");
      const auto hashes = test::content_by_chunk(d.inventory(true));
      const std::string cmd = base_args(d) + "rebalance-disks --node P1-dn1";
      REQUIRE(test::run_clsync(cmd, nullptr,
                               std::string(per_task ? "CLSYNC_RENAME_BATCH=1 " : "") +
                                   "CLSYNC_TEST_CRASH_AT=" + point) == k_killed);
      check_never_below_two(d, std::string("after a kill at ") + point);

      REQUIRE(test::run_clsync(cmd) == 0);
      auto inv = d.inventory(true);
      CHECK(inv.node("P1-dn1")->volumes[0].chunks == 100);
      CHECK(inv.node("P1-dn1")->volumes[1].chunks == 100);
      check_healthy(inv, hashes);
    }
  }

  TEST_CASE(
      "SIGINT: no new task, the running ones roll back or complete, exit 130; rerun converges")
  {
    DemoCopy d("sigint");
    const auto hashes = test::content_by_chunk(d.inventory(true));
    std::string cmd = std::string("exec ") + CLSYNC_BINARY + " " + base_args(d) +
                      "rebalance-nodes --by count --bwlimit 60K 2>/dev/null >/dev/null";
    std::string sh = "/bin/sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
    for (int i = 0; i < 600 && finished_in_journal(d) < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(::kill(pid, SIGINT) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);

    auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].result == "interrupted");
    CHECK(!runs[0].finish.empty()); // a footer: the run ended in order
    int moved = static_cast<int>(runs[0].tasks_finished);
    CHECK(moved >= 3);
    CHECK(moved < 133);
    for (const auto& t : runs[0].tasks) {
      CHECK((t.state == "finished" || t.state == "rolled_back" || t.state == "queued"));
    }
    auto inv = d.inventory(true);
    CHECK(inv.leftovers.empty()); // temps, intents and leases all gone
    CHECK(inv.health.healthy == 200);
    CHECK(test::replicas_per_node(inv)["P3-dn1"] == static_cast<std::uint64_t>(moved));
    CHECK(test::content_by_chunk(inv) == hashes);

    REQUIRE(test::run_clsync(base_args(d) + "rebalance-nodes --by count") == 0);
    auto after = d.inventory(true);
    auto per = test::replicas_per_node(after);
    CHECK(per["P1-dn1"] + per["P2-dn1"] == 267);
    CHECK(per["P3-dn1"] == 133);
    CHECK(after.health.healthy == 200);
    CHECK(test::content_by_chunk(after) == hashes);
  }
}
