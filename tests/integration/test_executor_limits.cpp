// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The executor's limits by what it counted, not by time (suite `executor`): --per-node, the
// bandwidth limiter's accounting, and --on-move hooks and trash removals that hold no transfer
// slot.
#include "core/cluster/node_set.hpp"
#include "core/fault.hpp"
#include "core/run/executor.hpp"
#include "core/run/journal.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/recording_node.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// Moves of chunks [first, first + n) (in key order) from `from` to `to`, first volumes.
Plan moves_of(DemoCopy& d,
              const Inventory& inv,
              const std::string& from,
              const std::string& to,
              std::size_t first,
              std::size_t n)
{
  Plan p;
  p.command = "rebalance-nodes";
  p.cluster = d.topo->cluster;
  for (std::size_t i = first; i < first + n && i < inv.chunks.size(); ++i) {
    for (const auto& r : inv.chunks[i].replicas) {
      if (r.node == from) {
        Move m;
        m.chunk = inv.chunks[i].key;
        m.from = {from, r.volume};
        m.to = {to, d.volume(to)};
        m.bytes = r.bytes;
        m.fingerprint = r.fingerprint;
        p.moves.push_back(m);
      }
    }
  }
  return p;
}

/// 24 moves onto P3-dn1: 12 chunks from P1-dn1, the next 12 from P2-dn1.
Plan two_dozen_moves_to_p3(DemoCopy& d, const Inventory& inv)
{
  Plan plan = moves_of(d, inv, "P1-dn1", "P3-dn1", 0, 12);
  Plan more = moves_of(d, inv, "P2-dn1", "P3-dn1", 12, 12);
  plan.moves.insert(plan.moves.end(), more.moves.begin(), more.moves.end());
  return plan;
}

/// Replays a journal: the most tasks "running" at once touching each node, counting a task from
/// its running record to its final one (the executor takes a node's slot before the first and
/// frees it after the second, so this never over-counts).
std::map<std::string, int> journal_concurrency(const fs::path& file)
{
  std::map<std::string, int> now, most;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.value("type", "") != "task") {
      continue;
    }
    const std::string state = j["state"];
    std::vector<std::string> nodes{j["source"]["node"], j["destination"]["node"]};
    if (nodes[0] == nodes[1]) {
      nodes.pop_back();
    }
    for (const auto& n : nodes) {
      if (state == "running") {
        most[n] = std::max(most[n], ++now[n]);
      } else if (state == "finished" || state == "failed" || state == "rolled_back") {
        --now[n];
      }
    }
  }
  return most;
}

} // namespace

TEST_SUITE("executor")
{
  TEST_CASE("executor: --per-node is never exceeded and the limiter is charged every byte")
  {
    DemoCopy d("exec-limits");
    auto inv = d.inventory();
    Plan plan = two_dozen_moves_to_p3(d, inv);
    REQUIRE(plan.moves.size() == 24);
    auto s = settings_for(d, "run-limits");
    s.write.concurrency = 6;
    s.write.per_node = 2;
    s.write.bwlimit = 400 * 1000;
    s.write.bwlimit_per_node = 300 * 1000;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-limits", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    journal.finish(r.result(), r.bytes, r.finished, r.failed);
    REQUIRE(r.finished == 24);

    // Every node's slots: the executor's own counter and the journal agree, never above 2.
    for (const auto& node_most : r.max_busy_per_node) {
      const auto& node = node_most.first; // named, not bound: doctest's lambdas
      const auto& most = node_most.second; // capture them (clang 14)
      CAPTURE(node);
      CHECK(most >= 1);
      CHECK(most <= 2);
    }
    CHECK(r.max_busy_per_node.at("P3-dn1") <= 2);
    for (const auto& node_most : journal_concurrency(journal.path())) {
      const auto& node = node_most.first; // named, not bound: doctest's lambdas
      const auto& most = node_most.second; // capture them (clang 14)
      CAPTURE(node);
      CHECK(most <= 2);
    }

    // The limiter saw every byte of every chunk moved through this process: the bytes of the
    // finished moves (their files' sizes, from the inventory), on the run and on each node.
    std::uint64_t p1 = 0, p2 = 0;
    for (const auto& m : plan.moves) {
      (m.from.node == "P1-dn1" ? p1 : p2) += m.bytes;
    }
    CHECK(r.bytes_streamed == p1 + p2);
    CHECK(r.bytes_charged == p1 + p2);
    CHECK(r.bytes_charged_per_node.at("P1-dn1") == p1);
    CHECK(r.bytes_charged_per_node.at("P2-dn1") == p2);
    CHECK(r.bytes_charged_per_node.at("P3-dn1") == p1 + p2);
  }

  TEST_CASE("executor: --per-node 1 serialises the tasks of a node, whatever --concurrency")
  {
    DemoCopy d("exec-per-node-1");
    auto inv = d.inventory();
    Plan plan = moves_of(d, inv, "P1-dn1", "P3-dn1", 0, 8);
    auto s = settings_for(d, "run-per-node-1");
    s.write.concurrency = 8;
    s.write.per_node = 1;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-per-node-1", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    REQUIRE(r.finished == 8);
    CHECK(r.max_busy_per_node.at("P1-dn1") == 1);
    CHECK(r.max_busy_per_node.at("P3-dn1") == 1);
    for (const auto& node_most : journal_concurrency(journal.path())) {
      const auto& node = node_most.first; // named, not bound: doctest's lambdas
      const auto& most = node_most.second; // capture them (clang 14)
      CAPTURE(node);
      CHECK(most == 1);
    }
  }

  TEST_CASE("executor: without --per-node a local node takes 8 tasks at once")
  {
    // The demo's nodes are `host: local`. Every task waits after its intents until 8 tasks are
    // waiting there together (or, on a build that never lets 8 in, until the first wait gives
    // up after 20 s and lets everything through), so the count below does not depend on how
    // fast a task runs.
    DemoCopy d("exec-local-per-node");
    auto inv = d.inventory();
    Plan plan = two_dozen_moves_to_p3(d, inv);
    REQUIRE(plan.moves.size() == 24);
    auto s = settings_for(d, "run-local-per-node");
    REQUIRE(s.write.per_node == 0);
    REQUIRE(s.write.concurrency == 0);
    std::mutex m;
    std::condition_variable cv;
    int waiting = 0, most_waiting = 0;
    bool released = false;
    set_fault_hook([&](const char* point) {
      if (std::string(point) != "after_intent") {
        return;
      }
      std::unique_lock lock(m);
      most_waiting = std::max(most_waiting, ++waiting);
      if (waiting >= 8) {
        released = true;
        cv.notify_all();
      }
      if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return released; })) {
        released = true;
        cv.notify_all();
      }
      --waiting;
    });
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-local-per-node", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    set_fault_hook({});
    CHECK(r.finished == 24);
    CHECK(most_waiting == 8);
    CHECK(r.max_busy_per_node.at("P3-dn1") == 8);
    for (const auto& node_most : journal_concurrency(journal.path())) {
      const auto& node = node_most.first; // named, not bound: doctest's lambdas
      const auto& most = node_most.second; // capture them (clang 14)
      CAPTURE(node);
      CHECK(most <= 8);
    }
  }

  TEST_CASE("executor: a slow --on-move holds no slot: the next transfers go on meanwhile")
  {
    DemoCopy d("exec-on-move-slots");
    auto inv = d.inventory();
    Plan plan = moves_of(d, inv, "P2-dn1", "P3-dn1", 0, 3);
    REQUIRE(plan.moves.size() == 3);
    auto s = settings_for(d, "run-slow-hook");
    // One worker and one slot per node: if the hook held either, the last move could not run
    // while the first task's hook waits for it.
    s.write.concurrency = 1;
    s.write.per_node = 1;
    const fs::path last = fs::path(plan.moves.back().to.volume) / plan.moves.back().chunk;
    const fs::path verdict = d.dir / "hook-verdict";
    s.write.on_move = "if [ \"$CLSYNC_TASK_ID\" = '" + task_id("run-slow-hook", 1) +
                      "' ]; then i=0; while [ ! -d '" + last.string() +
                      "' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
                      "if [ -d '" + last.string() + "' ]; then echo unblocked; else echo blocked; "
                      "fi > '" + verdict.string() + "'; fi";
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-slow-hook", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.finished == 3);
    CHECK(test::read_file(verdict) == "unblocked\n");
  }

  TEST_CASE("executor: a hook past --hook-timeout is killed and the run goes on")
  {
    DemoCopy d("exec-hook-timeout");
    auto inv = d.inventory();
    Plan plan = moves_of(d, inv, "P2-dn1", "P3-dn1", 0, 2);
    auto s = settings_for(d, "run-hook-timeout");
    s.write.hook_timeout_s = 1;
    s.write.on_move = "sleep 1000";
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-hook-timeout", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.finished == 2);
    std::lock_guard lock(d.events.m);
    int killed = 0;
    for (const auto& w : d.events.warnings) {
      killed += w.find("--on-move was killed: it ran past --hook-timeout") != std::string::npos;
    }
    CHECK(killed == 2);
  }

  TEST_CASE("executor: a finished move's trash and intents go off its slots, before the run ends")
  {
    // One worker and one slot per node, two moves P1-dn1 -> P3-dn1. The first task's trash
    // removal waits (in the node's hook) until the second task has written its destination
    // intent, or gives up after 20 s. Where removing the trash is a step of the task itself,
    // holding its slots and the only worker, the second task cannot start before it.
    DemoCopy d("exec-trash-later");
    auto inv = d.inventory();
    Plan plan = moves_of(d, inv, "P1-dn1", "P3-dn1", 0, 2);
    REQUIRE(plan.moves.size() == 2);
    auto s = settings_for(d, "run-trash-later");
    s.write.concurrency = 1;
    s.write.per_node = 1;
    const std::string first = task_id("run-trash-later", 1);
    const std::string second = task_id("run-trash-later", 2);
    const std::string first_trash = plan.moves[0].from.volume + " " + first;
    std::mutex m;
    std::condition_variable cv;
    bool second_started = false, removal_reached = false, waited_in_vain = false;
    std::size_t finished_when_released = 0;
    std::vector<std::string> first_calls;  // the first task's calls on its source volume
    d.nodes = std::make_shared<NodeSet>(*d.topo, [&](const NodeSpec& spec) {
      auto node = std::make_shared<test::RecordingNode>(open_node(spec));
      node->set_hook([&](const test::RecordedCall& c) {
        {
          std::unique_lock lock(m);
          if (c.detail.rfind(first_trash, 0) == 0) {
            first_calls.push_back(c.name);
          }
          if (c.name == "write_intent" && c.detail.find(second) != std::string::npos) {
            second_started = true;
            cv.notify_all();
          }
          if (c.name != "remove_task_dirs" || c.detail != first_trash) {
            return;
          }
          removal_reached = true;
          waited_in_vain =
              !cv.wait_for(lock, std::chrono::seconds(20), [&] { return second_started; });
        }
        finished_when_released = d.events.count("finished");
      });
      return node;
    });
    d.ctx.nodes = d.nodes;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-trash-later", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.finished == 2);
    CHECK(r.result() == "ok");
    CHECK(removal_reached);
    CHECK_MESSAGE(!waited_in_vain, "the second task started only after the first one's trash");
    CHECK(finished_when_released >= 1);
    // The source's intent, which explains the trash to recovery, goes after it.
    {
      std::lock_guard lock(m);
      const auto trash_at = std::find(first_calls.begin(), first_calls.end(), "remove_task_dirs");
      const auto intent_at = std::find(first_calls.begin(), first_calls.end(), "remove_intent");
      CHECK(trash_at != first_calls.end());
      CHECK(intent_at != first_calls.end());
      CHECK(trash_at < intent_at);
    }
    // Nothing of either task is left once execute_plan returned.
    auto after = d.inventory();
    CHECK(after.leftovers.empty());
    for (const auto& mv : plan.moves) {
      CHECK(fs::exists(fs::path(mv.to.volume) / mv.chunk));
      CHECK(!fs::exists(fs::path(mv.from.volume) / mv.chunk));
    }
  }
}
