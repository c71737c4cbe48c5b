// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The replica planner over real inventories: `clsync demo` clusters on local volumes, scanned
// by the real nodes. Planning only; nothing here moves a chunk.
#include "core/demo.hpp"
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/cluster/inventory.hpp"
#include "core/cluster/node_set.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;

namespace {

struct Demo {
  Topology topo;
  Inventory inv;
};

/// The directory of a demo built once per run and per skew (building one writes thousands of
/// files; planning reads them and changes nothing, so the cases share it).
fs::path demo_dir(double skew)
{
  static std::map<double, fs::path> built;
  if (const auto it = built.find(skew); it != built.end()) {
    return it->second;
  }
  DemoOptions opts;
  opts.dir = test::scratch_dir(skew == 0.0 ? "plan-demo" : "plan-demo-skew").string();
  opts.chunk_size = 4096;
  opts.skew = skew;
  build_demo(opts);
  return built[skew] = opts.dir;
}

/// Loads cluster-a of a demo, after `edit` may rewrite its topology into another file, and
/// takes its inventory with the real nodes.
Demo demo(double skew = 0.0,
          const std::function<std::string(std::string, const fs::path&)>& edit = {})
{
  const fs::path dir = demo_dir(skew);
  fs::path file = dir / "cluster-a.yaml";
  if (edit) {
    const fs::path edited = dir / "cluster-a-edited.yaml";
    test::write_file(edited, edit(test::read_file(file), dir));
    file = edited;
  }
  Demo d;
  d.topo = load_topology(file);
  NodeSet nodes(d.topo);
  NullEvents events;
  d.inv = take_inventory(d.topo, nodes, {}, events);
  return d;
}

PlanParams by_count()
{
  PlanParams p;
  p.by = BalanceBy::count;
  return p;
}

} // namespace

TEST_SUITE("planner")
{
  TEST_CASE("the demo's rebalance-nodes plan ends at 134/133/133, all onto P3-dn1")
  {
    const auto d = demo();
    REQUIRE(d.inv.chunks.size() == 200);
    for (const auto& params : {by_count(), PlanParams{}}) {
      const auto plan = plan_node_rebalance(d.inv, d.topo, params);
      CHECK(plan.moves.size() == 133);
      CHECK(plan.after.at("P1-dn1").chunks == 134);
      CHECK(plan.after.at("P2-dn1").chunks == 133);
      CHECK(plan.after.at("P3-dn1").chunks == 133);
      std::set<std::string> moved;
      for (const auto& m : plan.moves) {
        CHECK(m.to.node == "P3-dn1");
        CHECK(m.fingerprint.size() == 64);
        moved.insert(m.chunk);
      }
      CHECK(moved.size() == 133);  // never both replicas of one chunk
      CHECK(check_capacity(plan, d.inv, 0.05).empty());
      CHECK(plan.notes.empty());
    }
  }

  TEST_CASE("the demo with skewed sizes: by bytes every node ends within one average chunk")
  {
    const auto d = demo(0.5);
    const auto plan = plan_node_rebalance(d.inv, d.topo, {});
    double total = 0;
    for (const auto& [n, l] : plan.before) {
      total += static_cast<double>(l.bytes);
    }
    const double share = total / 3, avg = total / 400;
    for (const auto& n_l : plan.after) {
      const auto& n = n_l.first; // named, not bound: doctest's lambdas
      const auto& l = n_l.second; // capture them (clang 14)
      CHECK_MESSAGE(std::abs(static_cast<double>(l.bytes) - share) < avg, n);
    }
    for (const auto& m : plan.moves) {
      CHECK(m.to.node == "P3-dn1");
    }
  }

  TEST_CASE("a second volume on P1-dn1 and P2-dn1: rebalance-disks plans 100/100 each")
  {
    const auto d = demo(0.0, [](std::string yaml, const fs::path& dir) {
      for (const char* node : {"P1-dn1", "P2-dn1"}) {
        const std::string one = (dir / "a" / node / "ssd0/chunkData").string();
        const std::string two = (dir / "a" / node / "ssd1/chunkData").string();
        fs::create_directories(two);  // a new, empty disk
        const auto at = yaml.find("\"" + one + "\"");
        REQUIRE(at != std::string::npos);
        yaml.insert(at + one.size() + 2, ", \"" + two + "\"");
      }
      return yaml;
    });
    for (const char* node : {"P1-dn1", "P2-dn1"}) {
      const auto plan = plan_disk_rebalance(d.inv, d.topo, node, by_count());
      const std::string v1 = std::string(node) + ":" + d.topo.find_node(node)->volumes[0];
      const std::string v2 = std::string(node) + ":" + d.topo.find_node(node)->volumes[1];
      CHECK(plan.moves.size() == 100);
      CHECK(plan.after.at(v1).chunks == 100);
      CHECK(plan.after.at(v2).chunks == 100);
      // Both volumes sit on one filesystem: every move is a rename and needs no room.
      CHECK(check_capacity(plan, d.inv, 0.05).empty());
    }
  }

  TEST_CASE("draining P1-dn1 sends everything to P3-dn1; draining down to one node is refused")
  {
    const auto d = demo();
    const auto plan = plan_drain_node(d.inv, d.topo, "P1-dn1", std::nullopt, by_count());
    CHECK(plan.moves.size() == 200);
    CHECK(plan.notes.empty());
    CHECK(plan.after.at("P1-dn1").chunks == 0);
    CHECK(plan.after.at("P3-dn1").chunks == 200);

    // With P3-dn1 out of the topology, P1-dn1 cannot be drained with replication 2.
    Topology two = d.topo;
    two.nodes.pop_back();
    Inventory inv = d.inv;
    inv.nodes.pop_back();
    CHECK_THROWS_WITH_AS(plan_drain_node(inv, two, "P1-dn1", std::nullopt, by_count()),
                         doctest::Contains("replication 2"), clsync::Error);
  }
}
