// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/status.hpp"

#include <doctest/doctest.h>

using namespace clsync::core;
using clsync::transport::ReplicaScan;
using clsync::transport::VolumeScan;

namespace {

/// Nodes a (two volumes), b, c; databases d1 [date] and d2 [date]; replication 2.
Topology status_topo()
{
  Topology t;
  t.file = "t.yaml";
  t.cluster = "c";
  t.replication = 2;
  for (const char* name : {"a", "b", "c"}) {
    NodeSpec n;
    n.name = name;
    n.host = "local";
    n.volumes.push_back(std::string("/") + name + "0");
    if (n.name == "a") {
      n.volumes.push_back("/a1");
    }
    t.nodes.push_back(n);
  }
  t.databases.push_back({"d1", {"date"}, std::nullopt});
  t.databases.push_back({"d2", {"date"}, std::nullopt});
  return t;
}

void put(std::vector<NodeScanResult>& s,
         std::size_t node,
         const std::string& volume,
         const std::string& key,
         std::uint64_t bytes)
{
  ReplicaScan r;
  r.volume = volume;
  r.key = key;
  r.bytes = bytes;
  r.files = 1;
  r.layout_hash = "L";
  s[node].scan.replicas.push_back(r);
}

std::vector<NodeScanResult> scans(const Topology& t)
{
  std::vector<NodeScanResult> s(t.nodes.size());
  for (std::size_t i = 0; i < t.nodes.size(); ++i) {
    for (const auto& v : t.nodes[i].volumes) {
      VolumeScan vs;
      vs.path = v;
      s[i].scan.volumes.push_back(vs);
    }
  }
  return s;
}

} // namespace

TEST_SUITE("core::status")
{
  TEST_CASE("balance with equal shares: targets, deviations and spread")
  {
    Topology t = status_topo();
    auto s = scans(t);
    // a: 4 replicas 400 bytes; b: 2 replicas 200 bytes; c: 0.
    for (int i = 0; i < 4; ++i) {
      std::string key = "d1/" + std::to_string(i) + "/T";
      put(s, 0, i % 2 ? "/a1" : "/a0", key, 100);
      if (i < 2) {
        put(s, 1, "/b0", key, 100);
      }
    }
    Inventory inv = build_inventory(t, s, {});
    Balance b = compute_balance(t, inv);
    CHECK(b.shares == "equal");
    REQUIRE(b.nodes.size() == 3);
    CHECK(b.nodes[0].share == doctest::Approx(1.0 / 3));
    CHECK(b.nodes[0].chunks == 4);
    CHECK(b.nodes[0].target_chunks == doctest::Approx(2.0));
    CHECK(b.nodes[0].chunks_deviation_pct == doctest::Approx(100.0));
    CHECK(b.nodes[1].chunks_deviation_pct == doctest::Approx(0.0));
    CHECK(b.nodes[2].bytes_deviation_pct == doctest::Approx(-100.0));
    CHECK(b.chunks.min == 0);
    CHECK(b.chunks.max == 4);
    CHECK(b.chunks.mean == doctest::Approx(2.0));
    CHECK(b.chunks.max_deviation_pct == doctest::Approx(100.0));
    CHECK(b.bytes.max == 400);
    CHECK(b.bytes.mean == doctest::Approx(200.0));
  }

  TEST_CASE("balance with weights; unreachable nodes are left out")
  {
    Topology t = status_topo();
    t.nodes[0].weight = 3.0;
    auto s = scans(t);
    put(s, 0, "/a0", "d1/1/T", 300);
    put(s, 1, "/b0", "d1/1/T", 300);
    s[2].reachable = false;
    s[2].error = "down";
    Inventory inv = build_inventory(t, s, {});
    Balance b = compute_balance(t, inv);
    CHECK(b.shares == "weights");
    REQUIRE(b.nodes.size() == 2);
    CHECK(b.nodes[0].share == doctest::Approx(0.75));  // 3 / (3 + 1: b has no weight)
    CHECK(b.nodes[1].share == doctest::Approx(0.25));
    CHECK(b.nodes[0].target_bytes == doctest::Approx(450.0));
    CHECK(b.nodes[1].bytes_deviation_pct == doctest::Approx(100.0));
  }

  TEST_CASE("group by db, table and volume")
  {
    Topology t = status_topo();
    auto s = scans(t);
    put(s, 0, "/a0", "d1/1/T", 10);
    put(s, 1, "/b0", "d1/1/T", 10);
    put(s, 0, "/a1", "d1/2/U", 20);
    put(s, 2, "/c0", "d1/2/U", 20);
    put(s, 0, "/a1", "d2/1/T", 5);
    put(s, 0, "/a0", "d2/1/T", 5);  // a duplicate on node a: not counted
    put(s, 1, "/b0", "d2/1/T", 5);
    Inventory inv = build_inventory(t, s, {});

    auto by_db = group_chunks(inv, "db");
    REQUIRE(by_db.size() == 2);
    CHECK(by_db[0].name == "d1");
    CHECK(by_db[0].chunks == 2);
    CHECK(by_db[0].replicas == 4);
    CHECK(by_db[0].bytes == 60);
    CHECK(by_db[0].per_node.at("a").replicas == 2);
    CHECK(by_db[0].per_node.at("c").bytes == 20);
    CHECK(by_db[1].name == "d2");
    CHECK(by_db[1].chunks == 1);
    CHECK(by_db[1].replicas == 2);
    CHECK(by_db[1].per_node.at("a").replicas == 1);
    CHECK(by_db[1].per_node.at("c").replicas == 0);  // every node listed

    auto by_table = group_chunks(inv, "table");
    REQUIRE(by_table.size() == 3);
    CHECK(by_table[0].name == "d1/T");
    CHECK(by_table[0].table == "T");
    CHECK(by_table[1].name == "d1/U");
    CHECK(by_table[1].bytes == 40);

    auto by_volume = group_chunks(inv, "volume");
    REQUIRE(by_volume.size() == 4);  // every configured volume, in topology order
    CHECK(by_volume[0].name == "a:/a0");
    CHECK(by_volume[0].replicas == 2);  // d1/1/T and d2/1/T (primary on the first volume)
    CHECK(by_volume[1].name == "a:/a1");
    CHECK(by_volume[1].replicas == 1);  // d1/2/U; the d2 copy here is the duplicate
    CHECK(by_volume[3].name == "c:/c0");
    CHECK(by_volume[3].bytes == 20);

    CHECK_THROWS_AS(group_chunks(inv, "node"), clsync::UsageError);
  }
}
