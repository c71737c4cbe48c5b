// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/json_stream.hpp"
#include "cli/output_spool.hpp"
#include "cli/render_plan.hpp"
#include "cli/render_status.hpp"
#include "core/json_names.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace clsync;
using nlohmann::json;

namespace {

/// `doc` written with its members in `streamed_names` streamed one element at a time.
std::string stream_written(const json& doc, const std::vector<std::string>& streamed_names)
{
  json head = doc;
  std::map<std::string, cli::JsonArraySource> arrays;
  for (const auto& name : streamed_names) {
    json array = doc.at(name);
    head.erase(name);
    arrays[name] = [array](const cli::JsonEmit& emit) {
      for (const auto& e : array) {
        emit(e);
      }
    };
  }
  std::ostringstream out;
  cli::write_json_streamed(out, head, arrays);
  return out.str();
}

/// A status result of `chunks` chunks on two nodes, one of them holding a name that is not UTF-8.
core::StatusResult stream_status(int chunks)
{
  core::Topology t;
  t.cluster = "s";
  t.replication = 2;
  for (const char* name : {"n1", "n2"}) {
    core::NodeSpec n;
    n.name = name;
    n.host = "local";
    n.volumes = {std::string("/v/") + name};
    t.nodes.push_back(n);
  }
  core::DatabaseSpec db;
  db.name = "db";
  db.levels = {"date"};
  t.databases.push_back(db);
  std::vector<core::NodeScanResult> s(2);
  for (int n = 0; n < 2; ++n) {
    transport::VolumeScan v;
    v.path = t.nodes[n].volumes[0];
    s[n].scan.volumes.push_back(v);
    for (int i = 0; i < chunks; ++i) {
      transport::ReplicaScan r;
      r.volume = v.path;
      r.key = "db/2020" + std::to_string(i) + (i == 1 ? "\xff" : "") + "/T";
      r.bytes = 100 + i;
      r.fingerprint = std::string(64, static_cast<char>('a' + i % 6));
      r.layout_hash = n == 1 && i == 2 ? "other" : "L";
      if (n == 0 || i % 3 != 0) {
        s[n].scan.replicas.push_back(r);
      }
    }
  }
  core::StatusResult res;
  res.cluster = t.cluster;
  res.replication = t.replication;
  res.inventory = core::build_inventory(t, s, {});
  res.balance = core::compute_balance(t, res.inventory);
  for (std::size_t i = 0; i < res.inventory.chunks.size(); ++i) {
    if (res.inventory.chunks[i].health != core::ChunkHealth::healthy) {
      res.unhealthy.push_back(i);
    }
  }
  return res;
}

} // namespace

TEST_SUITE("cli::json_stream")
{
  TEST_CASE("a streamed document has the bytes of the whole document dumped at once")
  {
    const json doc = json::parse(R"({
      "a": 1, "chunks": [{"k": "x", "r": [{"n": 1}, {"n": 2}], "e": {}, "f": []}, 2, "s"],
      "empty": [], "m": {"x": [1, {"y": null}]}, "z": "\u00e9\n"})");
    CHECK(stream_written(doc, {"chunks"}) == core::dump_json(doc, 2));
    CHECK(stream_written(doc, {"chunks", "empty"}) == core::dump_json(doc, 2));
    CHECK(stream_written(doc, {"empty"}) == core::dump_json(doc, 2));
    const json only = json{{"only", json::array({1, 2})}};
    CHECK(stream_written(only, {"only"}) == core::dump_json(only, 2));
    std::ostringstream out;
    cli::write_json_streamed(out, json::object(), {});
    CHECK(out.str() == "{}");
    CHECK_THROWS_AS(cli::write_json_streamed(out, json::array(), {}), std::invalid_argument);
  }

  TEST_CASE("status --json --chunks streamed equals the document built whole")
  {
    const core::StatusResult res = stream_status(7);
    REQUIRE_FALSE(res.unhealthy.empty());
    for (bool chunks : {false, true}) {
      core::StatusOptions opts;
      opts.chunks = chunks;
      std::ostringstream out;
      cli::write_status_json(out, res, opts);
      CHECK(out.str() == core::dump_json(cli::status_json(res, opts), 2));
      CHECK(json::parse(out.str()).contains("chunks") == chunks);
    }
  }

  TEST_CASE("a plan's --json streamed equals the document built whole")
  {
    core::RebalanceResult r;
    r.command = "rebalance-nodes";
    r.dry_run = true;
    std::ostringstream none;
    cli::write_rebalance_json(none, r);
    CHECK(none.str() == core::dump_json(cli::rebalance_json(r), 2));
    for (int i = 0; i < 5; ++i) {
      core::Move m;
      m.chunk = "db/" + std::to_string(i) + (i == 3 ? "\xfe" : "") + "/T";
      m.from = {"n1", "/v/n1"};
      m.to = {"n2", "/v/n2"};
      m.bytes = 10u * i;
      r.plan.moves.push_back(m);
    }
    r.plan.before["n1"] = {5, 100};
    r.notes.push_back({"db/9/T", "no legal destination"});
    std::ostringstream out;
    cli::write_rebalance_json(out, r);
    CHECK(out.str() == core::dump_json(cli::rebalance_json(r), 2));
    CHECK(json::parse(out.str())["moves"].size() == 5);
  }

  TEST_CASE("the output spool holds a document in memory, then on disk, and gives it back")
  {
    cli::OutputSpool small;
    CHECK(small.empty());
    CHECK_FALSE(small.holds_one_document());
    small.stream() << R"({"a": 1})" << '\n';
    CHECK_FALSE(small.on_file());
    CHECK(small.holds_one_document());
    // By default a quarter of a MiB is held in memory, no more (issue 10: the held document
    // was a third of `status --json --chunks`'s peak over plain status's).
    cli::OutputSpool held;
    held.stream() << std::string((std::size_t{256} << 10) - 1, ' ');
    CHECK_FALSE(held.on_file());
    held.stream() << "{}";
    CHECK(held.on_file());
    CHECK(held.holds_one_document());

    cli::OutputSpool big(64);
    std::string expected = "[";
    for (int i = 0; i < 1000; ++i) {
      expected += (i ? ", " : "") + std::to_string(i);
    }
    expected += "]\n";
    big.stream() << expected.substr(0, 10);
    big.stream() << expected.substr(10);
    CHECK(big.on_file());
    CHECK(big.size() == expected.size());
    CHECK(big.holds_one_document());
    std::ostringstream copy;
    big.copy_to(copy);
    CHECK(copy.str() == expected);
    big.stream() << "{}";  // a second document after the first: not one document any more
    CHECK_FALSE(big.holds_one_document());
    std::ostringstream both;
    big.copy_to(both);
    CHECK(both.str() == expected + "{}");

    cli::OutputSpool cut(8);
    cut.stream() << R"({"chunks": [1, 2, 3)";
    CHECK(cut.on_file());
    CHECK_FALSE(cut.holds_one_document());
  }
}
