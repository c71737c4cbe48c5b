// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/compact.hpp"
#include "core/cluster/inventory.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <optional>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace clsync::core;

namespace {

/// Three nodes of one volume each, replication 2; node i holds chunks i and i+1 (mod 4) and
/// node 2 also an undeclared key and a problem of its own.
Topology compact_topo()
{
  Topology t;
  t.file = "t.yaml";
  t.cluster = "c";
  t.replication = 2;
  for (const char* name : {"a", "b", "c"}) {
    NodeSpec n;
    n.name = name;
    n.host = "local";
    n.volumes = {std::string("/v/") + name};
    t.nodes.push_back(n);
  }
  t.databases.push_back({"db", {"date"}, std::nullopt});
  return t;
}

std::vector<NodeScanResult> compact_scans(const Topology& t)
{
  std::vector<NodeScanResult> s(t.nodes.size());
  for (std::size_t n = 0; n < t.nodes.size(); ++n) {
    clsync::transport::VolumeScan v;
    v.path = t.nodes[n].volumes[0];
    v.filesystem_id = n + 1;
    s[n].scan.volumes.push_back(v);
    for (std::size_t k : {n, (n + 1) % 4}) {
      clsync::transport::ReplicaScan r;
      r.volume = v.path;
      r.key = "db/" + std::to_string(k) + "/T";
      r.bytes = 10 * k + n;
      r.fingerprint = std::string(63, 'f') + std::to_string(k);
      r.layout_hash = k == 2 && n == 2 ? "different" : "same";  // db/2/T: n1 and n2 differ
      s[n].scan.replicas.push_back(r);
    }
    s[n].scan.problems.push_back("problem of " + t.nodes[n].name);
  }
  clsync::transport::ReplicaScan stray;
  stray.volume = "/v/c";
  stray.key = "nodb/x";
  s[2].scan.replicas.push_back(stray);
  return s;
}

/// What the inventory says, as text: chunks, replicas in order, health, problems, counts.
std::string compact_describe(const Inventory& inv)
{
  std::string out;
  for (const auto& c : inv.chunks) {
    out += c.key + " " + c.db + "/" + c.table + " " + to_string(c.health) + " " +
           std::to_string(c.bytes) + ":";
    for (const auto& r : c.replicas) {
      out += " " + r.node + "@" + r.volume + "=" + std::to_string(r.bytes) + "/" +
             r.fingerprint.str() + (r.duplicate ? "(dup)" : "");
    }
    out += "\n";
  }
  for (const auto& [node, p] : inv.problems) {
    out += "problem " + node + ": " + p + "\n";
  }
  for (const auto& n : inv.nodes) {
    out += n.name + " " + std::to_string(n.chunks) + " " + std::to_string(n.bytes) + "\n";
  }
  return out;
}

} // namespace

TEST_SUITE("core::compact")
{
  TEST_CASE("a Name is stored once and reads like the string it holds")
  {
    const Name a("node-with-a-long-name-1");
    const Name b(std::string("node-with-a-long-name-1"));
    CHECK(&a.str() == &b.str());
    CHECK(a == b);
    CHECK(a == "node-with-a-long-name-1");
    CHECK(a == std::string("node-with-a-long-name-1"));
    CHECK(Name() == "");
    CHECK(Name().empty());
    CHECK(Name("") == Name());
    CHECK(Name("x") < Name("y"));
    CHECK(Name("x") < std::string("y"));
    CHECK(a + ":" + Name("/v") == "node-with-a-long-name-1:/v");
    CHECK(sizeof(Name) == sizeof(void*));
    std::map<std::string, int> m{{"k", 1}};
    CHECK(m.at(Name("k")) == 1);
  }

  TEST_CASE("a digest is kept as its bytes and any other text as it was given")
  {
    const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const HashText h(hex);
    CHECK(h.str() == hex);
    CHECK(h == hex);
    CHECK(h.size() == 64);
    CHECK_FALSE(h.empty());
    CHECK(h == HashText(hex));
    CHECK_FALSE(h == HashText(std::string(64, '0')));
    // Upper case, short, empty and odd values read back exactly (not normalised).
    const std::string upper = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
    for (const std::string& v : {upper, std::string("fp"), std::string(), hex + "0"}) {
      CHECK(HashText(v).str() == v);
      CHECK(HashText(v) == v);
      CHECK_FALSE(HashText(v) == h);
    }
    CHECK(HashText().empty());
    CHECK(HashText() == "");
    CHECK(sizeof(HashText) <= 40);
  }

  TEST_CASE("a Rare vector costs a pointer when empty and copies deeply")
  {
    Rare<std::string> r;
    CHECK(r.empty());
    CHECK(r.size() == 0);
    CHECK(r.begin() == r.end());
    r.push_back("x");
    Rare<std::string> copy = r;
    copy.push_back("y");
    CHECK(r.size() == 1);
    CHECK(copy.size() == 2);
    CHECK(copy.front() == "x");
    r = {"p", "q"};
    CHECK(std::vector<std::string>(r.begin(), r.end()) == std::vector<std::string>{"p", "q"});
    r = std::vector<std::string>{};
    CHECK(r.empty());
    CHECK(sizeof(Rare<std::string>) == sizeof(void*));
  }

  TEST_CASE("a replica record stays small")
  {
    // The inventory's per-replica cost (issue 10: ≤ 300 B per replica on a real scan).
    CHECK(sizeof(Replica) <= 136);
  }

  TEST_CASE("a RareHash reads like the HashText it holds, and costs a pointer when empty")
  {
    const std::string digest(64, 'b');
    RareHash none;
    CHECK(none.empty());
    CHECK(none.str().empty());
    CHECK(none == "");
    CHECK(none == RareHash(""));  // an empty text is no hash: nothing allocated
    RareHash h = digest;
    CHECK_FALSE(h.empty());
    CHECK(h.size() == 64);
    CHECK(h.str() == digest);
    CHECK(h == digest);
    CHECK_FALSE(h == none);
    CHECK_FALSE(h == std::string(63, 'b') + "c");
    RareHash copy = h;  // deep
    h = RareHash("label");
    CHECK(copy == digest);
    CHECK(h.str() == "label");
    CHECK("x " + copy == "x " + digest);
    nlohmann::json j = copy;
    CHECK(j == digest);
  }

  TEST_CASE("an OptionalCount reads like std::optional<std::uint64_t> in 8 bytes")
  {
    OptionalCount unknown;
    CHECK_FALSE(unknown);
    CHECK_FALSE(unknown.has_value());
    CHECK(unknown.value_or(7) == 7);
    CHECK(std::optional<std::uint64_t>(unknown) == std::nullopt);
    OptionalCount zero = std::optional<std::uint64_t>(0);
    CHECK(zero);
    CHECK(*zero == 0);
    CHECK(zero == 0u);
    OptionalCount some = std::uint64_t{12288};
    CHECK(*some == 12288);
    CHECK(std::optional<std::uint64_t>(some) == 12288u);
    CHECK_FALSE(unknown == some);
    OptionalCount none = std::optional<std::uint64_t>();
    CHECK(none == unknown);
  }

  TEST_CASE("level names are interned as a list, and a chunk's partition values come from its key")
  {
    const LevelNames a = std::vector<std::string>{"date", "hash"};
    const LevelNames b{"date", "hash"};
    CHECK(a == b);  // one list, shared
    CHECK_FALSE(a == LevelNames{"date"});
    CHECK(LevelNames().empty());
    REQUIRE(a.size() == 2);
    CHECK(a[1] == "hash");

    Chunk c;
    c.key = "db/20200601/3/T";
    CHECK(c.partition().empty());  // no levels: no partition
    c.levels = a;
    const auto p = c.partition();
    REQUIRE(p.size() == 2);
    CHECK(p[0].first == "date");
    CHECK(p[0].second == "20200601");
    CHECK(p[1].first == "hash");
    CHECK(p[1].second == "3");
    CHECK(c.partition_path() == "20200601/3");
  }

  TEST_CASE("nodes folded in any order give the inventory build_inventory gives")
  {
    const Topology t = compact_topo();
    const std::string expected = compact_describe(build_inventory(t, compact_scans(t), {}));
    CHECK(expected.find("db/2/T db/T divergent") != std::string::npos);
    CHECK(expected.find("nodb/x is not a chunk") != std::string::npos);
    std::vector<std::size_t> order{0, 1, 2};
    do {
      auto scans = compact_scans(t);
      ScanFolder builder(t, {});
      for (auto i : order) {
        builder.add(i, std::move(scans[i]));
      }
      CHECK(compact_describe(builder.finish()) == expected);
    } while (std::next_permutation(order.begin(), order.end()));

    auto scans = compact_scans(t);
    ScanFolder twice(t, {});
    twice.add(0, std::move(scans[0]));
    CHECK_THROWS_AS(twice.add(0, NodeScanResult{}), std::invalid_argument);
    CHECK_THROWS_AS(twice.add(3, NodeScanResult{}), std::invalid_argument);
    CHECK_THROWS_AS(twice.finish(), std::invalid_argument);  // b and c were never added
  }
}
