// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_tasks.hpp"
#include "core/run/journal.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

using namespace clsync;

TEST_SUITE("cli::render_tasks")
{
  TEST_CASE("journal runs render as a table and as the documented JSON")
  {
    auto dir = test::scratch_dir("render-tasks");
    {
      core::Journal j(dir, "demo-a", "20240601T120000000Z-000001", "rebalance-nodes");
      core::TaskRecord t;
      t.id = "20240601T120000000Z-000001-0001";
      t.chunk = "Level1/20200601/3/Snapshot";
      t.source = {"P1-dn1", "/v1"};
      t.destination = {"P3-dn1", "/v3"};
      t.bytes = 4096;
      for (const char* s : {"queued", "running", "finished"}) {
        t.state = s;
        j.record(t);
      }
      t.id += "x";
      t.state = "queued";
      j.record(t);
      t.state = "failed";
      t.error = "node P3-dn1: no space";
      j.record(t);
      j.finish("partial", 4096, 1, 1);
    }
    auto runs = core::read_runs(dir, "demo-a", 0);
    auto doc = cli::runs_json(runs);
    REQUIRE(doc["runs"].size() == 1);
    const auto& r = doc["runs"][0];
    CHECK(r["id"] == "20240601T120000000Z-000001");
    CHECK(r["command"] == "rebalance-nodes");
    CHECK(r["bytes"] == 4096);
    CHECK(r["result"] == "partial");
    CHECK(r.contains("mb_per_s"));
    CHECK(r["finish"].is_string());
    REQUIRE(r["tasks"].size() == 2);
    const auto& t0 = r["tasks"][0];
    for (const char* k : {"id", "chunk", "source", "destination", "bytes", "state", "start",
                          "finish", "delete_source", "error"}) {
      CHECK_MESSAGE(t0.contains(k), k);
    }
    CHECK(t0["source"]["node"] == "P1-dn1");
    CHECK(t0["state"] == "finished");
    CHECK(t0["error"].is_null());
    CHECK(r["tasks"][1]["state"] == "failed");
    CHECK(r["tasks"][1]["start"].is_null()); // it never ran
    CHECK(r["tasks"][1]["error"] == "node P3-dn1: no space");

    auto text = cli::render_runs_text(runs);
    CHECK(text.find("run 20240601T120000000Z-000001  rebalance-nodes") != std::string::npos);
    CHECK(text.find("DELETE SOURCE") != std::string::npos);
    CHECK(text.find("Level1/20200601/3/Snapshot") != std::string::npos);
    CHECK(text.find("no space") != std::string::npos);
    CHECK(cli::render_runs_text({}).empty());
    auto last = cli::render_runs_text(runs, 1);
    CHECK(last.find("1 earlier tasks not shown") != std::string::npos);
  }

  TEST_CASE("a run refused as a whole shows its error in the table and the JSON")
  {
    auto dir = test::scratch_dir("render-tasks-refused");
    {
      core::Journal j(dir, "demo-b", "20240601T120000000Z-000002", "sync-online");
      j.finish("failed", 0, 0, 0, "node B2: connection refused");
    }
    auto runs = core::read_runs(dir, "demo-b", 0);
    auto doc = cli::runs_json(runs);
    REQUIRE(doc["runs"].size() == 1);
    CHECK(doc["runs"][0]["error"] == "node B2: connection refused");
    CHECK(doc["runs"][0]["tasks"].empty());
    auto text = cli::render_runs_text(runs);
    CHECK(text.find("sync-online") != std::string::npos);
    CHECK(text.find("error: node B2: connection refused") != std::string::npos);
  }
}
