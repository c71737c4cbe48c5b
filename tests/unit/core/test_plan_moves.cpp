// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/plan/replica_planner.hpp"
#include "tests/support/scratch.hpp"
#include "tests/unit/core/planner_fixture.hpp"

#include <doctest/doctest.h>

#include <cstdio>

using namespace clsync;
using clsync::test::InventoryBuilder;

namespace {

std::string key(int i)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "db/%05d/t", i);
  return buf;
}

core::PlanParams by_count()
{
  core::PlanParams p;
  p.by = core::BalanceBy::count;
  return p;
}

/// The seed's scale-up: a node whose chunks all sit on v1, with an empty v2 of equal capacity
/// on the same filesystem (as in `clsync demo`, so every move is a rename).
InventoryBuilder scale_up(int chunks)
{
  InventoryBuilder b;
  b.node("P1-dn1",
         {{"/p1/v1", 1'000'000'000, 500'000'000, 9}, {"/p1/v2", 1'000'000'000, 500'000'000, 9}})
      .node("P2-dn1");
  for (int i = 0; i < chunks; ++i) {
    b.chunk(key(i), 64 * 1024, {{"P1-dn1", "/p1/v1"}, {"P2-dn1", ""}});
  }
  return b;
}

std::string error_of(const std::function<void()>& f, ExitCode* code = nullptr)
{
  try {
    f();
  } catch (const Error& e) {
    if (code != nullptr) {
      *code = e.code();
    }
    return e.what();
  }
  return {};
}

} // namespace

TEST_SUITE("core::replica_planner")
{
  TEST_CASE("disks: 200 chunks on v1 and an empty v2 end at 100/100, within the node")
  {
    auto b = scale_up(200);
    const auto inv = b.build();
    for (const auto& params : {core::PlanParams{}, by_count()}) {
      const auto plan = core::plan_disk_rebalance(inv, b.topo, "P1-dn1", params);
      CHECK(plan.command == "rebalance-disks");
      CHECK(plan.moves.size() == 100);
      for (const auto& m : plan.moves) {
        CHECK(m.from == core::Place{"P1-dn1", "/p1/v1"});
        CHECK(m.to == core::Place{"P1-dn1", "/p1/v2"});
      }
      CHECK(plan.before.at("P1-dn1:/p1/v1").chunks == 200);
      CHECK(plan.after.at("P1-dn1:/p1/v1").chunks == 100);
      CHECK(plan.after.at("P1-dn1:/p1/v2").chunks == 100);
      // DolphinDB ended at 108/96 and 111/93.
      const auto end = test::replay(inv, plan);
      CHECK(test::count_by_node(end).at("P1-dn1") == 200);
      // Same filesystem: nothing needs room.
      CHECK(core::check_capacity(plan, inv, 0.05).empty());
    }
  }

  TEST_CASE("disks: the seed's 204 chunks end at 102/102; capacity weighs the volumes")
  {
    auto b = scale_up(204);
    auto inv = b.build();
    auto plan = core::plan_disk_rebalance(inv, b.topo, "P1-dn1", by_count());
    CHECK(plan.after.at("P1-dn1:/p1/v1").chunks == 102);
    CHECK(plan.after.at("P1-dn1:/p1/v2").chunks == 102);

    // v2 on its own filesystem three times as large: 51/153.
    inv.nodes[0].volumes[1].filesystem_id = 10;
    inv.nodes[0].volumes[1].capacity_bytes = 3'000'000'000;
    plan = core::plan_disk_rebalance(inv, b.topo, "P1-dn1", by_count());
    CHECK(plan.after.at("P1-dn1:/p1/v1").chunks == 51);
    CHECK(plan.after.at("P1-dn1:/p1/v2").chunks == 153);

    CHECK_THROWS_AS(core::plan_disk_rebalance(inv, b.topo, "nope", by_count()), UsageError);
    inv.nodes[0].reachable = false;
    ExitCode code{};
    CHECK(error_of([&] { core::plan_disk_rebalance(inv, b.topo, "P1-dn1", by_count()); }, &code)
              .find("P1-dn1 is unreachable") != std::string::npos);
    CHECK(code == ExitCode::failed);
  }

  TEST_CASE("drain: every replica leaves the node for the least-loaded legal node")
  {
    InventoryBuilder b;
    b.node("P1").node("P2").node("P3").node("P4");
    for (int i = 0; i < 40; ++i) {
      // P3 holds 40; P1 and P2 20 each; P4 10 more (chunks 40..49 on P1 and P4).
      b.chunk(key(i), 100, {{i % 2 == 0 ? "P1" : "P2", ""}, {"P3", ""}});
    }
    for (int i = 40; i < 50; ++i) {
      b.chunk(key(i), 100, {{"P1", ""}, {"P4", ""}});
    }
    const auto inv = b.build();
    const auto plan = core::plan_drain_node(inv, b.topo, "P3", std::nullopt, by_count());
    CHECK(plan.moves.size() == 40);
    CHECK(plan.notes.empty());
    const auto end = test::replay(inv, plan);
    CHECK(test::anti_affine(end));
    const auto counts = test::count_by_node(end);
    CHECK(counts.count("P3") == 0);
    // 40 replicas, least-loaded first: P4 (10) fills up to the others, then they share.
    CHECK(counts.at("P1") + counts.at("P2") + counts.at("P4") == 100);
    CHECK(std::abs(counts.at("P1") - counts.at("P4")) <= 1);
    CHECK(std::abs(counts.at("P2") - counts.at("P4")) <= 1);
    for (const auto& [k, places] : end) {
      CHECK(places.size() == 2);
    }
  }

  TEST_CASE("drain: a named destination, and chunks without a legal destination")
  {
    InventoryBuilder b;
    b.node("P1").node("P2").node("P3");
    b.chunk(key(0), 100, {{"P1", ""}, {"P3", ""}});
    b.chunk(key(1), 100, {{"P2", ""}, {"P3", ""}});
    const auto inv = b.build();
    auto plan = core::plan_drain_node(inv, b.topo, "P3", std::string("P2"), by_count());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].chunk == key(0));
    CHECK(plan.moves[0].to.node == "P2");
    REQUIRE(plan.notes.size() == 1);
    CHECK(plan.notes[0].chunk == key(1));
    CHECK(plan.notes[0].reason.find("P2 already holds a copy") != std::string::npos);

    // With P2 excluded, key(0) can only go to P2: no legal destination.
    auto p = by_count();
    p.exclude_nodes = {"P2"};
    plan = core::plan_drain_node(inv, b.topo, "P3", std::nullopt, p);
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].chunk == key(1));
    CHECK(plan.moves[0].to.node == "P1");
    REQUIRE(plan.notes.size() == 1);
    CHECK(plan.notes[0].chunk == key(0));

    CHECK_THROWS_AS(core::plan_drain_node(inv, b.topo, "P3", std::string("P3"), by_count()),
                    UsageError);
    CHECK_THROWS_AS(core::plan_drain_node(inv, b.topo, "P9", std::nullopt, by_count()), UsageError);
    CHECK_THROWS_AS(core::plan_drain_node(inv, b.topo, "P3", std::string("P2"), p), UsageError);
  }

  TEST_CASE("drain: refused before anything moves when replication cannot be kept")
  {
    InventoryBuilder b;
    b.node("P1").node("P2");
    b.chunk(key(0), 100, {{"P1", ""}, {"P2", ""}});
    const auto inv = b.build();
    ExitCode code{};
    const auto msg = error_of(
        [&] { core::plan_drain_node(inv, b.topo, "P2", std::nullopt, by_count()); }, &code);
    CHECK(code == ExitCode::failed);
    CHECK(msg.find("P2") != std::string::npos);
    CHECK(msg.find("replication 2") != std::string::npos);

    // Zones: P1 and P2 in z1, P3 alone in z2; draining P3 would leave one zone for two
    // replicas. Draining P2 is fine.
    InventoryBuilder z;
    z.node("P1", {}, "z1").node("P2", {}, "z1").node("P3", {}, "z2");
    z.chunk(key(0), 100, {{"P1", ""}, {"P3", ""}});
    z.chunk(key(1), 100, {{"P2", ""}, {"P3", ""}});
    const auto zinv = z.build();
    const auto zmsg =
        error_of([&] { core::plan_drain_node(zinv, z.topo, "P3", std::nullopt, by_count()); });
    CHECK(zmsg.find("cannot drain P3") == 0);
    CHECK(zmsg.find("zones") != std::string::npos);
    const auto ok = core::plan_drain_node(zinv, z.topo, "P2", std::nullopt, by_count());
    REQUIRE(ok.moves.size() == 1);
    CHECK(ok.moves[0].to.node == "P1");
  }

  TEST_CASE("drain_volume: chunks go to the node's other volumes, most free first")
  {
    InventoryBuilder b(1);
    b.node("N", {{"/n/v1", 10'000, 5'000}, {"/n/v2", 10'000, 1'000}, {"/n/v3", 10'000, 1'200}});
    for (int i = 0; i < 4; ++i) {
      b.chunk(key(i), 300, {{"N", "/n/v1"}});
    }
    // key(4) has a duplicate copy on v2 as well.
    b.chunk(key(4), 300, {{"N", "/n/v1"}, {"N", "/n/v2"}});
    const auto inv = b.build();
    const auto plan = core::plan_drain_volume(inv, b.topo, "N", "/n/v1", std::nullopt, by_count());
    REQUIRE(plan.moves.size() == 5);
    // Free: v3 1200, v2 1000 → v3 (900 left) → v2 (700) → v3 (600) → v2 (400);
    // key(4) avoids its copy on v2 and goes to v3.
    CHECK(plan.moves[0].to.volume == "/n/v3");
    CHECK(plan.moves[1].to.volume == "/n/v2");
    CHECK(plan.moves[2].to.volume == "/n/v3");
    CHECK(plan.moves[3].to.volume == "/n/v2");
    CHECK(plan.moves[4].chunk == key(4));
    CHECK(plan.moves[4].to.volume == "/n/v3");
    CHECK(plan.after.at("N:/n/v1").chunks == 0);

    const auto to_v2 =
        core::plan_drain_volume(inv, b.topo, "N", "/n/v1", std::string("/n/v2"), by_count());
    CHECK(to_v2.moves.size() == 4);
    REQUIRE(to_v2.notes.size() == 1);
    CHECK(to_v2.notes[0].chunk == key(4));
    CHECK(to_v2.notes[0].reason.find("duplicate") != std::string::npos);

    CHECK_THROWS_AS(core::plan_drain_volume(inv, b.topo, "N", "/n/v9", std::nullopt, {}),
                    UsageError);
    CHECK_THROWS_AS(core::plan_drain_volume(inv, b.topo, "N", "/n/v1", std::string("/n/v1"), {}),
                    UsageError);
  }

  TEST_CASE("move_chunks: chosen chunks to another node or volume")
  {
    InventoryBuilder b;
    b.node("P1", {{"/p1/v1"}, {"/p1/v2"}}).node("P2").node("P3");
    for (int i = 0; i < 6; ++i) {
      b.chunk(key(i), 100, {{"P1", "/p1/v1"}, {"P2", ""}});
    }
    const auto inv = b.build();
    const core::ChunkPredicate even = [](const core::Chunk& c) {
      return (c.key[7] - '0') % 2 == 0;
    };
    auto plan = core::plan_move_chunks(inv, b.topo, "P1", {"P3", ""}, even, by_count());
    REQUIRE(plan.moves.size() == 3);
    for (const auto& m : plan.moves) {
      CHECK(m.to.node == "P3");
      CHECK((m.chunk == key(0) || m.chunk == key(2) || m.chunk == key(4)));
    }
    plan = core::plan_move_chunks(inv, b.topo, "P1", {"", "/p1/v2"}, even, by_count());
    REQUIRE(plan.moves.size() == 3);
    CHECK(plan.moves[0].to == core::Place{"P1", "/p1/v2"});
    // To P2, which holds them all: notes, no moves.
    plan = core::plan_move_chunks(inv, b.topo, "P1", {"P2", ""}, even, by_count());
    CHECK(plan.moves.empty());
    CHECK(plan.notes.size() == 3);
  }

  TEST_CASE("repair: under-replicated chunks get copies on the least-loaded legal node")
  {
    InventoryBuilder b;
    b.node("P1").node("P2").node("P3");
    for (int i = 0; i < 10; ++i) {
      b.chunk(key(i), 100, {{"P1", ""}, {"P2", ""}});
    }
    b.chunk(key(10), 100, {{"P1", ""}}); // lost its second replica
    b.chunk(key(11), 100, {{"P2", ""}});
    auto& div = b.chunk(key(12), 100, {{"P1", ""}});
    div.health = core::ChunkHealth::divergent;
    b.chunk(key(13), 100, {{"P1", ""}, {"P2", ""}, {"P3", ""}}); // over-replicated
    // Under-replicated and divergent: health names the first, issues both; never copied.
    auto& both = b.chunk(key(14), 100, {{"P2", ""}});
    both.health = core::ChunkHealth::under_replicated;
    both.issues = {core::ChunkHealth::under_replicated, core::ChunkHealth::divergent};
    const auto inv = b.build();
    const auto plan = core::plan_repair(inv, b.topo, by_count(), false);
    REQUIRE(plan.moves.size() == 2);
    CHECK(plan.moves[0].kind == core::MoveKind::copy);
    CHECK(plan.moves[0].chunk == key(10));
    CHECK(plan.moves[0].from.node == "P1");
    CHECK(plan.moves[0].to.node == "P3");
    CHECK(plan.moves[1].chunk == key(11));
    CHECK(plan.moves[1].to.node == "P3");
    CHECK_FALSE(plan.moves[0].delete_source());
    int divergent = 0;
    bool over = false;
    for (const auto& n : plan.notes) {
      divergent += (n.chunk == key(12) || n.chunk == key(14)) &&
                   n.reason == "divergent: resolve by hand or restore";
      over = over || (n.chunk == key(13) && n.reason.find("over-replicated") == 0);
    }
    CHECK(divergent == 2);
    CHECK(over);
    const auto end = test::replay(inv, plan);
    CHECK(end.at(key(10)).size() == 2);
    CHECK(end.at(key(11)).size() == 2);
    CHECK(plan.after.at("P3").chunks == 3);
  }

  TEST_CASE("repair: replication 3 from one replica, zones preferred")
  {
    InventoryBuilder b(3);
    b.node("A", {}, "z1").node("B", {}, "z1").node("C", {}, "z2").node("D", {}, "z3");
    // B, C, D are loaded so that B is the least loaded; zones still win: C and D.
    for (int i = 0; i < 5; ++i) {
      b.chunk(key(i), 100, {{"A", ""}, {"C", ""}, {"D", ""}});
    }
    b.chunk(key(9), 100, {{"A", ""}});
    const auto inv = b.build();
    const auto plan = core::plan_repair(inv, b.topo, by_count(), false);
    REQUIRE(plan.moves.size() == 2);
    CHECK(plan.moves[0].to.node != "B");
    CHECK(plan.moves[1].to.node != "B");
    CHECK(plan.moves[0].to.node != plan.moves[1].to.node);
  }

  TEST_CASE("repair --fix-duplicates drops a duplicate only when its hash is known and equal")
  {
    InventoryBuilder b;
    b.node("P1", {{"/p1/v1"}, {"/p1/v2"}}).node("P2");
    b.chunk(key(0), 100, {{"P1", "/p1/v1"}, {"P1", "/p1/v2"}, {"P2", ""}});
    b.chunk(key(1), 100, {{"P1", "/p1/v1"}, {"P1", "/p1/v2"}, {"P2", ""}});
    b.chunk(key(2), 100, {{"P1", "/p1/v1"}, {"P1", "/p1/v2"}, {"P2", ""}});
    for (auto& r : b.inv.chunks[0].replicas) {
      r.content_hash = "aaaa";
    }
    b.inv.chunks[1].replicas[0].content_hash = "aaaa";
    b.inv.chunks[1].replicas[1].content_hash = "bbbb";
    const auto inv = b.build();
    CHECK(inv.chunks[0].health == core::ChunkHealth::duplicate_on_node);

    auto plan = core::plan_repair(inv, b.topo, by_count(), true);
    REQUIRE(plan.moves.size() == 1);
    const auto& m = plan.moves[0];
    CHECK(m.kind == core::MoveKind::drop_duplicate);
    CHECK(m.chunk == key(0));
    CHECK(m.from == core::Place{"P1", "/p1/v2"});
    CHECK(m.to == core::Place{"P1", "/p1/v1"});
    CHECK(m.delete_source());
    int differ = 0, unknown = 0;
    for (const auto& n : plan.notes) {
      differ += n.chunk == key(1) && n.reason.find("differs") != std::string::npos;
      unknown += n.chunk == key(2) && n.reason.find("unknown") != std::string::npos;
    }
    CHECK(differ == 1);
    CHECK(unknown == 1);
    CHECK(test::replay(inv, plan).at(key(0)).size() == 2);

    plan = core::plan_repair(inv, b.topo, by_count(), false);
    CHECK(plan.moves.empty());
    CHECK(plan.notes.size() == 3);
  }

  TEST_CASE("check_capacity refuses a destination without room for the bytes plus headroom")
  {
    InventoryBuilder b(1);
    b.node("A", {{"/a/v1", 1'000'000, 900'000}})
        .node("B", {{"/b/v1", 1'000'000, 100'000, 5}, {"/b/v2", 1'000'000, 100'000, 5}})
        .node("C", {{"/c/v1", 1'000'000, 900'000}});
    for (int i = 0; i < 20; ++i) {
      b.chunk(key(i), 10'000, {{"A", ""}});
    }
    const auto inv = b.build();
    core::Plan plan;
    for (int i = 0; i < 6; ++i) {
      core::Move m;
      m.chunk = key(i);
      m.from = {"A", "/a/v1"};
      m.to = {i < 3 ? "B" : "C", i % 2 == 0 ? "/b/v1" : "/b/v2"};
      if (i >= 3) {
        m.to.volume = "/c/v1";
      }
      m.bytes = 20'000;
      plan.moves.push_back(m);
    }
    // B receives 60,000 over two volumes of one filesystem: 60,000 + 5% of 1,000,000 = 110,000
    // needed, 100,000 free. C: 60,000 + 50,000 of 900,000 is fine.
    auto v = core::check_capacity(plan, inv, 0.05);
    REQUIRE(v.size() == 1);
    CHECK(v[0] == core::CapacityViolation{"B", "/b/v1", 110'000, 100'000});
    CHECK(core::check_capacity(plan, inv, 0.0).empty());
    // A move within one filesystem needs no room; to an unknown volume, 0 is free.
    core::Plan local;
    local.moves.push_back(
        {core::MoveKind::move, key(0), {"B", "/b/v1"}, {"B", "/b/v2"}, 1'000'000, ""});
    CHECK(core::check_capacity(local, inv, 0.05).empty());
    local.moves[0].to.volume = "/b/v9";
    v = core::check_capacity(local, inv, 0.05);
    REQUIRE(v.size() == 1);
    CHECK(v[0].free == 0);
  }

  TEST_CASE("check_capacity counts a sparse source's allocated bytes, not its apparent size")
  {
    InventoryBuilder b(1);
    b.node("A", {{"/a/v1", 10'000'000, 9'000'000}}).node("B", {{"/b/v1", 10'000'000, 300'000}});
    b.chunk(key(0), 2'000'000, {{"A", ""}}).replicas[0].allocated_bytes = 20'000;
    b.chunk(key(1), 2'000'000, {{"A", ""}});  // allocated bytes unknown: apparent size counts
    const auto inv = b.build();
    core::Plan plan;
    plan.moves.push_back({core::MoveKind::copy, key(0), {"A", "/a/v1"}, {"B", "/b/v1"},
                          2'000'000, ""});
    // 20,000 allocated, not the 2,000,000 apparent: fits in 300,000 free with 0 headroom.
    CHECK(core::check_capacity(plan, inv, 0.0).empty());
    plan.moves[0].chunk = key(1);
    auto v = core::check_capacity(plan, inv, 0.0);
    REQUIRE(v.size() == 1);
    CHECK(v[0].needed == 2'000'000);
  }

  TEST_CASE("plan files: JSON round trip and validation")
  {
    InventoryBuilder b;
    b.node("P1", {{"/p1/v1"}, {"/p1/v2"}}).node("P2").node("P3");
    for (int i = 0; i < 20; ++i) {
      b.chunk(key(i), 100 + static_cast<std::uint64_t>(i), {{"P1", "/p1/v1"}, {"P2", ""}});
    }
    b.chunk(key(30), 100, {{"P1", ""}});
    const auto inv = b.build();
    auto params = by_count();
    params.now = std::chrono::system_clock::time_point(std::chrono::seconds(1714557600));
    auto plan = core::plan_node_rebalance(inv, b.topo, params);
    const auto repair = core::plan_repair(inv, b.topo, params, false);
    plan.moves.insert(plan.moves.end(), repair.moves.begin(), repair.moves.end());
    REQUIRE(plan.moves.size() > 5);
    CHECK(plan.created == "2024-05-01T10:00:00Z");

    const auto doc = core::plan_to_json(plan);
    CHECK(doc["format"] == "clsync-plan");
    CHECK(doc["version"] == 1);
    CHECK(doc["moves"][0]["fingerprint"].get<std::string>().find("fp-") == 0);
    const auto back = core::plan_from_json(doc, "mem");
    CHECK(core::plan_to_json(back) == doc);
    CHECK(back.moves.back().kind == core::MoveKind::copy);
    CHECK(back.moves[0].from == plan.moves[0].from);
    CHECK(back.before.at("P1").chunks == plan.before.at("P1").chunks);

    const auto dir = test::scratch_dir("plan-files");
    core::save_plan(plan, dir / "plan.json");
    CHECK(core::plan_to_json(core::load_plan(dir / "plan.json")) == doc);

    const auto bad = [&](const std::function<void(nlohmann::json&)>& edit) {
      auto d = doc;
      edit(d);
      return error_of([&] { core::plan_from_json(d, "f.json"); });
    };
    CHECK(bad([](auto& d) { d["format"] = "other"; }).find("f.json: not a valid clsync plan") == 0);
    CHECK(bad([](auto& d) { d["version"] = 2; }).find("version 2") != std::string::npos);
    CHECK(bad([](auto& d) { d.erase("moves"); }).find("missing \"moves\"") != std::string::npos);
    CHECK(bad([](auto& d) { d["moves"][1]["kind"] = "teleport"; }).find("moves[1].kind") !=
          std::string::npos);
    CHECK(bad([](auto& d) { d["moves"][0]["bytes"] = -1; }).find("moves[0].bytes") !=
          std::string::npos);
    CHECK(bad([](auto& d) { d["moves"][0]["to"].erase("node"); }).find("moves[0].to") !=
          std::string::npos);
    CHECK(bad([](auto& d) { d["moves"][0]["to"] = d["moves"][0]["from"]; }).find("same place") !=
          std::string::npos);

    test::write_file(dir / "broken.json", "{\"format\": ");
    CHECK_THROWS_AS(core::load_plan(dir / "broken.json"), UsageError);
    CHECK_THROWS_AS(core::load_plan(dir / "missing.json"), UsageError);
    ExitCode code{};
    error_of([&] { core::save_plan(plan, dir / "no-such-dir" / "p.json"); }, &code);
    CHECK(code == ExitCode::failed);
  }
}
