// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/plan_check.hpp"
#include "core/plan/replica_planner.hpp"
#include "tests/unit/core/planner_fixture.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <random>

using namespace clsync;
using clsync::test::InventoryBuilder;

namespace {

std::string zkey(int i)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "db/%05d/t", i);
  return buf;
}

core::PlanParams zones_by_count()
{
  core::PlanParams p;
  p.by = core::BalanceBy::count;
  return p;
}

std::string zone_of(const core::Topology& topo, const std::string& node)
{
  const auto* spec = topo.find_node(node);
  return spec != nullptr && !spec->zone.empty() ? spec->zone : "\n" + node;
}

int zones_spanned(const core::Topology& topo, const std::vector<core::Place>& places)
{
  std::set<std::string> zones;
  for (const auto& p : places) {
    zones.insert(zone_of(topo, p.node));
  }
  return static_cast<int>(zones.size());
}

/// Replays `plan` move by move and checks no move lowers the zones its chunk spans (the HDFS
/// balancer's rule). Returns the end layout.
test::Layout
replay_keeping_zones(const core::Inventory& inv, const core::Topology& topo, const core::Plan& plan)
{
  test::Layout layout = test::layout_of(inv);
  for (const auto& m : plan.moves) {
    const int before = zones_spanned(topo, layout.at(m.chunk));
    core::Plan one;
    one.moves = {m};
    // Replay one move on the current layout through the fixture's checks.
    core::Inventory step = inv;
    for (auto& c : step.chunks) {
      c.replicas.clear();
      for (const auto& p : layout.at(c.key)) {
        core::Replica r;
        r.node = p.node;
        r.volume = p.volume;
        c.replicas.push_back(r);
      }
    }
    layout = test::replay(step, one);
    CHECK_MESSAGE(zones_spanned(topo, layout.at(m.chunk)) >= before,
                  std::string(m.chunk + ": " + m.from.node + " -> " + m.to.node));
  }
  return layout;
}

/// The issue's scenario: P1 and P2 in r1, P3 in r2 (empty), `chunks` chunks on P1 and P2.
InventoryBuilder issue_cluster(int chunks)
{
  InventoryBuilder b;
  b.node("P1-dn1", {}, "r1").node("P2-dn1", {}, "r1").node("P3-dn1", {}, "r2");
  for (int i = 0; i < chunks; ++i) {
    b.chunk(zkey(i), 100, {{"P1-dn1", ""}, {"P2-dn1", ""}});
  }
  return b;
}

} // namespace

TEST_SUITE("core::plan_zones")
{
  TEST_CASE("repair moves one replica of each zone-unsafe chunk to another zone")
  {
    auto b = issue_cluster(30);
    const auto inv = b.build();
    CHECK(inv.chunks[0].health == core::ChunkHealth::zone_unsafe);
    const auto plan = core::plan_repair(inv, b.topo, zones_by_count(), false);
    REQUIRE(plan.moves.size() == 30);
    std::map<std::string, int> from;
    for (const auto& m : plan.moves) {
      CHECK(m.kind == core::MoveKind::move); // a move, not a copy: the count stays 2
      CHECK(m.to.node == "P3-dn1");
      ++from[m.from.node];
    }
    CHECK(from["P1-dn1"] == 15); // the sources take turns (most loaded first)
    CHECK(from["P2-dn1"] == 15);
    const auto end = replay_keeping_zones(inv, b.topo, plan);
    CHECK(test::anti_affine(end));
    for (const auto& [k, places] : end) {
      CHECK(places.size() == 2);
      CHECK(zones_spanned(b.topo, places) == 2);
    }
    CHECK(plan.after.at("P3-dn1").chunks == 30);
  }

  TEST_CASE("repair notes a zone-unsafe chunk no other zone can take")
  {
    InventoryBuilder b;
    b.node("P1", {}, "r1").node("P2", {}, "r1").node("P3", {}, "r2");
    b.chunk(zkey(0), 100, {{"P1", ""}, {"P2", ""}});
    b.inv.nodes[2].volumes[0].ok = false; // P3 reachable but not usable
    const auto inv = b.build();
    const auto plan = core::plan_repair(inv, b.topo, zones_by_count(), false);
    CHECK(plan.moves.empty());
    REQUIRE(!plan.notes.empty());
    CHECK(plan.notes.back().reason.find("zone-unsafe") == 0);
  }

  TEST_CASE("rebalance by count keeps a zone-safe cluster zone-safe and balances it")
  {
    // P1 (r1) and P2 (r2) hold 200 chunks; P3 (r1) and P4 (r2) are new. A move P1 -> P4 would
    // put both replicas in r2: illegal. The balanced end is 100 each.
    InventoryBuilder b;
    b.node("P1", {}, "r1").node("P2", {}, "r2").node("P3", {}, "r1").node("P4", {}, "r2");
    for (int i = 0; i < 200; ++i) {
      b.chunk(zkey(i), 100, {{"P1", ""}, {"P2", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, zones_by_count());
    const auto end = replay_keeping_zones(inv, b.topo, plan);
    for (const auto& [k, places] : end) {
      CHECK(zones_spanned(b.topo, places) == 2);
    }
    const auto counts = test::count_by_node(end);
    for (const char* n : {"P1", "P2", "P3", "P4"}) {
      CHECK(counts.at(n) == 100);
    }
  }

  TEST_CASE("rebalance moves a zone-unsafe chunk only to a zone it is not in")
  {
    auto b = issue_cluster(200);
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, zones_by_count());
    CHECK(!plan.moves.empty());
    for (const auto& m : plan.moves) {
      CHECK(m.to.node == "P3-dn1");
    }
    replay_keeping_zones(inv, b.topo, plan);
  }

  TEST_CASE("drain prefers a destination that adds a zone, and never removes one")
  {
    InventoryBuilder b;
    b.node("A", {}, "z1").node("B", {}, "z1").node("C", {}, "z2").node("D", {}, "z1");
    for (int i = 0; i < 10; ++i) {
      b.chunk(zkey(i), 100, {{"A", ""}, {"B", ""}});       // zone-unsafe: D or C may take
      b.chunk(zkey(100 + i), 100, {{"A", ""}, {"C", ""}}); // safe: only B or D (z1) keep 2
    }
    for (int i = 0; i < 30; ++i) {
      b.chunk(zkey(200 + i), 100, {{"C", ""}, {"D", ""}}); // C is the most loaded
    }
    const auto inv = b.build();
    const auto plan = core::plan_drain_node(inv, b.topo, "A", std::nullopt, zones_by_count());
    REQUIRE(plan.moves.size() == 20);
    for (const auto& m : plan.moves) {
      if (m.chunk < zkey(100)) {
        CHECK(m.to.node == "C"); // spreads, though C is the most loaded
      } else {
        CHECK(m.to.node != "C");
      }
    }
    replay_keeping_zones(inv, b.topo, plan);
  }

  TEST_CASE("random zoned clusters: no planner move reduces the zones a chunk spans")
  {
    std::mt19937 rng(8);
    for (int round = 0; round < 40; ++round) {
      const int nodes = 3 + static_cast<int>(rng() % 4);
      const int zones = 2 + static_cast<int>(rng() % 2);
      const int rep = 2 + static_cast<int>(rng() % 2);
      InventoryBuilder b(rep);
      std::vector<std::string> names;
      for (int n = 0; n < nodes; ++n) {
        names.push_back("N" + std::to_string(n));
        b.node(names.back(), {}, "z" + std::to_string(static_cast<int>(rng() % zones)));
      }
      for (int i = 0; i < 60; ++i) {
        std::vector<std::pair<std::string, std::string>> places;
        std::vector<std::string> pool = names;
        std::shuffle(pool.begin(), pool.end(), rng);
        // Skew: the first half of the nodes get more chunks.
        std::stable_sort(pool.begin(), pool.end(), [&](const std::string& x, const std::string& y) {
          return (x < names[static_cast<std::size_t>(nodes / 2)]) >
                 (y < names[static_cast<std::size_t>(nodes / 2)]);
        });
        for (int r = 0; r < rep && r < nodes; ++r) {
          places.emplace_back(pool[static_cast<std::size_t>(r)], "");
        }
        b.chunk(zkey(i), 100 + static_cast<std::uint64_t>(rng() % 900), places);
      }
      const auto inv = b.build();
      CAPTURE(round);
      const auto by_bytes = core::PlanParams{};
      replay_keeping_zones(inv, b.topo, core::plan_node_rebalance(inv, b.topo, zones_by_count()));
      replay_keeping_zones(inv, b.topo, core::plan_node_rebalance(inv, b.topo, by_bytes));
      try {
        replay_keeping_zones(inv, b.topo,
                             core::plan_drain_node(inv, b.topo, "N0", std::nullopt, zones_by_count()));
      } catch (const std::exception&) {
        // A drain the other zones cannot absorb is refused as a whole: nothing to replay.
      }
      const auto repair = core::plan_repair(inv, b.topo, zones_by_count(), false);
      const auto end = replay_keeping_zones(inv, b.topo, repair);
      // After repair, no chunk is zone-unsafe where zones allow.
      std::set<std::string> all_zones;
      for (const auto& n : names) {
        all_zones.insert(zone_of(b.topo, n));
      }
      for (const auto& k_places : end) {
        const auto& k = k_places.first; // named, not bound: doctest's lambdas
        const auto& places = k_places.second; // capture them (clang 14)
        const int want =
            std::min({static_cast<int>(places.size()), rep, static_cast<int>(all_zones.size())});
        CHECK_MESSAGE(zones_spanned(b.topo, places) >= want, k);
      }
    }
  }

  TEST_CASE("a saved plan's move that would reduce a chunk's zones is skipped as stale")
  {
    InventoryBuilder b;
    b.node("P1", {}, "r1").node("P2", {}, "r1").node("P3", {}, "r2");
    b.chunk(zkey(0), 100, {{"P1", ""}, {"P3", ""}});
    b.chunk(zkey(1), 100, {{"P1", ""}, {"P2", ""}});
    const auto inv = b.build();
    core::Plan plan;
    plan.cluster = b.topo.cluster;
    core::Move bad; // P3 -> P2 leaves zkey(0) only in r1
    bad.chunk = zkey(0);
    bad.from = {"P3", "/P3/v1"};
    bad.to = {"P2", "/P2/v1"};
    core::Move good; // P2 -> P3 spreads zkey(1)
    good.chunk = zkey(1);
    good.from = {"P2", "/P2/v1"};
    good.to = {"P3", "/P3/v1"};
    plan.moves = {bad, good};
    const auto notes = core::revalidate_plan(plan, inv, b.topo, {});
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].chunk == zkey(1));
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].reason.find("reduce the zones") != std::string::npos);
  }

  TEST_CASE("repair of replication 3 in one zone: two moves from two different sources")
  {
    InventoryBuilder b(3);
    b.node("A", {}, "r1").node("B", {}, "r1").node("C", {}, "r1").node("D", {}, "r2");
    b.node("E", {}, "r3");
    b.chunk(zkey(0), 100, {{"A", ""}, {"B", ""}, {"C", ""}});
    const auto inv = b.build();
    REQUIRE(inv.chunks[0].health == core::ChunkHealth::zone_unsafe);
    const auto plan = core::plan_repair(inv, b.topo, zones_by_count(), false);
    REQUIRE(plan.moves.size() == 2);
    CHECK(plan.moves[0].from.node != plan.moves[1].from.node);
    const auto end = replay_keeping_zones(inv, b.topo, plan);
    CHECK(end.at(zkey(0)).size() == 3);
    CHECK(zones_spanned(b.topo, end.at(zkey(0))) == 3);
  }
}
