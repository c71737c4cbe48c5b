// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The executor and recovery on real local nodes, with hand-made plans (suite `executor_moves`:
// apart from `rebalance`, whose whole runs it would otherwise wait behind in ctest).
#include "core/error.hpp"
#include "core/run/executor.hpp"
#include "core/run/journal.hpp"
#include "core/cluster/node_set.hpp"
#include "core/run/recovery.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/recording_node.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <limits>
#include <sys/mount.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// Moves of the first `n` chunks (in key order) from node `from` to node `to`, first volumes.
Plan moves_between(DemoCopy& d,
                   const Inventory& inv,
                   const std::string& from,
                   const std::string& to,
                   std::size_t n,
                   MoveKind kind = MoveKind::move)
{
  Plan p;
  p.command = "rebalance-nodes";
  p.cluster = d.topo->cluster;
  for (const auto& c : inv.chunks) {
    if (p.moves.size() == n) {
      break;
    }
    for (const auto& r : c.replicas) {
      if (r.node == from) {
        Move m;
        m.kind = kind;
        m.chunk = c.key;
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

/// Wraps every node of `d` so that `node`'s intent removals (counted in `removals`) fail as a
/// connection to a restarting sshd would (a retryable error), the first `failing` of them.
void fail_intent_removals(DemoCopy& d, const std::string& node, std::atomic<int>& removals,
                          int failing)
{
  d.nodes = std::make_shared<NodeSet>(*d.topo, [node, &removals, failing](const NodeSpec& spec) {
    auto wrapped = std::make_shared<test::RecordingNode>(open_node(spec));
    if (spec.name == node) {
      wrapped->set_hook([&removals, failing, node](const test::RecordedCall& c) {
        if (c.name == "remove_intent" && removals.fetch_add(1) < failing) {
          throw transport::TransportError(transport::FailureKind::error,
                                          "node " + node + ": connection lost (test)", true);
        }
      });
    }
    return wrapped;
  });
  d.ctx.nodes = d.nodes;
}

} // namespace

TEST_SUITE("executor_moves")
{
  TEST_CASE("executor: moves between nodes keep content and leave nothing behind")
  {
    DemoCopy d("exec-moves");
    auto before = d.inventory(true);
    auto hashes = test::content_by_chunk(before);
    Plan plan = moves_between(d, before, "P1-dn1", "P3-dn1", 10);
    REQUIRE(plan.moves.size() == 10);
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-moves", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-moves"), journal);
    journal.finish(r.result(), r.bytes, r.finished, r.failed);
    CHECK(r.finished == 10);
    CHECK(r.failed == 0);
    CHECK(r.result() == "ok");
    CHECK(r.bytes == plan.bytes());

    auto after = d.inventory(true);
    auto per = test::replicas_per_node(after);
    CHECK(per["P1-dn1"] == 190);
    CHECK(per["P2-dn1"] == 200);
    CHECK(per["P3-dn1"] == 10);
    CHECK(test::content_by_chunk(after) == hashes);
    CHECK(after.leftovers.empty());
    CHECK(after.health.healthy == 200);

    auto runs = read_runs(d.ctx.state_dir, d.topo->cluster, 0);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].tasks_finished == 10);
    CHECK(runs[0].tasks.size() == 10);
    CHECK(d.events.count("finished") == 10);
  }

  TEST_CASE("executor: a failing task is recorded and the run goes on")
  {
    DemoCopy d("exec-partial");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 3);
    plan.moves[1].chunk = "Level1/20990101/0/Snapshot"; // no such chunk
    plan.moves[1].fingerprint.clear();
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-partial", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-partial"), journal);
    CHECK(r.finished == 2);
    CHECK(r.failed == 1);
    CHECK(r.result() == "partial");
    CHECK(r.tasks[1].state == "failed");
    CHECK(r.tasks[1].error.find("gone") != std::string::npos);
    CHECK(d.events.count("failed") == 1);
    CHECK(d.inventory().leftovers.empty());
  }

  TEST_CASE("executor: a source changed since planning fails its task, nothing moves")
  {
    DemoCopy d("exec-changed");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 1);
    test::write_file(fs::path(plan.moves[0].from.volume) / plan.moves[0].chunk / "extra.col", "x");
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-changed", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-changed"), journal);
    CHECK(r.failed == 1);
    CHECK(r.result() == "failed");
    CHECK(fs::exists(fs::path(plan.moves[0].from.volume) / plan.moves[0].chunk));
    CHECK(!fs::exists(fs::path(plan.moves[0].to.volume) / plan.moves[0].chunk));
  }

  TEST_CASE("executor: a source written just before its rename to trash is kept, the copy removed")
  {
    DemoCopy d("exec-trash-race");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 1);
    REQUIRE(plan.moves.size() == 1);
    const Move m = plan.moves[0];
    const fs::path source = fs::path(m.from.volume) / m.chunk;
    // Every node is wrapped so that the write lands deterministically inside the window the
    // executor cannot see before the rename: after its last fingerprint of the source and
    // before trash_chunk renames it (the hook runs just before the call reaches the node).
    bool written = false;
    const std::string trash_call = m.from.volume + " " + m.chunk + " ";
    d.nodes = std::make_shared<NodeSet>(*d.topo, [&](const NodeSpec& spec) {
      auto node = std::make_shared<test::RecordingNode>(open_node(spec));
      node->set_hook([&](const test::RecordedCall& c) {
        if (c.name == "trash_chunk" && c.detail.rfind(trash_call, 0) == 0 && !written) {
          written = true;
          test::write_file(source / "late.col", "written during the move");
        }
      });
      return node;
    });
    d.ctx.nodes = d.nodes;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-trash-race", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-trash-race"), journal);
    CHECK(written);
    CHECK(r.failed == 1);
    REQUIRE(r.tasks.size() == 1);
    CHECK(r.tasks[0].state == "failed");
    CHECK(r.tasks[0].error.find("source changed during the move; the source is kept, the copy") !=
          std::string::npos);
    CHECK(r.tasks[0].error.find("committed") == std::string::npos);
    CHECK(test::read_file(source / "late.col") == "written during the move");
    CHECK(!fs::exists(fs::path(m.to.volume) / m.chunk));

    auto after = d.inventory();
    CHECK(after.leftovers.empty());
    const Chunk* c = after.chunk(m.chunk);
    REQUIRE(c);
    CHECK(c->replica_count() == 2);
    auto per = test::replicas_per_node(after);
    CHECK(per["P1-dn1"] == 200);
    CHECK(per["P3-dn1"] == 0);
  }

  TEST_CASE("executor: a finished task's intent removal that meets a dropped connection is "
            "retried, and none is left")
  {
    DemoCopy d("exec-intent-retry");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 6);
    REQUIRE(plan.moves.size() == 6);
    // P3-dn1's first two intent removals fail as a connection lost to an sshd that restarts
    // would; the chunks' replicas are all in place by then.
    std::atomic<int> removals{0};
    fail_intent_removals(d, "P3-dn1", removals, 2);
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-intent-retry", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-intent-retry"), journal);
    CHECK(r.finished == 6);
    CHECK(removals.load() == 6 + 2);
    CHECK(d.events.warnings.empty());
    auto after = d.inventory();
    CHECK(after.leftovers.empty());
    CHECK(test::replicas_per_node(after)["P3-dn1"] == 6);
  }

  TEST_CASE("executor: intent removals on a node that stays down are tried once each after the "
            "first gives up, and left to recovery")
  {
    DemoCopy d("exec-intent-down");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 8);
    REQUIRE(plan.moves.size() == 8);
    std::atomic<int> removals{0};
    fail_intent_removals(d, "P3-dn1", removals, std::numeric_limits<int>::max());
    auto settings = settings_for(d, "run-intent-down");
    settings.write.per_node = 1; // one remover thread per volume: the count below is exact
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-intent-down", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, settings, journal);
    CHECK(r.finished == 8);
    // The first job: 5 tries over ~4 s; the 7 after it: one each (not 5 each, ~30 s more).
    CHECK(removals.load() == 5 + 7);
    CHECK(d.events.warnings.size() == 8);
    // Every chunk has its replicas; the intents are the next run's recovery's to remove.
    auto after = d.inventory();
    CHECK(after.leftovers.size() == 8);
    CHECK(test::replicas_per_node(after)["P3-dn1"] == 8);
    CHECK(after.health.healthy == 200);
  }

  TEST_CASE("executor: a stop request rolls back the task before its commit")
  {
    DemoCopy d("exec-stop");
    auto before = d.inventory(true);
    auto hashes = test::content_by_chunk(before);
    Plan plan = moves_between(d, before, "P1-dn1", "P3-dn1", 20);
    d.events.stop_after_bytes = 1;
    auto s = settings_for(d, "run-stop");
    s.write.concurrency = 1;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-stop", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.interrupted);
    CHECK(r.result() == "interrupted");
    CHECK(r.rolled_back == 1);
    CHECK(r.finished == 0);
    CHECK(r.not_started == 19);
    CHECK(d.events.count("rolled_back") == 1);
    auto after = d.inventory(true);
    CHECK(after.leftovers.empty());
    CHECK(test::content_by_chunk(after) == hashes);
    CHECK(test::replicas_per_node(after)["P3-dn1"] == 0);
  }

  TEST_CASE("executor: --max-bytes starts no task past the budget and reports what is left")
  {
    DemoCopy d("exec-max-bytes");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 10);
    auto s = settings_for(d, "run-max");
    s.write.concurrency = 1;
    s.write.max_bytes = plan.moves[0].bytes * 3;
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-max", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.finished == 3);
    CHECK(r.not_started == 7);
    CHECK(r.stopped_by == "max-bytes");
    CHECK(r.bytes_left == plan.bytes() - r.bytes);
    CHECK(r.result() == "ok");
  }

  TEST_CASE("executor: --until in the past starts nothing")
  {
    DemoCopy d("exec-until");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P1-dn1", "P3-dn1", 4);
    auto s = settings_for(d, "run-until");
    s.until = parse_until("2001-01-01T00:00:00Z");
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-until", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    CHECK(r.finished == 0);
    CHECK(r.not_started == 4);
    CHECK(r.stopped_by == "until");
    CHECK_THROWS_AS(parse_until("tomorrow-ish"), UsageError);
    CHECK(parse_until("23:59").has_value());
  }

  TEST_CASE("executor: --on-move runs after each finished move with the move in its environment")
  {
    DemoCopy d("exec-on-move");
    auto inv = d.inventory();
    Plan plan = moves_between(d, inv, "P2-dn1", "P3-dn1", 2);
    auto log = d.dir / "on-move.log";
    auto s = settings_for(d, "run-hook");
    s.write.on_move =
        "echo \"$CLSYNC_RUN_ID $CLSYNC_COMMAND $CLSYNC_CHUNK $CLSYNC_SRC_NODE "
        "$CLSYNC_SRC_VOLUME $CLSYNC_DST_NODE $CLSYNC_DST_VOLUME $CLSYNC_BYTES\" >> '" +
        log.string() + "'";
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-hook", "rebalance-nodes");
    auto r = execute_plan(d.ctx, plan, s, journal);
    REQUIRE(r.finished == 2);
    auto text = test::read_file(log);
    for (const auto& m : plan.moves) {
      CHECK(text.find("run-hook rebalance-nodes " + m.chunk + " P2-dn1 " + m.from.volume +
                      " P3-dn1 " + m.to.volume + " " + std::to_string(m.bytes)) !=
            std::string::npos);
    }
  }

  TEST_CASE("executor: copies (repair) keep the source; drop_duplicate removes a second copy")
  {
    DemoCopy d("exec-copy-drop");
    d.edit_yaml([&](std::string& y) {
      auto v = d.volume("P1-dn1");
      auto at = y.find("\"" + v + "\"");
      y.insert(at + v.size() + 2, ", \"" + v + "-b\"");
    });
    fs::create_directories(d.volume("P1-dn1", 1));
    auto inv = d.inventory();
    Plan copy = moves_between(d, inv, "P2-dn1", "P3-dn1", 3, MoveKind::copy);
    // A second copy of one chunk on P1-dn1's other volume.
    const std::string key = inv.chunks[5].key;
    fs::create_directories(fs::path(d.volume("P1-dn1", 1)) / key);
    REQUIRE(test::run_command("cp -a '" + d.volume("P1-dn1") + "/" + key + "/.' '" +
                              d.volume("P1-dn1", 1) + "/" + key + "/'") == 0);
    Move drop;
    drop.kind = MoveKind::drop_duplicate;
    drop.chunk = key;
    drop.from = {"P1-dn1", d.volume("P1-dn1", 1)};
    drop.to = {"P1-dn1", d.volume("P1-dn1")};
    copy.moves.push_back(drop);
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-copy", "repair");
    auto r = execute_plan(d.ctx, copy, settings_for(d, "run-copy"), journal);
    CHECK(r.finished == 4);
    auto after = d.inventory();
    auto per = test::replicas_per_node(after);
    CHECK(per["P2-dn1"] == 200);
    CHECK(per["P3-dn1"] == 3);
    CHECK(!fs::exists(fs::path(d.volume("P1-dn1", 1)) / key));
    CHECK(fs::exists(fs::path(d.volume("P1-dn1")) / key));
    CHECK(after.health.over_replicated == 3);
    CHECK(after.health.duplicate_on_node == 0);
    CHECK(after.leftovers.empty());
  }

  TEST_CASE("executor: a move between filesystems of one node copies on the node")
  {
    DemoCopy d("exec-exdev");
    auto mnt = d.dir / "tmpfs-volume";
    fs::create_directories(mnt);
    REQUIRE_MESSAGE(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=16m") == 0,
                    "mounting a tmpfs failed (tests run as root): ", std::strerror(errno));
    struct Unmount {
      fs::path p;
      ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount{mnt};
    d.edit_yaml([&](std::string& y) {
      auto v = d.volume("P1-dn1");
      auto at = y.find("\"" + v + "\"");
      y.insert(at + v.size() + 2, ", \"" + mnt.string() + "\"");
    });
    auto before = d.inventory(true);
    auto hashes = test::content_by_chunk(before);
    Plan plan = moves_between(d, before, "P1-dn1", "P1-dn1", 5);
    for (auto& m : plan.moves) {
      m.to.volume = mnt.string();
    }
    Journal journal(d.ctx.state_dir, d.topo->cluster, "run-exdev", "rebalance-disks");
    auto r = execute_plan(d.ctx, plan, settings_for(d, "run-exdev"), journal);
    CHECK(r.finished == 5);
    auto after = d.inventory(true);
    CHECK(test::content_by_chunk(after) == hashes);
    for (const auto& m : plan.moves) {
      CHECK(fs::exists(mnt / m.chunk));
      CHECK(!fs::exists(fs::path(m.from.volume) / m.chunk));
    }
    CHECK(after.leftovers.empty());
    CHECK(after.health.healthy == 200);
  }

  TEST_CASE("recovery: acts on clsync's own leftovers only")
  {
    DemoCopy d("recovery");
    auto inv0 = d.inventory();
    const auto p1 = fs::path(d.volume("P1-dn1"));
    const auto p2 = fs::path(d.volume("P2-dn1"));
    const auto p3 = fs::path(d.volume("P3-dn1"));
    const std::string k1 = inv0.chunks[0].key, k2 = inv0.chunks[1].key, k3 = inv0.chunks[2].key,
                      k4 = inv0.chunks[3].key;
    auto intent = [&](const std::string& task, const std::string& key, const fs::path& src_vol,
                      const std::string& src_node, const fs::path& dst_vol,
                      const std::string& dst_node) {
      nlohmann::json j{{"run", "old"},
                       {"task", task},
                       {"chunk", key},
                       {"kind", "move"},
                       {"source", {{"node", src_node}, {"volume", src_vol.string()}}},
                       {"destination", {{"node", dst_node}, {"volume", dst_vol.string()}}}};
      test::write_file(src_vol / (".clsync-intent-" + task), j.dump());
      test::write_file(dst_vol / (".clsync-intent-" + task), j.dump());
    };
    auto copy_chunk = [&](const fs::path& from, const fs::path& to) {
      fs::create_directories(to);
      REQUIRE(test::run_command("cp -a '" + from.string() + "/.' '" + to.string() + "/'") == 0);
    };
    // A temp directory of a killed copy.
    test::write_file(p3 / ".clsync-tmp-old-1" / k1 / "x.col", "partial");
    // k1: moved to P3, source in trash: the trash goes.
    copy_chunk(p1 / k1, p3 / k1);
    fs::rename(p1 / k1, p1 / ".clsync-trash-old-2");
    intent("old-2", k1, p1, "P1-dn1", p3, "P3-dn1");
    // k2: in trash with no other copy to replace it: it comes back.
    fs::rename(p2 / k2, p2 / ".clsync-trash-old-3");
    intent("old-3", k2, p2, "P2-dn1", p3, "P3-dn1");
    // k3: committed on P3, source not yet trashed: the source goes.
    copy_chunk(p1 / k3, p3 / k3);
    intent("old-4", k3, p1, "P1-dn1", p3, "P3-dn1");
    // k4: a surplus replica no intent explains: reported, kept.
    copy_chunk(p1 / k4, p3 / k4);
    // A lone intent.
    test::write_file(p2 / ".clsync-intent-old-5", R"({"task":"old-5","chunk":"x","kind":"copy"})");

    auto inv = d.inventory();
    auto rep = recover(d.ctx, inv, {"P1-dn1", "P2-dn1", "P3-dn1"});
    CHECK(rep.temps_removed == 1);
    CHECK(rep.trash_removed == 1);
    CHECK(rep.trash_restored == 1);
    CHECK(rep.surplus_trashed == 1);
    CHECK(rep.intents_removed == 7);
    REQUIRE(rep.notes.size() == 1);
    CHECK(rep.notes[0].find(k4) != std::string::npos);

    auto after = d.inventory();
    CHECK(after.leftovers.empty());
    CHECK(!fs::exists(p1 / k1));
    CHECK(fs::exists(p3 / k1));
    CHECK(fs::exists(p2 / k2));
    CHECK(!fs::exists(p1 / k3));
    CHECK(fs::exists(p3 / k3));
    CHECK(fs::exists(p1 / k4));
    CHECK(fs::exists(p3 / k4));
    CHECK(after.health.healthy == 199);
    CHECK(after.health.over_replicated == 1);
  }
}
