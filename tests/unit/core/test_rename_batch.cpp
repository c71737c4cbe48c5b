// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/rename_batch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace clsync::core;

namespace {

/// Node n1 with volumes /a and /b on device 7 and /c on device 9; node n2 with /a and /b on 7.
Inventory rename_batch_inventory()
{
  Inventory inv;
  NodeState n1;
  n1.name = "n1";
  for (auto [path, dev] : {std::pair{"/a", 7}, {"/b", 7}, {"/c", 9}}) {
    VolumeState v;
    v.path = path;
    v.device = static_cast<std::uint64_t>(dev);
    n1.volumes.push_back(v);
  }
  NodeState n2;
  n2.name = "n2";
  for (auto path : {"/a", "/b"}) {
    VolumeState v;
    v.path = path;
    v.device = 7;
    n2.volumes.push_back(v);
  }
  inv.nodes = {n1, n2};
  return inv;
}

Move rename_batch_move(const std::string& chunk,
                       const std::string& from_node,
                       const std::string& from_volume,
                       const std::string& to_node,
                       const std::string& to_volume)
{
  Move m;
  m.kind = MoveKind::move;
  m.chunk = chunk;
  m.from = {from_node, from_volume};
  m.to = {to_node, to_volume};
  return m;
}

} // namespace

TEST_SUITE("core::rename_batch")
{
  TEST_CASE("moves between two volumes of one device of one node are batched, in plan order")
  {
    Plan plan;
    plan.moves = {
        rename_batch_move("k1", "n1", "/a", "n1", "/b"),
        rename_batch_move("k2", "n1", "/a", "n1", "/c"),  // another device: a copy
        rename_batch_move("k3", "n1", "/a", "n2", "/a"),  // another node
        rename_batch_move("k4", "n1", "/a", "n1", "/b"),
        rename_batch_move("k5", "n1", "/b", "n1", "/a"),  // the other direction: its own batch
        rename_batch_move("k6", "n1", "/a", "n1", "/b"),
        rename_batch_move("k6", "n1", "/b", "n1", "/a"),  // a chunk moved twice: never batched
        rename_batch_move("k7", "n1", "/b", "n1", "/a"),
        rename_batch_move("k8", "n1", "/a", "n1", "/b"),  // renamed on two nodes: both batched
        rename_batch_move("k8", "n2", "/a", "n2", "/b"),
        rename_batch_move("k2", "n2", "/a", "n2", "/b"),  // k2 is copied elsewhere: not batched
    };
    const auto units = rename_batch_units(plan, rename_batch_inventory());
    const std::vector<std::vector<std::size_t>> want{{0, 3, 8}, {1}, {2}, {4, 7}, {5}, {6}, {9},
                                                     {10}};
    CHECK(units == want);
  }

  TEST_CASE("copies are never batched")
  {
    Plan plan;
    plan.moves = {rename_batch_move("k1", "n1", "/a", "n1", "/b"),
                  rename_batch_move("k2", "n1", "/a", "n1", "/b")};
    plan.moves[0].kind = MoveKind::copy;
    const auto units = rename_batch_units(plan, rename_batch_inventory());
    const std::vector<std::vector<std::size_t>> want{{0}, {1}};
    CHECK(units == want);
  }

  TEST_CASE("a batch's intent names every chunk and task, names as bytes")
  {
    const Move a = rename_batch_move("Level1/20200601/0/Snapshot", "n1", "/a", "n1", "/b");
    const Move b = rename_batch_move(std::string("Level1/2020\xff/0/T"), "n1", "/a", "n1", "/b");
    const auto j = nlohmann::json::parse(
        rename_batch_intent("run1", "run1-0001-batch", {&a, &b}, {"run1-0001", "run1-0002"}));
    CHECK(j["kind"] == "rename_batch");
    CHECK(j["task"] == "run1-0001-batch");
    REQUIRE(j["chunks"].size() == 2);
    CHECK(j["chunks"][0]["chunk"] == a.chunk);
    CHECK(j["chunks"][1].contains("chunk_b64"));
    CHECK(j["tasks"][1] == "run1-0002");
    CHECK(j["source"]["volume"] == "/a");
    CHECK(j["destination"]["volume"] == "/b");
  }
}
