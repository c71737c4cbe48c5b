// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The writing commands end to end on copies of the demo cluster (suite `rebalance`).
#include "core/error.hpp"
#include "core/run/journal.hpp"
#include "core/run/leases.hpp"
#include "core/rebalance.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <ctime>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// Adds `extra` as a further volume of `node` in the topology file and creates it.
void add_volume(DemoCopy& d, const std::string& node, const std::string& extra)
{
  const std::string v = d.volume(node);
  d.edit_yaml([&](std::string& y) {
    auto at = y.find("\"" + v + "\"");
    REQUIRE(at != std::string::npos);
    y.insert(at + v.size() + 2, ", \"" + extra + "\"");
  });
  fs::create_directories(extra);
}

/// Everything under the volumes (state dir excluded): what a refused run must leave as it was.
/// The volume roots' own lines are left out: a lease taken and given back touches their mtime.
/// Every chunk has exactly 2 replicas, on distinct nodes.
void check_all_two_replicas(const Inventory& inv)
{
  CHECK(inv.chunks.size() == 200);
  for (const auto& c : inv.chunks) {
    CHECK_MESSAGE(c.replica_count() == 2, c.key);
    CHECK_MESSAGE(c.health == ChunkHealth::healthy, c.key);
  }
}

ino_t inode_of(const fs::path& p)
{
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

struct SizedTmpfs {
  fs::path path;
  SizedTmpfs(const fs::path& p, const std::string& size) : path(p)
  {
    fs::create_directories(p);
    std::string opts = "size=" + size;
    REQUIRE_MESSAGE(::mount("tmpfs", p.c_str(), "tmpfs", 0, opts.c_str()) == 0,
                    "mounting a tmpfs failed (the tests run as root): ", std::strerror(errno));
  }
  ~SizedTmpfs() { ::umount2(path.c_str(), MNT_DETACH); }
};

} // namespace

TEST_SUITE("rebalance")
{
  TEST_CASE("rebalance-nodes --by count: 200/200/0 becomes 134/133/133, content unchanged")
  {
    DemoCopy d("rn-count");
    auto hashes = test::content_by_chunk(d.inventory(true));
    RebalanceNodesOptions o;
    o.plan.by = "count";
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == 133);
    CHECK(r.exec->failed == 0);
    for (const auto& m : r.plan.moves) {
      CHECK(m.to.node == "P3-dn1");
    }
    auto after = d.inventory(true);
    auto per = test::replicas_per_node(after);
    CHECK(per["P1-dn1"] == 134);
    CHECK(per["P2-dn1"] == 133);
    CHECK(per["P3-dn1"] == 133);
    check_all_two_replicas(after);
    CHECK(test::content_by_chunk(after) == hashes);
    CHECK(after.leftovers.empty()); // leases released, intents and temps gone

    auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].id == r.run_id);
    CHECK(runs[0].tasks_finished == 133);
    CHECK(runs[0].result == "ok");

    // A second run finds nothing to do.
    auto again = rebalance_nodes(d.ctx, o);
    CHECK(again.plan.moves.empty());
    CHECK(again.code == ExitCode::ok);
  }

  TEST_CASE("--dry-run changes nothing: no move, no lease, no journal")
  {
    DemoCopy d("rn-dry-run");
    const auto before = test::tree_listing(d.dir);
    RebalanceNodesOptions o;
    o.write.dry_run = true;
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.dry_run);
    CHECK(!r.exec);
    CHECK(r.plan.moves.size() == 133);
    CHECK(test::first_difference(before, test::tree_listing(d.dir)) == "");
    CHECK(!fs::exists(d.ctx.state_dir));
  }

  TEST_CASE("rebalance-disks --all-nodes after adding a volume: 100/100 on each, by rename")
  {
    DemoCopy d("rd-all");
    add_volume(d, "P1-dn1", d.volume("P1-dn1") + "-ssd1");
    add_volume(d, "P2-dn1", d.volume("P2-dn1") + "-ssd1");
    auto hashes = test::content_by_chunk(d.inventory(true));
    std::map<std::string, ino_t> inodes;
    for (const auto& c : d.inventory().chunks) {
      inodes[c.key] = inode_of(fs::path(d.volume("P1-dn1")) / c.key);
    }
    RebalanceDisksOptions o;
    o.all_nodes = true;
    auto r = rebalance_disks(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == 200);
    auto after = d.inventory(true);
    for (const char* n : {"P1-dn1", "P2-dn1"}) {
      const auto* node = after.node(n);
      REQUIRE(node);
      REQUIRE(node->volumes.size() == 2);
      CHECK(node->volumes[0].chunks == 100);
      CHECK(node->volumes[1].chunks == 100);
    }
    check_all_two_replicas(after);
    CHECK(test::content_by_chunk(after) == hashes);
    // A rename keeps the directory's inode: no byte was copied.
    int renamed = 0;
    for (const auto& m : r.plan.moves) {
      if (m.from.node == "P1-dn1") {
        CHECK(inode_of(fs::path(m.to.volume) / m.chunk) == inodes[m.chunk]);
        ++renamed;
      }
    }
    CHECK(renamed == 100);

    SUBCASE("then draining the new volume moves its chunks back")
    {
      MoveReplicasOptions mo;
      mo.node = "P1-dn1";
      mo.from_volume = d.volume("P1-dn1", 1);
      auto dr = move_replicas(d.ctx, mo);
      CHECK(dr.code == ExitCode::ok);
      auto inv = d.inventory();
      CHECK(inv.node("P1-dn1")->volumes[0].chunks == 200);
      CHECK(inv.node("P1-dn1")->volumes[1].chunks == 0);
      check_all_two_replicas(inv);
    }
  }

  TEST_CASE("move-replicas --from-node P3-dn1 empties it and keeps every chunk healthy")
  {
    DemoCopy d("mr-drain");
    RebalanceNodesOptions o;
    o.plan.by = "count";
    REQUIRE(rebalance_nodes(d.ctx, o).code == ExitCode::ok);
    auto hashes = test::content_by_chunk(d.inventory(true));
    MoveReplicasOptions mo;
    mo.from_node = "P3-dn1";
    auto r = move_replicas(d.ctx, mo);
    CHECK(r.code == ExitCode::ok);
    auto after = d.inventory(true);
    auto per = test::replicas_per_node(after);
    CHECK(per["P3-dn1"] == 0);
    CHECK(per["P1-dn1"] + per["P2-dn1"] == 400);
    check_all_two_replicas(after);
    CHECK(test::content_by_chunk(after) == hashes);
  }

  TEST_CASE("repair brings ten chunks missing a replica back to 2")
  {
    DemoCopy d("repair");
    auto inv = d.inventory(true);
    auto hashes = test::content_by_chunk(inv);
    for (int i = 0; i < 10; ++i) {
      fs::remove_all(fs::path(d.volume("P2-dn1")) / inv.chunks[i * 7].key);
    }
    CHECK(d.inventory().health.under_replicated == 10);

    // Other commands refuse a degraded cluster.
    RebalanceNodesOptions rn;
    CHECK_THROWS_WITH_AS(rebalance_nodes(d.ctx, rn), doctest::Contains("degraded"), Error);

    RepairOptions o;
    auto r = repair(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == 10);
    auto after = d.inventory(true);
    check_all_two_replicas(after);
    CHECK(test::content_by_chunk(after) == hashes);
  }

  TEST_CASE("a drain that cannot keep 2 replicas is refused before anything moves")
  {
    DemoCopy d("mr-refused");
    d.edit_yaml([](std::string& y) {
      auto at = y.find("  - name: P3-dn1");
      auto end = y.find("databases:");
      y.erase(at, end - at);
    });
    const auto before = volumes_listing(d);
    MoveReplicasOptions mo;
    mo.from_node = "P1-dn1";
    CHECK_THROWS_AS(move_replicas(d.ctx, mo), Error);
    CHECK(test::first_difference(before, volumes_listing(d)) == "");
  }

  TEST_CASE("a destination without room is refused before anything moves")
  {
    DemoCopy d("rn-no-room");
    SizedTmpfs small(d.dir / "small", "256k");
    const auto p3 = d.volume("P3-dn1");
    d.edit_yaml([&](std::string& y) {
      auto at = y.find(p3);
      y.replace(at, p3.size(), small.path.string());
      // Equal weights: shares by capacity would give the small volume almost nothing.
      for (std::size_t p = 0; (p = y.find("    host: local\n", p)) != std::string::npos;) {
        p += std::strlen("    host: local\n");
        y.insert(p, "    weight: 1\n");
      }
    });
    const auto before = volumes_listing(d) + test::tree_listing(small.path);
    RebalanceNodesOptions o;
    o.plan.by = "count";
    CHECK_THROWS_WITH_AS(rebalance_nodes(d.ctx, o), doctest::Contains("not enough room"), Error);
    CHECK(test::first_difference(before, volumes_listing(d) + test::tree_listing(small.path)) ==
          "");
  }

  TEST_CASE("a second run while a lease is held: LockHeld, exit 4 from the binary")
  {
    DemoCopy d("rn-locked");
    LeaseSet held(*d.nodes, {"P2-dn1"}, {"other-run", "repair", 600, false}, d.events);
    const auto before = volumes_listing(d);
    RebalanceNodesOptions o;
    CHECK_THROWS_AS(rebalance_nodes(d.ctx, o), LockHeld);
    std::string out;
    int rc = test::run_clsync("-c '" + d.yaml.string() + "' rebalance-nodes --state-dir '" +
                                  (d.dir / "state").string() + "'",
                              &out);
    CHECK(rc == 4);
    // Only the held lease file differs from before.
    CHECK(test::first_difference(before, volumes_listing(d)) == "");
    // --break-lock refuses a holder alive on this host (this very process) …
    o.write.break_lock = true;
    CHECK_THROWS_AS(rebalance_nodes(d.ctx, o), LockHeld);
    held.release();
    // … and takes the lease of one that is not (and the run completes).
    const auto now = std::time(nullptr);
    test::write_file(fs::path(d.volume("P2-dn1")) / ".clsync-lease",
                     nlohmann::json{{"host", "elsewhere"}, {"pid", 1}, {"run_id", "other-run"},
                                    {"command", "repair"}, {"started", now}, {"heartbeat", now},
                                    {"machine_id", "another-machine"}, {"ttl", 600}}
                         .dump());
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
  }

  TEST_CASE("a failing --pre-hook stops the run before anything changes; --post-hook hears ok")
  {
    DemoCopy d("rn-hooks");
    const auto before = volumes_listing(d);
    RebalanceNodesOptions o;
    o.write.pre_hook = "exit 3";
    CHECK_THROWS_WITH_AS(rebalance_nodes(d.ctx, o), doctest::Contains("pre-hook"), Error);
    CHECK(test::first_difference(before, volumes_listing(d)) == "");
    auto log = d.dir / "post.log";
    o.write.pre_hook = "true";
    o.write.post_hook = "echo \"$CLSYNC_RESULT $CLSYNC_COMMAND\" > '" + log.string() + "'";
    REQUIRE(rebalance_nodes(d.ctx, o).code == ExitCode::ok);
    CHECK(test::read_file(log) == "ok rebalance-nodes\n");
  }

  TEST_CASE("--plan-out, then --plan: stale moves are skipped and reported, the rest run")
  {
    DemoCopy d("rn-saved-plan");
    auto file = d.dir / "plan.json";
    RebalanceNodesOptions o;
    o.plan.by = "count";
    o.write.dry_run = true;
    o.plan.plan_out = file.string();
    auto planned = rebalance_nodes(d.ctx, o);
    REQUIRE(fs::exists(file));
    const Move gone = planned.plan.moves[0];
    const Move changed = planned.plan.moves[1];
    fs::remove_all(fs::path(gone.from.volume) / gone.chunk);
    test::write_file(fs::path(changed.from.volume) / changed.chunk / "new.col", "new");

    RebalanceNodesOptions run;
    run.plan.plan_in = file.string();
    run.write.allow_degraded = true; // the removed replica left its chunk short
    auto r = rebalance_nodes(d.ctx, run);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == planned.plan.moves.size() - 2);
    int stale = 0;
    for (const auto& n : r.notes) {
      if (n.reason.find("stale") != std::string::npos) {
        ++stale;
        CHECK((n.chunk == gone.chunk || n.chunk == changed.chunk));
      }
    }
    CHECK(stale == 2);
  }

  TEST_CASE("an unreachable node makes a writing run refuse unless excluded")
  {
    DemoCopy d("rn-unreachable");
    d.edit_yaml([](std::string& y) {
      auto at = y.find("databases:");
      y.insert(at, "  - name: P4-dn1\n    host: 127.0.0.1\n    port: 1\n    volumes: [/data]\n");
    });
    RebalanceNodesOptions o;
    o.write.dry_run = true;
    CHECK_THROWS_WITH_AS(rebalance_nodes(d.ctx, o), doctest::Contains("P4-dn1"), Error);
    o.write.exclude_nodes = {"P4-dn1"};
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(!r.plan.moves.empty());
    for (const auto& m : r.plan.moves) {
      CHECK(m.to.node != "P4-dn1");
    }
  }
}
