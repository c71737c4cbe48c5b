// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/plan/replica_planner.hpp"
#include "tests/unit/core/planner_fixture.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

using namespace clsync;
using clsync::test::InventoryBuilder;

namespace {

std::string pkey(int i)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "db/%05d/t", i);
  return buf;
}

/// The seed's scale-out: `per_node` chunks with replicas on P1-dn1 and P2-dn1, P3-dn1 empty.
InventoryBuilder scale_out(int chunks, std::uint64_t bytes = 64 * 1024)
{
  InventoryBuilder b;
  b.node("P1-dn1").node("P2-dn1").node("P3-dn1");
  for (int i = 0; i < chunks; ++i) {
    b.chunk(pkey(i), bytes, {{"P1-dn1", ""}, {"P2-dn1", ""}});
  }
  return b;
}

core::PlanParams planner_by_count()
{
  core::PlanParams p;
  p.by = core::BalanceBy::count;
  return p;
}

/// Largest |load − share| over nodes, shares equal.
double worst_deviation(const std::vector<int>& loads)
{
  double total = 0;
  for (int l : loads) {
    total += l;
  }
  const double share = total / static_cast<double>(loads.size());
  double worst = 0;
  for (int l : loads) {
    worst = std::max(worst, std::abs(l - share));
  }
  return worst;
}

} // namespace

TEST_SUITE("core::replica_planner")
{
  TEST_CASE("the demo's scale-out by count ends at 134/133/133, every move to P3-dn1")
  {
    auto b = scale_out(200);
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    CHECK(plan.moves.size() == 133);
    for (const auto& m : plan.moves) {
      CHECK(m.to.node == "P3-dn1");
      CHECK(m.to.volume == "/P3-dn1/v1");
      CHECK(m.kind == core::MoveKind::move);
    }
    CHECK(plan.before.at("P1-dn1").chunks == 200);
    CHECK(plan.after.at("P1-dn1").chunks == 134);
    CHECK(plan.after.at("P2-dn1").chunks == 133);
    CHECK(plan.after.at("P3-dn1").chunks == 133);
    const auto end = test::replay(inv, plan);
    CHECK(test::anti_affine(end));
    const auto counts = test::count_by_node(end);
    CHECK(counts.at("P1-dn1") == 134);
    CHECK(counts.at("P3-dn1") == 133);
    for (const auto& [k, places] : end) {
      CHECK(places.size() == 2);
    }
    // DolphinDB ended at 196/98/114 after moving 114 replicas (the seed): further from balance.
    CHECK(worst_deviation({134, 133, 133}) < worst_deviation({196, 98, 114}));
    CHECK(plan.notes.empty());
  }

  TEST_CASE("the seed's 204 + 204 scale-out ends at 136/136/136")
  {
    auto b = scale_out(204);
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    CHECK(plan.moves.size() == 136);
    CHECK(plan.after.at("P1-dn1").chunks == 136);
    CHECK(plan.after.at("P2-dn1").chunks == 136);
    CHECK(plan.after.at("P3-dn1").chunks == 136);
  }

  TEST_CASE("by bytes with equal sizes ends as by count")
  {
    auto b = scale_out(200);
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, core::PlanParams{});
    CHECK(plan.by == "bytes");
    CHECK(plan.moves.size() == 133);
    CHECK(plan.after.at("P1-dn1").chunks == 134);
    CHECK(plan.after.at("P2-dn1").chunks == 133);
    CHECK(plan.after.at("P3-dn1").chunks == 133);
    CHECK(plan.after.at("P3-dn1").bytes == 133ull * 64 * 1024);
    CHECK(plan.bytes() == 133ull * 64 * 1024);
  }

  TEST_CASE("a balanced cluster needs no moves")
  {
    InventoryBuilder b;
    b.node("A").node("B").node("C");
    for (int i = 0; i < 30; ++i) {
      const char* n[] = {"A", "B", "C"};
      b.chunk(pkey(i), 100, {{n[i % 3], ""}, {n[(i + 1) % 3], ""}});
    }
    const auto inv = b.build();
    CHECK(core::plan_node_rebalance(inv, b.topo, planner_by_count()).moves.empty());
    CHECK(core::plan_node_rebalance(inv, b.topo, {}).moves.empty());
  }

  TEST_CASE("the threshold is strict: |load - share| < threshold")
  {
    // Replication 1, 10 chunks: shares 5/5.
    const auto make = [](int on_a) {
      InventoryBuilder b(1);
      b.node("A").node("B");
      for (int i = 0; i < 10; ++i) {
        b.chunk(pkey(i), 100, {{i < on_a ? "A" : "B", ""}});
      }
      return b;
    };
    auto b = make(6);
    const auto inv = b.build();
    auto p = planner_by_count();
    p.threshold = 1.0;  // |6 - 5| = 1 is not < 1: one move
    auto plan = core::plan_node_rebalance(inv, b.topo, p);
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].from.node == "A");
    CHECK(plan.after.at("A").chunks == 5);
    p.threshold = 1.5;  // 1 < 1.5: nothing to do
    CHECK(core::plan_node_rebalance(inv, b.topo, p).moves.empty());

    auto b7 = make(7);
    const auto inv7 = b7.build();
    p.threshold = 2.0;  // 7/3: |2| is not < 2, one move reaches 6/4 and no more is made
    plan = core::plan_node_rebalance(inv7, b7.topo, p);
    CHECK(plan.moves.size() == 1);
    CHECK(plan.after.at("A").chunks == 6);

    p.threshold = 0.0;
    CHECK_THROWS_AS(core::plan_node_rebalance(inv, b.topo, p), UsageError);
    p.threshold = -1.0;
    CHECK_THROWS_AS(core::plan_node_rebalance(inv, b.topo, p), UsageError);
  }

  TEST_CASE("weights set the shares")
  {
    InventoryBuilder b(1);
    b.node("A", {}, {}, 1.0).node("B", {}, {}, 3.0);
    for (int i = 0; i < 100; ++i) {
      b.chunk(pkey(i), 100, {{"A", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    CHECK(plan.moves.size() == 75);
    CHECK(plan.after.at("A").chunks == 25);
    CHECK(plan.after.at("B").chunks == 75);
  }

  TEST_CASE("without weights, volume capacity sets the shares, each filesystem once")
  {
    InventoryBuilder b(1);
    b.node("A", {{"/a/v1", 100'000}}).node("B", {{"/b/v1", 300'000}});
    for (int i = 0; i < 100; ++i) {
      b.chunk(pkey(i), 100, {{"A", ""}});
    }
    auto inv = b.build();
    auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    CHECK(plan.after.at("A").chunks == 25);
    CHECK(plan.after.at("B").chunks == 75);

    // B's two volumes share one filesystem of 100,000 bytes: B counts 100,000, not 200,000.
    InventoryBuilder s(1);
    s.node("A", {{"/a/v1", 100'000}})
        .node("B", {{"/b/v1", 100'000, 50'000, 7}, {"/b/v2", 100'000, 50'000, 7}});
    for (int i = 0; i < 100; ++i) {
      s.chunk(pkey(i), 100, {{"A", ""}});
    }
    inv = s.build();
    plan = core::plan_node_rebalance(inv, s.topo, planner_by_count());
    CHECK(plan.after.at("A").chunks == 50);
    CHECK(plan.after.at("B").chunks == 50);
  }

  TEST_CASE("destination volume: the most free after the moves already planned")
  {
    InventoryBuilder b(1);
    // Equal capacities (2,000,000 each) make the shares 2/2.
    b.node("A", {{"/a/v1", 2'000'000}})
        .node("B", {{"/b/v1", 1'000'000, 1000}, {"/b/v2", 1'000'000, 1250}});
    for (int i = 0; i < 4; ++i) {
      b.chunk(pkey(i), 100, {{"A", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    REQUIRE(plan.moves.size() == 2);
    // v2 has 250 more free: it takes the first move (1150 left), then v2 still leads (1150 >
    // 1000), so both land on v2; a third would go to v1.
    CHECK(plan.moves[0].to.volume == "/b/v2");
    CHECK(plan.moves[1].to.volume == "/b/v2");

    InventoryBuilder c(1);
    c.node("A", {{"/a/v1", 2'000'000}})
        .node("B", {{"/b/v1", 1'000'000, 1000}, {"/b/v2", 1'000'000, 1050}});
    for (int i = 0; i < 4; ++i) {
      c.chunk(pkey(i), 100, {{"A", ""}});
    }
    const auto inv2 = c.build();
    const auto plan2 = core::plan_node_rebalance(inv2, c.topo, planner_by_count());
    REQUIRE(plan2.moves.size() == 2);
    CHECK(plan2.moves[0].to.volume == "/b/v2");
    CHECK(plan2.moves[1].to.volume == "/b/v1");
  }

  TEST_CASE("zones: 3 zones, replication 2, no chunk ends with both replicas in one zone")
  {
    // A and D share zone z1; B is z2, C is z3. D is new and empty.
    const auto make = [](bool zoned) {
      InventoryBuilder b;
      b.node("A", {}, zoned ? "z1" : "")
          .node("B", {}, zoned ? "z2" : "")
          .node("C", {}, zoned ? "z3" : "")
          .node("D", {}, zoned ? "z1" : "");
      const char* pairs[][2] = {{"A", "B"}, {"A", "C"}, {"B", "C"}};
      for (int i = 0; i < 90; ++i) {
        b.chunk(pkey(i), 100, {{pairs[i % 3][0], ""}, {pairs[i % 3][1], ""}});
      }
      return b;
    };
    const auto zone_of = [](const std::string& n) {
      return n == "B" ? "z2" : n == "C" ? "z3" : "z1";
    };
    const auto zones_broken = [&](const test::Layout& layout) {
      int broken = 0;
      for (const auto& [k, places] : layout) {
        broken += zone_of(places[0].node) == std::string(zone_of(places[1].node)) ? 1 : 0;
      }
      return broken;
    };
    auto zoned = make(true);
    const auto inv = zoned.build();
    const auto plan = core::plan_node_rebalance(inv, zoned.topo, planner_by_count());
    CHECK(plan.moves.size() >= 40);
    const auto end = test::replay(inv, plan);
    CHECK(test::anti_affine(end));
    CHECK(zones_broken(end) == 0);
    for (const auto& m : plan.moves) {
      CHECK(m.to.node == "D");
    }
    CHECK(plan.after.at("D").chunks == 45);  // 180 replicas over 4 nodes

    // The same layout without zones: the planner then does put both replicas in z1, so the
    // check above is what the zone rule bought.
    auto flat = make(false);
    const auto inv_flat = flat.build();
    const auto plan_flat = core::plan_node_rebalance(inv_flat, flat.topo, planner_by_count());
    CHECK(zones_broken(test::replay(inv_flat, plan_flat)) > 0);
  }

  TEST_CASE("excluded and unreachable nodes are neither source nor destination")
  {
    InventoryBuilder b(1);
    b.node("A").node("B").node("C").node("D");
    for (int i = 0; i < 60; ++i) {
      b.chunk(pkey(i), 100, {{i < 40 ? "A" : i < 50 ? "B" : "C", ""}});
    }
    auto inv = b.build();
    auto p = planner_by_count();
    p.exclude_nodes = {"C"};
    inv.nodes[3].reachable = false;
    inv.nodes[3].error = "connection refused";
    const auto plan = core::plan_node_rebalance(inv, b.topo, p);
    CHECK_FALSE(plan.moves.empty());
    for (const auto& m : plan.moves) {
      CHECK(m.from.node == "A");
      CHECK(m.to.node == "B");
    }
    // A and B share their 50 replicas: 25/25; C keeps its 10.
    CHECK(plan.after.at("A").chunks == 25);
    CHECK(plan.after.at("B").chunks == 25);
    CHECK(plan.after.at("C").chunks == 10);
    int left_out = 0;
    for (const auto& n : plan.notes) {
      left_out += n.chunk.empty() && (n.reason.find("C: excluded") == 0 ||
                                      n.reason.find("D: unreachable") == 0);
    }
    CHECK(left_out == 2);
    p.exclude_nodes = {"nope"};
    CHECK_THROWS_AS(core::plan_node_rebalance(inv, b.topo, p), UsageError);
  }

  TEST_CASE("min_age leaves young chunks in place, with a note")
  {
    auto b = scale_out(20);
    const auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 1000));
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            now.time_since_epoch())
                            .count();
    for (int i = 0; i < 20; ++i) {
      for (auto& r : b.inv.chunks[static_cast<std::size_t>(i)].replicas) {
        // Even chunks were written an hour ago, odd ones 10 days ago.
        r.newest_mtime_ns = now_ns - (i % 2 == 0 ? 3600ll : 864000ll) * 1'000'000'000;
      }
    }
    const auto inv = b.build();
    auto p = planner_by_count();
    p.now = now;
    p.min_age = std::chrono::hours(24);
    const auto plan = core::plan_node_rebalance(inv, b.topo, p);
    CHECK(plan.moves.size() == 10);  // only the 10 old chunks may move; P3 gets them all
    for (const auto& m : plan.moves) {
      const int i = std::stoi(m.chunk.substr(3, 5));
      CHECK(i % 2 == 1);
    }
    int young = 0;
    for (const auto& n : plan.notes) {
      young += n.reason.find("--min-age") != std::string::npos;
    }
    CHECK(young == 10);
    CHECK(plan.created == "1972-09-27T00:00:00Z");
  }

  TEST_CASE("unhealthy chunks and chunks with special files stay, with notes")
  {
    auto b = scale_out(10);
    b.inv.chunks[0].health = core::ChunkHealth::divergent;
    b.inv.chunks[1].replicas[0].has_special = true;
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    for (const auto& m : plan.moves) {
      CHECK(m.chunk != pkey(0));
      CHECK(m.chunk != pkey(1));
    }
    REQUIRE(plan.notes.size() >= 2);
    CHECK(plan.notes[0].chunk == pkey(0));
    CHECK(plan.notes[0].reason.find("divergent") == 0);
    CHECK(plan.notes[1].chunk == pkey(1));
  }

  TEST_CASE("byte mode: a hand-checked skewed case uses the fewest moves")
  {
    // Replication 1. A holds 40+20+20+10+10 = 100, B and C nothing. Shares 33.3 each, threshold
    // one average chunk = 20. B and C must each receive something: 2 moves at least. The greedy
    // sends 40 to B (A 60) then 20 to C (A 40): 40/40/20, all within 20 of 33.3.
    InventoryBuilder b(1);
    b.node("A").node("B").node("C");
    const std::uint64_t sizes[] = {10, 20, 40, 20, 10};
    for (int i = 0; i < 5; ++i) {
      b.chunk(pkey(i), sizes[i], {{"A", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, {});
    REQUIRE(plan.moves.size() == 2);
    CHECK(plan.moves[0].chunk == pkey(2));
    CHECK(plan.moves[0].to.node == "B");
    CHECK(plan.moves[1].chunk == pkey(1));  // the first 20 by pkey
    CHECK(plan.moves[1].to.node == "C");
    CHECK(plan.after.at("A").bytes == 40);
    CHECK(plan.after.at("B").bytes == 40);
    CHECK(plan.after.at("C").bytes == 20);
  }

  TEST_CASE("byte mode: overshooting by less than the threshold saves moves")
  {
    // A: 45 + 10 + 10 + 10 + 5 = 80 bytes, B empty; shares 40/40, threshold 80 / 5 = 16.
    // Moving 45 overshoots by 5 (< 16) and balances in one move; never overshooting would
    // take three (10, 10, 10).
    InventoryBuilder b(1);
    b.node("A").node("B");
    const std::uint64_t sizes[] = {10, 45, 10, 5, 10};
    for (int i = 0; i < 5; ++i) {
      b.chunk(pkey(i), sizes[i], {{"A", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, {});
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].chunk == pkey(1));
    CHECK(plan.after.at("A").bytes == 35);
    CHECK(plan.after.at("B").bytes == 45);
  }

  TEST_CASE("byte mode: when no split fits the threshold the plan says so")
  {
    // 50 + 5 × 2 over two nodes: the best split is 50/10, 20 from shares of 30; threshold 10.
    InventoryBuilder b(1);
    b.node("A").node("B");
    b.chunk(pkey(0), 50, {{"A", ""}});
    for (int i = 1; i <= 5; ++i) {
      b.chunk(pkey(i), 2, {{"A", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, {});
    CHECK(plan.after.at("A").bytes == 50);
    CHECK(plan.after.at("B").bytes == 10);
    int node_notes = 0;
    for (const auto& n : plan.notes) {
      node_notes += n.chunk.empty() && n.reason.find("no legal move left") != std::string::npos;
    }
    CHECK(node_notes == 2);
  }

  TEST_CASE("byte mode: skewed sizes over many nodes end within the threshold")
  {
    InventoryBuilder b;
    const int nodes = 12;
    for (int n = 0; n < nodes; ++n) {
      b.node("N" + std::to_string(n));
    }
    std::uint64_t state = 12345;
    const auto next = [&state]() {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return state >> 33;
    };
    for (int i = 0; i < 2000; ++i) {
      // Sizes from 1 KiB to ~1 MiB, skewed; only the first 8 nodes hold data.
      const std::uint64_t size = 1024 + (next() % 1024) * (next() % 1024);
      const int a = static_cast<int>(next() % 8);
      const int c = (a + 1 + static_cast<int>(next() % 7)) % 8;
      b.chunk(pkey(i), size, {{"N" + std::to_string(a), ""}, {"N" + std::to_string(c), ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, {});
    double total = 0;
    for (const auto& [n, l] : plan.before) {
      total += static_cast<double>(l.bytes);
    }
    const double share = total / nodes;
    const double thr = total / 4000.0;
    for (const auto& n_l : plan.after) {
      const auto& n = n_l.first; // named, not bound: doctest's lambdas
      const auto& l = n_l.second; // capture them (clang 14)
      CHECK_MESSAGE(std::abs(static_cast<double>(l.bytes) - share) < thr, n);
    }
    // Every move goes from a node above its share to one below, at the time it is made.
    std::map<std::string, double> load;
    for (const auto& [n, l] : plan.before) {
      load[n] = static_cast<double>(l.bytes);
    }
    for (const auto& m : plan.moves) {
      CHECK(load[m.from.node] > share);
      CHECK(load[m.to.node] < share);
      load[m.from.node] -= static_cast<double>(m.bytes);
      load[m.to.node] += static_cast<double>(m.bytes);
    }
    const auto end = test::replay(inv, plan);
    CHECK(test::anti_affine(end));
    bool notes_about_nodes = false;
    for (const auto& n : plan.notes) {
      notes_about_nodes = notes_about_nodes || n.chunk.empty();
    }
    CHECK_FALSE(notes_about_nodes);
  }

  TEST_CASE("the same input gives the same plan")
  {
    InventoryBuilder b;
    for (int n = 0; n < 6; ++n) {
      b.node("N" + std::to_string(n));
    }
    for (int i = 0; i < 500; ++i) {
      b.chunk(pkey(i), 1000 + static_cast<std::uint64_t>((i * 7919) % 5000),
              {{"N" + std::to_string(i % 3), ""}, {"N" + std::to_string(3 + i % 2), ""}});
    }
    const auto inv = b.build();
    const auto a = core::plan_to_json(core::plan_node_rebalance(inv, b.topo, {})).dump();
    const auto c = core::plan_to_json(core::plan_node_rebalance(inv, b.topo, {})).dump();
    CHECK(a == c);
    CHECK(a.find("\"moves\":[]") == std::string::npos);
  }

  TEST_CASE("plan_matrix counts moves and bytes from node to node")
  {
    auto b = scale_out(200);
    const auto inv = b.build();
    const auto plan = core::plan_node_rebalance(inv, b.topo, planner_by_count());
    const auto mx = core::plan_matrix(plan, &b.topo);
    REQUIRE(mx.labels == std::vector<std::string>{"P1-dn1", "P2-dn1", "P3-dn1"});
    CHECK(mx.cells[0][2].moves == 66);
    CHECK(mx.cells[1][2].moves == 67);
    CHECK(mx.cells[1][2].bytes == 67ull * 64 * 1024);
    CHECK(mx.cells[2][0].moves == 0);
  }
}
