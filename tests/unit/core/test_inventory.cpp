// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/inventory.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace clsync::core;
using clsync::transport::ReplicaScan;
using clsync::transport::VolumeScan;

namespace {

/// Three nodes (n1 with two volumes), replication 2, database db with levels [date, hash].
Topology make_topo()
{
  Topology t;
  t.file = "test.yaml";
  t.cluster = "c";
  t.replication = 2;
  for (const char* name : {"n1", "n2", "n3"}) {
    NodeSpec n;
    n.name = name;
    n.host = "local";
    n.volumes.push_back(std::string("/v/") + name + "/a");
    if (n.name == "n1") {
      n.volumes.push_back("/v/n1/b");
    }
    t.nodes.push_back(n);
  }
  t.databases.push_back({"db", {"date", "hash"}, std::nullopt});
  t.databases.push_back({"three", {"date"}, 3});
  return t;
}

ReplicaScan rep(const std::string& volume,
                const std::string& key,
                std::uint64_t bytes,
                const std::string& layout = "L",
                std::int64_t mtime = 1)
{
  ReplicaScan r;
  r.volume = volume;
  r.key = key;
  r.bytes = bytes;
  r.files = 2;
  r.newest_mtime_ns = mtime;
  r.fingerprint = "fp-" + volume + "-" + std::to_string(mtime);
  r.layout_hash = layout;
  return r;
}

/// Reachable scans with every volume ok, 1000 bytes capacity, 400 free, one filesystem each.
std::vector<NodeScanResult> empty_scans(const Topology& t)
{
  std::vector<NodeScanResult> s(t.nodes.size());
  std::uint64_t fs = 1;
  for (std::size_t i = 0; i < t.nodes.size(); ++i) {
    for (const auto& v : t.nodes[i].volumes) {
      VolumeScan vs;
      vs.path = v;
      vs.capacity_bytes = 1000;
      vs.free_bytes = 400;
      vs.filesystem_id = fs++;
      s[i].scan.volumes.push_back(vs);
    }
  }
  return s;
}

const Chunk& chunk(const Inventory& inv, const std::string& key)
{
  const Chunk* c = inv.chunk(key);
  REQUIRE_MESSAGE(c != nullptr, key);
  return *c;
}

} // namespace

TEST_SUITE("core::inventory")
{
  TEST_CASE("parse_chunk_key splits by the declared levels")
  {
    Topology t = make_topo();
    Chunk c;
    REQUIRE(parse_chunk_key(t, "db/20200601/3/Snapshot", c));
    CHECK(c.db == "db");
    CHECK(c.table == "Snapshot");
    const auto partition = c.partition();
    REQUIRE(partition.size() == 2);
    CHECK(std::make_pair(partition[0].first.str(), std::string(partition[0].second)) ==
          std::make_pair(std::string("date"), std::string("20200601")));
    CHECK(std::make_pair(partition[1].first.str(), std::string(partition[1].second)) ==
          std::make_pair(std::string("hash"), std::string("3")));
    CHECK(c.replication == 2);
    REQUIRE(parse_chunk_key(t, "three/20200601/T", c));
    CHECK(c.replication == 3);
    CHECK_FALSE(parse_chunk_key(t, "db/20200601/Snapshot", c));
    CHECK_FALSE(parse_chunk_key(t, "db/20200601/3/Snapshot/x", c));
    CHECK_FALSE(parse_chunk_key(t, "other/20200601/3/Snapshot", c));
    CHECK_FALSE(parse_chunk_key(t, "db//3/Snapshot", c));
    CHECK_FALSE(parse_chunk_key(t, "db/../3/Snapshot", c));
  }

  TEST_CASE("healthy chunks: counts and bytes per node and volume, replicas in node order")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 100));
    s[0].scan.replicas.push_back(rep("/v/n1/b", "db/1/0/T", 100));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/1/T", 50));
    s[2].scan.replicas.push_back(rep("/v/n3/a", "db/1/1/T", 50));
    Inventory inv = build_inventory(t, s, {});
    REQUIRE(inv.chunks.size() == 2);
    CHECK(inv.chunks[0].key == "db/1/0/T");
    CHECK(inv.chunks[1].key == "db/1/1/T");
    const Chunk& c = chunk(inv, "db/1/0/T");
    CHECK(c.health == ChunkHealth::healthy);
    CHECK(c.issues.empty());
    REQUIRE(c.replicas.size() == 2);
    CHECK(c.replicas[0].node == "n1");
    CHECK(c.replicas[1].node == "n2");
    CHECK(c.bytes == 100);
    CHECK(inv.health.chunks == 2);
    CHECK(inv.health.healthy == 2);
    CHECK(inv.node("n1")->chunks == 2);
    CHECK(inv.node("n1")->bytes == 150);
    CHECK(inv.node("n1")->volumes[0].path == "/v/n1/a");
    CHECK(inv.node("n1")->volumes[0].chunks == 1);
    CHECK(inv.node("n1")->volumes[0].bytes == 50);
    CHECK(inv.node("n1")->volumes[1].bytes == 100);
    CHECK(inv.node("n2")->bytes == 100);
    CHECK(inv.node("n3")->bytes == 50);
    CHECK(inv.all_reachable());
    CHECK(inv.problems.empty());
  }

  TEST_CASE("under-replicated and over-replicated")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10));
    for (std::size_t i = 0; i < 3; ++i) {
      s[i].scan.replicas.push_back(rep(t.nodes[i].volumes[0], "db/1/1/T", 10));
    }
    // Database "three" wants 3 replicas: two are under-replicated.
    s[0].scan.replicas.push_back(rep("/v/n1/a", "three/1/T", 10));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "three/1/T", 10));
    Inventory inv = build_inventory(t, s, {});
    CHECK(chunk(inv, "db/1/0/T").health == ChunkHealth::under_replicated);
    CHECK(chunk(inv, "db/1/1/T").health == ChunkHealth::over_replicated);
    CHECK(chunk(inv, "db/1/1/T").replica_count() == 3);
    CHECK(chunk(inv, "three/1/T").health == ChunkHealth::under_replicated);
    CHECK(inv.health.chunks == 3);
    CHECK(inv.health.under_replicated == 2);
    CHECK(inv.health.over_replicated == 1);
    CHECK(inv.health.healthy == 0);
  }

  TEST_CASE("a second copy on another volume of one node is a duplicate, not a replica")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    // Listed b first: the copy on the node's first volume (a) must still be the primary.
    s[0].scan.replicas.push_back(rep("/v/n1/b", "db/1/0/T", 10));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 10));
    Inventory inv = build_inventory(t, s, {});
    const Chunk& c = chunk(inv, "db/1/0/T");
    CHECK(c.health == ChunkHealth::duplicate_on_node);
    CHECK(c.replica_count() == 2);
    REQUIRE(c.replicas.size() == 3);
    CHECK(c.replicas[0].volume == "/v/n1/a");
    CHECK_FALSE(c.replicas[0].duplicate);
    CHECK(c.replicas[1].volume == "/v/n1/b");
    CHECK(c.replicas[1].duplicate);
    CHECK_FALSE(c.replicas[2].duplicate);
    CHECK(inv.node("n1")->chunks == 1);
    CHECK(inv.node("n1")->bytes == 10);
    CHECK(inv.node("n1")->volumes[1].chunks == 0);
    CHECK(inv.health.duplicate_on_node == 1);
  }

  TEST_CASE("a duplicate that leaves the chunk short is under-replicated first")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10));
    s[0].scan.replicas.push_back(rep("/v/n1/b", "db/1/0/T", 10));
    Inventory inv = build_inventory(t, s, {});
    const Chunk& c = chunk(inv, "db/1/0/T");
    CHECK(c.health == ChunkHealth::under_replicated);
    REQUIRE(c.issues.size() == 2);
    CHECK(c.issues[1] == ChunkHealth::duplicate_on_node);
  }

  TEST_CASE("divergent by layout; same layout with different mtimes is not divergent")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10, "L1", 100));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 11, "L2", 100));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/1/T", 10, "L1", 100));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/1/T", 10, "L1", 999));
    Inventory inv = build_inventory(t, s, {});
    const Chunk& d = chunk(inv, "db/1/0/T");
    CHECK(d.health == ChunkHealth::divergent);
    CHECK(d.bytes == 11);
    const Chunk& same = chunk(inv, "db/1/1/T");
    CHECK(same.replicas[0].fingerprint != same.replicas[1].fingerprint);
    CHECK(same.health == ChunkHealth::healthy);
    CHECK(inv.health.divergent == 1);
    CHECK(inv.health.healthy == 1);
  }

  TEST_CASE("divergent by content only under verify")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    auto a = rep("/v/n1/a", "db/1/0/T", 10);
    auto b = rep("/v/n2/a", "db/1/0/T", 10);
    a.content_hash = "C1";
    b.content_hash = "C2";
    s[0].scan.replicas.push_back(a);
    s[1].scan.replicas.push_back(b);
    CHECK(chunk(build_inventory(t, s, {}), "db/1/0/T").health == ChunkHealth::healthy);
    InventoryOptions verify;
    verify.verify = true;
    Inventory inv = build_inventory(t, s, verify);
    CHECK(chunk(inv, "db/1/0/T").health == ChunkHealth::divergent);
    CHECK(chunk(inv, "db/1/0/T").replicas[0].content_hash == "C1");
    s[1].scan.replicas[0].content_hash = "C1";
    CHECK(chunk(build_inventory(t, s, verify), "db/1/0/T").health == ChunkHealth::healthy);
  }

  TEST_CASE("capacity and free space count each filesystem once per node")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    CHECK(build_inventory(t, s, {}).node("n1")->capacity_bytes == 2000);
    s[0].scan.volumes[1].filesystem_id = s[0].scan.volumes[0].filesystem_id;
    Inventory inv = build_inventory(t, s, {});
    CHECK(inv.node("n1")->capacity_bytes == 1000);
    CHECK(inv.node("n1")->free_bytes == 400);
    CHECK(inv.node("n1")->volumes[1].capacity_bytes == 1000);
    // Another node on the same filesystem id still counts it: ids are per node.
    s[1].scan.volumes[0].filesystem_id = s[0].scan.volumes[0].filesystem_id;
    CHECK(build_inventory(t, s, {}).node("n2")->capacity_bytes == 1000);
  }

  TEST_CASE("an unreachable node is reported; its chunks look under-replicated")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 10));
    s[1].reachable = false;
    s[1].error = "node n2 (10.0.0.2): connection refused";
    s[2].reachable = false;
    s[2].excluded = true;
    Inventory inv = build_inventory(t, s, {});
    CHECK_FALSE(inv.all_reachable());
    const NodeState* n2 = inv.node("n2");
    CHECK_FALSE(n2->reachable);
    CHECK_FALSE(n2->excluded);
    CHECK(n2->error == "node n2 (10.0.0.2): connection refused");
    CHECK(n2->chunks == 0);
    REQUIRE(n2->volumes.size() == 1);
    CHECK(n2->volumes[0].path == "/v/n2/a");
    CHECK_FALSE(n2->volumes[0].ok);
    CHECK(inv.node("n3")->excluded);
    CHECK(inv.node("n3")->error == "excluded");
    CHECK(chunk(inv, "db/1/0/T").health == ChunkHealth::under_replicated);
    CHECK(inv.node("n1")->reachable);
  }

  TEST_CASE("problems, unmanaged, leftovers and special files carry node names")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[1].scan.volumes[0].ok = false;
    s[1].scan.volumes[0].error = "Permission denied";
    s[0].scan.problems.push_back("something odd");
    s[0].scan.unmanaged.push_back({"/v/n1/a", "junk/dir", 5, 1});
    s[2].scan.leftovers.push_back({"/v/n3/a", ".clsync-tmp-t1", "tmp", "t1", ""});
    auto r = rep("/v/n1/a", "db/1/0/T", 10);
    r.special.push_back("link");
    s[0].scan.replicas.push_back(r);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "nodb/1/0/T", 10));
    Inventory inv = build_inventory(t, s, {});
    REQUIRE(inv.unmanaged.size() == 1);
    CHECK(inv.unmanaged[0].first == "n1");
    CHECK(inv.unmanaged[0].second.path == "junk/dir");
    REQUIRE(inv.leftovers.size() == 1);
    CHECK(inv.leftovers[0].first == "n3");
    CHECK(inv.leftovers[0].second.task == "t1");
    CHECK(chunk(inv, "db/1/0/T").replicas[0].has_special);
    CHECK(chunk(inv, "db/1/0/T").has_special());
    CHECK(inv.chunk("nodb/1/0/T") == nullptr);
    auto has = [&](const std::string& node, const std::string& part) {
      for (const auto& [n, p] : inv.problems) {
        if (n == node && p.find(part) != std::string::npos) {
          return true;
        }
      }
      return false;
    };
    CHECK(has("n2", "Permission denied"));
    CHECK(has("n1", "something odd"));
    CHECK(has("n1", "special"));
    CHECK(has("n1", "nodb/1/0/T"));
    CHECK(inv.node("n2")->reachable);
    CHECK_FALSE(inv.node("n2")->volumes[0].ok);
  }

  TEST_CASE("recount after dropping chunks")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10));
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 10));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/1/T", 7));
    Inventory inv = build_inventory(t, s, {});
    CHECK(inv.node("n1")->bytes == 17);
    inv.chunks.erase(inv.chunks.begin());
    recount(inv);
    CHECK(inv.node("n1")->bytes == 7);
    CHECK(inv.node("n1")->volumes[0].chunks == 1);
    CHECK(inv.node("n2")->bytes == 0);
    CHECK(inv.health.chunks == 1);
    CHECK(inv.health.under_replicated == 1);
    CHECK(inv.node("n1")->capacity_bytes == 2000);
  }

  TEST_CASE("zone_unsafe: replicas sharing a zone while another zone could hold one")
  {
    // n1 and n2 in r1, n3 in r2 (the issue's scenario).
    Topology t = make_topo();
    t.nodes[0].zone = "r1";
    t.nodes[1].zone = "r1";
    t.nodes[2].zone = "r2";
    auto s = empty_scans(t);
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/0/T", 10)); // n1 + n2: both in r1
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/0/T", 10));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/1/T", 10)); // n1 + n3: spread
    s[2].scan.replicas.push_back(rep("/v/n3/a", "db/1/1/T", 10));
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/2/T", 10)); // one replica: under first
    for (std::size_t i = 0; i < 3; ++i) { // replication 3 over two zones: two zones suffice
      s[i].scan.replicas.push_back(rep(t.nodes[i].volumes[0], "three/1/T", 10));
    }
    s[0].scan.replicas.push_back(rep("/v/n1/a", "db/1/3/T", 10)); // divergent and in one zone
    s[1].scan.replicas.push_back(rep("/v/n2/a", "db/1/3/T", 10, "other"));
    Inventory inv = build_inventory(t, s, {});
    CHECK(chunk(inv, "db/1/0/T").health == ChunkHealth::zone_unsafe);
    CHECK(std::string(to_string(ChunkHealth::zone_unsafe)) == "zone_unsafe");
    CHECK(chunk(inv, "db/1/1/T").health == ChunkHealth::healthy);
    CHECK(chunk(inv, "db/1/2/T").health == ChunkHealth::under_replicated);
    CHECK(chunk(inv, "three/1/T").health == ChunkHealth::healthy);
    // Precedence: under_replicated > divergent > zone_unsafe > duplicate > over.
    CHECK(chunk(inv, "db/1/3/T").health == ChunkHealth::divergent);
    CHECK(chunk(inv, "db/1/3/T").issues ==
          std::vector<ChunkHealth>{ChunkHealth::divergent, ChunkHealth::zone_unsafe});
    CHECK(inv.health.zone_unsafe == 1);
    CHECK(inv.health.healthy == 2);

    // Where zones do not allow, nothing is zone-unsafe: without zones, or with r2 unreachable.
    Topology flat = make_topo();
    CHECK(build_inventory(flat, s, {}).health.zone_unsafe == 0);
    auto s2 = s;
    s2[2] = NodeScanResult{};
    s2[2].reachable = false;
    s2[2].error = "down";
    CHECK(build_inventory(t, s2, {}).health.zone_unsafe == 0);
  }

  TEST_CASE("ScanFolder: replicas in batches, in any order, give build_inventory's inventory")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    s[0].scan.replicas = {rep("/v/n1/a", "db/1/0/T", 100), rep("/v/n1/a", "stray", 1),
                          rep("/v/n1/a", "db/1/1/T", 50), rep("/v/n1/b", "also/stray", 1),
                          rep("/v/n1/b", "db/1/0/T", 100)};
    s[1].scan.replicas = {rep("/v/n2/a", "db/1/0/T", 100), rep("/v/n2/a", "db/1/2/T", 7)};
    s[2].scan.replicas = {rep("/v/n3/a", "db/1/1/T", 50)};
    const Inventory whole = build_inventory(t, s, {});

    ScanFolder f(t, {});
    for (std::size_t i : {2u, 0u, 1u}) {
      // One replica a batch, last first: the order a scan finds them in is not the listing's.
      auto replicas = std::move(s[i].scan.replicas);
      s[i].scan.replicas.clear();
      for (auto it = replicas.rbegin(); it != replicas.rend(); ++it) {
        std::vector<ReplicaScan> batch{*it};
        f.add_replicas(i, batch);
        CHECK(batch.empty());
      }
      f.add(i, NodeScanResult(s[i]));
    }
    const Inventory batched = f.finish();
    REQUIRE(batched.chunks.size() == whole.chunks.size());
    for (std::size_t c = 0; c < whole.chunks.size(); ++c) {
      CHECK(batched.chunks[c].key == whole.chunks[c].key);
      CHECK(batched.chunks[c].health == whole.chunks[c].health);
      REQUIRE(batched.chunks[c].replicas.size() == whole.chunks[c].replicas.size());
      for (std::size_t r = 0; r < whole.chunks[c].replicas.size(); ++r) {
        CHECK(batched.chunks[c].replicas[r].node == whole.chunks[c].replicas[r].node);
        CHECK(batched.chunks[c].replicas[r].volume == whole.chunks[c].replicas[r].volume);
        CHECK(batched.chunks[c].replicas[r].duplicate == whole.chunks[c].replicas[r].duplicate);
      }
    }
    // The strays' problems in the listing's order: volume by volume, then by key.
    REQUIRE(whole.problems.size() == 2);
    CHECK(batched.problems == whole.problems);
    CHECK(batched.health.chunks == whole.health.chunks);
    CHECK(batched.health.duplicate_on_node == whole.health.duplicate_on_node);
  }

  TEST_CASE("ScanFolder: a node that fails after some batches keeps none of their replicas")
  {
    Topology t = make_topo();
    auto s = empty_scans(t);
    ScanFolder f(t, {});
    std::vector<ReplicaScan> n1{rep("/v/n1/a", "db/1/0/T", 100)};
    std::vector<ReplicaScan> n3{rep("/v/n3/a", "db/1/0/T", 100), rep("/v/n3/a", "db/1/9/T", 5),
                                rep("/v/n3/a", "stray", 1)};
    f.add_replicas(0, n1);
    f.add(0, NodeScanResult(s[0]));
    f.add(1, NodeScanResult(s[1]));
    f.add_replicas(2, n3);
    NodeScanResult failed;
    failed.reachable = false;
    failed.error = "connection lost mid-scan";
    f.add(2, std::move(failed));
    const Inventory inv = f.finish();
    CHECK_FALSE(inv.nodes[2].reachable);
    // db/1/9/T was only on n3: no chunk without replicas is left behind.
    REQUIRE(inv.chunks.size() == 1);
    REQUIRE(inv.chunks[0].replicas.size() == 1);
    CHECK(inv.chunks[0].replicas[0].node == "n1");
    CHECK(inv.chunks[0].health == ChunkHealth::under_replicated);
    CHECK(inv.problems.empty());
    CHECK_THROWS_AS(f.add_replicas(2, n1), std::invalid_argument);
  }

  TEST_CASE("the inventory's records stay compact (issue 10: memory per replica)")
  {
    // A million replicas: every byte here is a megabyte. Before: HashText 40, Replica 200,
    // Chunk 144 (the issues a vector of 24 bytes); then Replica 176 (content_hash a HashText,
    // allocated_bytes a std::optional), Chunk 112 (the partition a vector of pairs).
    CHECK(sizeof(HashText) == 33);
    CHECK(sizeof(RareHash) == sizeof(void*));
    CHECK(sizeof(OptionalCount) == 8);
    CHECK(sizeof(LevelNames) == sizeof(void*));
    CHECK(sizeof(Replica) <= 136);
    CHECK(sizeof(Chunk) <= 96);
    CHECK(sizeof(HealthIssues) == 1);
  }
}
