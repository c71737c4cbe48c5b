// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_status.hpp"

#include <doctest/doctest.h>

#include <tuple>

using namespace clsync;
using namespace clsync::core;

namespace {

/// Two nodes (n2 unreachable), one healthy-looking chunk that is under-replicated as a result.
StatusResult make_result()
{
  Topology t;
  t.file = "t.yaml";
  t.cluster = "demo";
  t.replication = 2;
  for (auto [name, host, volume] : {std::tuple{"n1", "local", "/v1"},
                                    std::tuple{"n2", "10.0.0.2", "/v2"}}) {
    NodeSpec n;
    n.name = name;
    n.host = host;
    n.volumes = {volume};
    t.nodes.push_back(n);
  }
  DatabaseSpec db;
  db.name = "db";
  db.levels = {"date", "hash"};
  t.databases.push_back(db);
  std::vector<NodeScanResult> s(2);
  transport::VolumeScan v;
  v.path = "/v1";
  v.capacity_bytes = 1000;
  v.free_bytes = 250;
  v.filesystem_id = 7;
  s[0].scan.volumes.push_back(v);
  transport::ReplicaScan r;
  r.volume = "/v1";
  r.key = "db/20200601/3/T";
  r.bytes = 123;
  r.files = 2;
  r.fingerprint = "fp";
  r.layout_hash = "L";
  r.newest_mtime_ns = 1590969600'000000000;  // 2020-06-01T00:00:00Z
  s[0].scan.replicas.push_back(r);
  s[0].scan.unmanaged.push_back({"/v1", "other/x", 9, 1});
  s[0].scan.leftovers.push_back({"/v1", ".clsync-intent-t1", "intent", "t1", R"({"task":"t1"})"});
  s[1].reachable = false;
  s[1].error = "node n2 (10.0.0.2): connection refused";
  StatusResult res;
  res.cluster = t.cluster;
  res.replication = t.replication;
  res.inventory = build_inventory(t, s, {});
  res.balance = compute_balance(t, res.inventory);
  res.unhealthy.push_back(0);
  res.exit_code = ExitCode::partial;
  return res;
}

} // namespace

TEST_SUITE("cli::render_status")
{
  TEST_CASE("the JSON document has the documented fields")
  {
    StatusResult res = make_result();
    StatusOptions opts;
    opts.chunks = true;
    nlohmann::json j = cli::status_json(res, opts);
    CHECK(j["cluster"] == "demo");
    CHECK(j["replication"] == 2);
    CHECK(j["exit_code"] == 3);
    CHECK(j["error"] == "unreachable: n2");
    REQUIRE(j["nodes"].size() == 2);
    CHECK(j["nodes"][0]["name"] == "n1");
    CHECK(j["nodes"][0]["reachable"] == true);
    CHECK(j["nodes"][0]["chunks"] == 1);
    CHECK(j["nodes"][0]["bytes"] == 123);
    CHECK(j["nodes"][0]["capacity_bytes"] == 1000);
    CHECK(j["nodes"][0]["free_bytes"] == 250);
    CHECK_FALSE(j["nodes"][0].contains("error"));
    CHECK(j["nodes"][0]["volumes"][0]["path"] == "/v1");
    CHECK(j["nodes"][0]["volumes"][0]["chunks"] == 1);
    CHECK(j["nodes"][1]["reachable"] == false);
    CHECK(j["nodes"][1]["error"] == "node n2 (10.0.0.2): connection refused");
    CHECK(j["health"]["chunks"] == 1);
    CHECK(j["health"]["under_replicated"] == 1);
    CHECK(j["health"]["healthy"] == 0);
    CHECK(j["balance"]["shares"] == "capacity");
    CHECK(j["balance"]["nodes"].size() == 1);
    REQUIRE(j["unhealthy"].size() == 1);
    CHECK(j["unhealthy"][0]["health"] == "under_replicated");
    CHECK(j["unmanaged"][0]["node"] == "n1");
    CHECK(j["unmanaged"][0]["path"] == "other/x");
    CHECK(j["leftovers"][0]["intent"]["task"] == "t1");
    REQUIRE(j["chunks"].size() == 1);
    const auto& c = j["chunks"][0];
    CHECK(c["key"] == "db/20200601/3/T");
    CHECK(c["db"] == "db");
    CHECK(c["table"] == "T");
    CHECK(c["partition"]["date"] == "20200601");
    CHECK(c["partition"]["hash"] == "3");
    CHECK(c["bytes"] == 123);
    CHECK(c["replicas"][0]["node"] == "n1");
    CHECK(c["replicas"][0]["volume"] == "/v1");
    CHECK(c["replicas"][0]["files"] == 2);
    CHECK(c["replicas"][0]["fingerprint"] == "fp");
    CHECK(c["replicas"][0]["newest_mtime"] == "2020-06-01T00:00:00Z");
    CHECK_FALSE(c["replicas"][0].contains("duplicate"));
    CHECK_FALSE(j.contains("groups"));
    opts.chunks = false;
    CHECK_FALSE(cli::status_json(res, opts).contains("chunks"));
  }

  TEST_CASE("the text report marks unreachable nodes and lists the unhealthy chunk")
  {
    StatusResult res = make_result();
    std::string text = cli::render_status_text(res, {});
    CHECK(text.find("cluster demo, replication 2") != std::string::npos);
    CHECK(text.find("UNREACHABLE") != std::string::npos);
    CHECK(text.find("connection refused") != std::string::npos);
    CHECK(text.find("health: 1 chunks, 0 healthy, 1 under-replicated") != std::string::npos);
    CHECK(text.find("db/20200601/3/T") != std::string::npos);
    CHECK(text.find("75.0%") != std::string::npos);  // used share of n1's volume
    CHECK(text.find("other/x") != std::string::npos);
    CHECK(text.find(".clsync-intent-t1") != std::string::npos);
  }
}
