// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Names that are not UTF-8 through every JSON a run writes (suite `names`), and zones as a
// failure domain (suite `zones`), end to end on copies of the demo cluster.
#include "core/error.hpp"
#include "core/run/journal.hpp"
#include "core/json_names.hpp"
#include "core/rebalance.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;
using nlohmann::json;

namespace {

const std::string k_odd_key = "Level1/20200601/\xff\x01/Snapshot"; // hash level not UTF-8
const std::string k_file = "a\nb\xff";                         // a file inside the chunk

/// A word the shell reads back as `s` (single quotes; bytes pass through).
std::string sh(const std::string& s)
{
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

/// `clsync -c YAML --state-dir STATE <args>`; stdout into `out`.
int run(DemoCopy& d, const std::string& args, std::string* out = nullptr)
{
  return test::run_clsync("-c " + sh(d.yaml.string()) + " --state-dir " +
                              sh((d.dir / "state").string()) + " " + args,
                          out);
}

/// Makes chunk k_odd_key on `nodes`: a copy of Level1/20200601/0/Snapshot plus the file k_file.
void add_odd_chunk(DemoCopy& d, const std::vector<std::string>& nodes)
{
  for (const auto& n : nodes) {
    const fs::path vol = d.volume(n);
    const fs::path dst = vol / k_odd_key;
    fs::create_directories(dst.parent_path());
    fs::copy(vol / "Level1/20200601/0/Snapshot", dst, fs::copy_options::recursive);
    test::write_file(dst / k_file, "odd");
  }
}

/// The chunk object of `doc[array]` whose exact key is k_odd_key (REQUIREs one).
json find_odd(const json& items, const std::string& field)
{
  for (const auto& c : items) {
    if (get_name(c, field) == std::optional<std::string>(k_odd_key)) {
      return c;
    }
  }
  FAIL("no entry for the odd chunk in ", items.dump().substr(0, 300));
  return {};
}

/// Adds `zone: Z` under each node named in `zones`.
void set_zones(DemoCopy& d, const std::map<std::string, std::string>& zones)
{
  d.edit_yaml([&](std::string& y) {
    for (const auto& [node, zone] : zones) {
      const std::string line = "  - name: " + node + "\n";
      const auto at = y.find(line);
      REQUIRE(at != std::string::npos);
      y.insert(at + line.size(), "    zone: " + zone + "\n");
    }
  });
}

} // namespace

TEST_SUITE("names")
{
  TEST_CASE("status --json --chunks, a --json dry run and repair carry a non-UTF-8 chunk exactly")
  {
    DemoCopy d("names-repair");
    add_odd_chunk(d, {"P1-dn1"}); // under-replicated: only repair may run
    const std::string b64 = base64_encode(k_odd_key);

    std::string out;
    REQUIRE(run(d, "--json status --chunks", &out) == 0);
    const json st = json::parse(out);
    CHECK(st["health"]["under_replicated"] == 1);
    const json c = find_odd(st["chunks"], "key");
    CHECK(c["key"] == lossy_utf8(k_odd_key)); // readable, with U+FFFD
    CHECK(c["key_b64"] == b64);
    CHECK(c["health"] == "under_replicated");
    // Valid names are unchanged: no _b64 field.
    CHECK(!st["chunks"][0].contains("key_b64"));

    // jq (1.6) selects it by its exact bytes; the same filter selects a plain name.
    const std::string filter =
        sh(".chunks[] | select((.key_b64 // (.key|@base64)) == $b) | .health");
    out.clear();
    REQUIRE(run(d, "--json status --chunks | jq -r --arg b " + b64 + " " + filter, &out) == 0);
    CHECK(out == "under_replicated\n");
    out.clear();
    REQUIRE(run(d,
                "--json status --chunks | jq -r --arg b " +
                    base64_encode("Level1/20200601/0/Snapshot") + " " + filter,
                &out) == 0);
    CHECK(out == "healthy\n");

    // Text: the name is quoted, one line.
    out.clear();
    CHECK(run(d, "status", &out) == 0);
    CHECK(out.find("$'Level1/20200601/\\xff\\x01/Snapshot'") != std::string::npos);

    out.clear();
    REQUIRE(run(d, "--json repair --dry-run", &out) == 0);
    const json dry = json::parse(out);
    REQUIRE(dry["moves"].size() == 1);
    CHECK(dry["moves"][0]["chunk_b64"] == b64);
    CHECK(dry["moves"][0]["kind"] == "copy");

    out.clear();
    REQUIRE(run(d, "--json --log-format json repair", &out) == 0);
    const json res = json::parse(out);
    CHECK(res["result"] == "ok");
    CHECK(res["moves"][0]["chunk_b64"] == b64);
    const std::string dest = get_name(res["moves"][0]["to"], "volume").value();
    CHECK(test::read_file(fs::path(dest) / k_odd_key / k_file) == "odd");
    const Inventory inv = d.inventory(true);
    REQUIRE(inv.chunk(k_odd_key) != nullptr);
    CHECK(inv.chunk(k_odd_key)->replica_count() == 2);
    CHECK(inv.chunk(k_odd_key)->health == ChunkHealth::healthy);
    CHECK(inv.leftovers.empty()); // intents (which name the chunk) were written and removed

    // The journal and status --tasks --json carry it.
    const auto runs = read_runs(d.ctx.state_dir, "demo-a", 0);
    REQUIRE(runs.size() == 1);
    REQUIRE(runs[0].tasks.size() == 1);
    CHECK(runs[0].tasks[0].chunk == k_odd_key);
    out.clear();
    REQUIRE(run(d, "--json status --tasks", &out) == 0);
    const json tasks = json::parse(out);
    CHECK(find_odd(tasks["runs"][0]["tasks"], "chunk")["state"] == "finished");
  }

  TEST_CASE("rebalance-nodes --plan-out then --plan moves a non-UTF-8 chunk exactly")
  {
    DemoCopy d("names-plan");
    add_odd_chunk(d, {"P1-dn1", "P2-dn1"});
    const auto plan = d.dir / "plan.json";
    std::string out;
    REQUIRE(run(d, "--json rebalance-nodes --by count --dry-run --plan-out " + sh(plan.string()),
                &out) == 0);
    const json dry = json::parse(out);
    const json saved = json::parse(test::read_file(plan));
    const json m = find_odd(saved["moves"], "chunk");
    CHECK(m["chunk_b64"] == base64_encode(k_odd_key));
    CHECK(find_odd(dry["moves"], "chunk")["to"]["node"] == m["to"]["node"]);

    out.clear();
    REQUIRE(run(d, "--json rebalance-nodes --plan " + sh(plan.string()), &out) == 0);
    const json res = json::parse(out);
    CHECK(res["result"] == "ok");
    const std::string to = m["to"]["node"];
    const fs::path dest = get_name(m["to"], "volume").value();
    CHECK(test::read_file(dest / k_odd_key / k_file) == "odd");
    const std::string from_volume = get_name(m["from"], "volume").value();
    CHECK(!fs::exists(fs::path(from_volume) / k_odd_key));
    const Inventory inv = d.inventory(true);
    REQUIRE(inv.chunk(k_odd_key) != nullptr);
    CHECK(inv.chunk(k_odd_key)->replica_count() == 2);
    CHECK(inv.chunk(k_odd_key)->on_node(to));
    CHECK(inv.health.healthy == inv.health.chunks);
  }
}

TEST_SUITE("zones")
{
  TEST_CASE("both replicas in r1 while r2 could hold one: zone_unsafe; repair spreads them")
  {
    DemoCopy d("zones-repair");
    set_zones(d, {{"P1-dn1", "r1"}, {"P2-dn1", "r1"}, {"P3-dn1", "r2"}});
    const auto hashes = test::content_by_chunk(d.inventory(true));
    Inventory inv = d.inventory();
    CHECK(inv.health.zone_unsafe == 200);
    CHECK(inv.health.healthy == 0);

    std::string out;
    CHECK(run(d, "status --check", &out) == 5);
    CHECK(out.find("200 zone-unsafe") != std::string::npos);
    out.clear();
    CHECK(run(d, "--json status", &out) == 0);
    CHECK(json::parse(out)["health"]["zone_unsafe"] == 200);

    // Other writing commands refuse the degraded cluster, naming the zones.
    RebalanceNodesOptions rn;
    CHECK_THROWS_WITH_AS(rebalance_nodes(d.ctx, rn), doctest::Contains("200 zone-unsafe"), Error);

    RepairOptions o;
    const auto r = repair(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == 200);
    for (const auto& m : r.plan.moves) {
      CHECK(m.kind == MoveKind::move);
      CHECK(m.to.node == "P3-dn1");
    }
    const Inventory after = d.inventory(true);
    CHECK(after.health.zone_unsafe == 0);
    CHECK(after.health.healthy == 200);
    for (const auto& c : after.chunks) {
      CHECK_MESSAGE(c.replica_count() == 2, c.key);
      CHECK_MESSAGE(c.on_node("P3-dn1"), c.key);
    }
    const auto per = test::replicas_per_node(after);
    CHECK(per.at("P3-dn1") == 200);
    CHECK(per.at("P1-dn1") == 100);
    CHECK(per.at("P2-dn1") == 100);
    CHECK(test::content_by_chunk(after) == hashes);
    CHECK(after.leftovers.empty());
    CHECK(run(d, "status --check") == 0);

    // Nothing more to do.
    CHECK(repair(d.ctx, o).plan.moves.empty());
  }

  TEST_CASE("rebalance-nodes --by count keeps a zone-safe cluster zone-safe and balances it")
  {
    // P1 (r1) and P2 (r2) hold every chunk; P3 (r1) and a new P4-dn1 (r2) are empty. Moving a
    // replica from P1 to P4 would leave both in r2: the balanced, zone-safe end is 100 each.
    DemoCopy d("zones-rebalance");
    const fs::path p4 = d.dir / "a" / "P4-dn1" / "ssd0" / "chunkData";
    fs::create_directories(p4);
    d.edit_yaml([&](std::string& y) {
      const auto at = y.find("databases:");
      REQUIRE(at != std::string::npos);
      y.insert(at, "  - name: P4-dn1\n    host: local\n    volumes: [\"" + p4.string() + "\"]\n");
    });
    set_zones(d, {{"P1-dn1", "r1"}, {"P2-dn1", "r2"}, {"P3-dn1", "r1"}, {"P4-dn1", "r2"}});
    const auto hashes = test::content_by_chunk(d.inventory(true));
    CHECK(d.inventory().health.zone_unsafe == 0);

    RebalanceNodesOptions o;
    o.plan.by = "count";
    const auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished == 200);
    const Inventory after = d.inventory(true);
    CHECK(after.health.zone_unsafe == 0);
    CHECK(after.health.healthy == 200);
    const auto per = test::replicas_per_node(after);
    for (const char* n : {"P1-dn1", "P2-dn1", "P3-dn1", "P4-dn1"}) {
      CHECK_MESSAGE(per.at(n) == 100, n);
    }
    CHECK(test::content_by_chunk(after) == hashes);
    CHECK(rebalance_nodes(d.ctx, o).plan.moves.empty());
  }
}
