// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_plan.hpp"
#include "cli/render_status.hpp"
#include "cli/render_tasks.hpp"
#include "core/error.hpp"
#include "core/run/journal.hpp"
#include "core/json_names.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/run/task_steps.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using namespace clsync;
using namespace clsync::core;
using nlohmann::json;

namespace {

const std::string k_bad_key = "db/20200601/\xff\x01/T"; // the hash level is not UTF-8
const std::string k_bad_file = "a\nb\xff";

/// Every string (and object key) in `j` is valid UTF-8; a strict dump must then not throw.
void require_utf8(const json& j, const std::string& at = "$")
{
  if (j.is_string()) {
    CHECK_MESSAGE(is_utf8(j.get_ref<const std::string&>()), at);
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      CHECK_MESSAGE(is_utf8(k), at);
      require_utf8(v, at + "." + k);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      require_utf8(j[i], at + "[" + std::to_string(i) + "]");
    }
  }
}

/// A strict dump (nlohmann's default: throws type_error.316 on invalid UTF-8) succeeds, and
/// the text parses back.
json strict_round_trip(const json& doc)
{
  require_utf8(doc);
  std::string text;
  REQUIRE_NOTHROW(text = doc.dump(2));
  return json::parse(text);
}

std::string random_bytes(std::mt19937& rng, std::size_t max_len)
{
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(len(rng), '\0');
  for (auto& c : s) {
    c = static_cast<char>(byte(rng));
  }
  return s;
}

/// One chunk with a key that is not UTF-8 on a node whose volume is not UTF-8 either, a special
/// file with a newline, an unmanaged directory, a leftover, a problem naming the chunk.
StatusResult bad_names_status()
{
  Topology t;
  t.cluster = "c";
  t.replication = 2;
  NodeSpec n;
  n.name = "n1";
  n.host = "local";
  n.volumes = {"/v\xfe"};
  t.nodes.push_back(n);
  t.databases.push_back({"db", {"date", "hash"}, std::nullopt});
  std::vector<NodeScanResult> s(1);
  transport::VolumeScan v;
  v.path = "/v\xfe";
  s[0].scan.volumes.push_back(v);
  transport::ReplicaScan r;
  r.volume = "/v\xfe";
  r.key = k_bad_key;
  r.bytes = 5;
  r.files = 1;
  r.layout_hash = "L";
  r.special = {k_bad_file};
  s[0].scan.replicas.push_back(r);
  s[0].scan.unmanaged.push_back({"/v\xfe", "other/\xc3\x28", 1, 1});
  s[0].scan.leftovers.push_back({"/v\xfe", ".clsync-tmp-\xff", "tmp", "\xff", ""});
  s[0].scan.problems.push_back("volume /v\xfe: odd entry \x80");
  StatusResult res;
  res.cluster = t.cluster;
  res.inventory = build_inventory(t, s, {});
  res.groups = group_chunks(res.inventory, "table");
  for (std::size_t i = 0; i < res.inventory.chunks.size(); ++i) {
    res.unhealthy.push_back(i);
  }
  return res;
}

} // namespace

TEST_SUITE("core::json_names")
{
  TEST_CASE("is_utf8 accepts well-formed UTF-8 only")
  {
    CHECK(is_utf8(""));
    CHECK(is_utf8("Level1/20200601/3/Snapshot"));
    CHECK(is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK_FALSE(is_utf8("\xff"));
    CHECK_FALSE(is_utf8("\xc0\xaf"));         // overlong '/'
    CHECK_FALSE(is_utf8("\xed\xa0\x80"));     // a surrogate (U+D800)
    CHECK_FALSE(is_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
    CHECK_FALSE(is_utf8("\xe2\x82"));         // cut short
    CHECK(lossy_utf8("a\xff"
                     "b") == "a\xef\xbf\xbd"
                             "b");
    CHECK(lossy_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
  }

  TEST_CASE("base64 known vectors")
  {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("\xff\x01") == "/wE=");
    CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
    CHECK_FALSE(base64_decode("Zm9").has_value());
    CHECK_FALSE(base64_decode("Zm=v").has_value());
    CHECK_FALSE(base64_decode("Zm9*").has_value());
  }

  TEST_CASE("valid UTF-8 names are written unchanged, with no sibling field")
  {
    json j = json::object();
    put_name(j, "key", "Level1/20200601/3/Snapshot");
    CHECK(j == json{{"key", "Level1/20200601/3/Snapshot"}});
  }

  TEST_CASE("any byte string round-trips exactly through put_name, a dump and get_name")
  {
    std::mt19937 rng(20200601);
    for (int i = 0; i < 5000; ++i) {
      const std::string name = random_bytes(rng, 40);
      json j = json::object();
      put_name(j, "chunk", name);
      CHECK(j.contains("chunk_b64") == !is_utf8(name));
      const json back = strict_round_trip(j);
      const auto got = get_name(back, "chunk");
      REQUIRE(got.has_value());
      CHECK(*got == name);
    }
  }

  TEST_CASE("dump_json never throws; a string that missed put_name degrades to U+FFFD")
  {
    json j{{"oops", "\xff"}};
    CHECK_THROWS(j.dump());
    CHECK(dump_json(j) == "{\"oops\":\"\xef\xbf\xbd\"}");
  }

  TEST_CASE("plan files carry any chunk key and volume path exactly")
  {
    Plan plan;
    plan.command = "repair";
    plan.cluster = "c";
    plan.by = "bytes";
    Move m;
    m.kind = MoveKind::move;
    m.chunk = k_bad_key;
    m.from = {"n1", "/v\xfe"};
    m.to = {"n2", "/v2"};
    m.bytes = 7;
    m.fingerprint = "fp";
    plan.moves.push_back(m);
    plan.notes.push_back({k_bad_key, "zone-unsafe \x80"});
    const auto file = test::scratch_dir("json-names-plan") / "plan.json";
    save_plan(plan, file);
    const Plan back = load_plan(file);
    REQUIRE(back.moves.size() == 1);
    CHECK(back.moves[0].chunk == k_bad_key);
    CHECK(back.moves[0].from.volume == "/v\xfe");
    CHECK(back.moves[0].to == m.to);
    REQUIRE(back.notes.size() == 1);
    CHECK(back.notes[0].chunk == k_bad_key);
    CHECK(back.notes[0].reason == "zone-unsafe \x80");
    // The readable field is there for people and jq; the exact one is base64.
    const json doc = plan_to_json(plan);
    CHECK(doc["moves"][0]["chunk"] == lossy_utf8(k_bad_key));
    CHECK(doc["moves"][0]["chunk_b64"] == base64_encode(k_bad_key));
    // A _b64 field that is not base64 is an error naming the field, not a wrong name.
    json broken = doc;
    broken["moves"][0]["chunk_b64"] = "***";
    CHECK_THROWS_WITH_AS(plan_from_json(broken, "p.json"), doctest::Contains("moves[0].chunk_b64"),
                         UsageError);
  }

  TEST_CASE("intent records carry the chunk and volumes exactly")
  {
    Move m;
    m.kind = MoveKind::move;
    m.chunk = k_bad_key;
    m.from = {"n1", "/v\xfe"};
    m.to = {"n2", "/v2"};
    const json j = json::parse(intent_record("run", "t1", m));
    CHECK(get_name(j, "chunk") == std::optional<std::string>(k_bad_key));
    CHECK(get_name(j["source"], "volume") == std::optional<std::string>("/v\xfe"));
  }

  TEST_CASE("the journal and status --tasks --json carry the chunk exactly")
  {
    const auto dir = test::scratch_dir("json-names-journal");
    {
      Journal j(dir, "c", "20240601T120000Z-000001", "repair");
      TaskRecord t;
      t.id = "t1";
      t.chunk = k_bad_key;
      t.source = {"n1", "/v\xfe"};
      t.destination = {"n2", "/v2"};
      t.state = "finished";
      t.error = "odd \xff";
      j.record(t);
      j.finish("ok", 0, 1, 0);
    }
    const auto runs = read_runs(dir, "c", 0);
    REQUIRE(runs.size() == 1);
    REQUIRE(runs[0].tasks.size() == 1);
    CHECK(runs[0].tasks[0].chunk == k_bad_key);
    CHECK(runs[0].tasks[0].source.volume == "/v\xfe");
    const json doc = strict_round_trip(cli::runs_json(runs));
    CHECK(get_name(doc["runs"][0]["tasks"][0], "chunk") == std::optional<std::string>(k_bad_key));
  }

  TEST_CASE("status --json: no field holds invalid UTF-8, names are exact (missed-field net)")
  {
    const StatusResult res = bad_names_status();
    StatusOptions opts;
    opts.chunks = true;
    opts.by = "table";
    const json doc = strict_round_trip(cli::status_json(res, opts));
    const json& c = doc["chunks"][0];
    CHECK(get_name(c, "key") == std::optional<std::string>(k_bad_key));
    CHECK(c["partition_b64"]["hash"] == base64_encode("\xff\x01"));
    CHECK(get_name(c["replicas"][0], "volume") == std::optional<std::string>("/v\xfe"));
    CHECK(c["replicas"][0]["special_b64"][0] == base64_encode(k_bad_file));
    CHECK(get_name(doc["nodes"][0]["volumes"][0], "path") == std::optional<std::string>("/v\xfe"));
    CHECK(get_name(doc["unmanaged"][0], "path") == std::optional<std::string>("other/\xc3\x28"));
    CHECK(get_name(doc["leftovers"][0], "name") == std::optional<std::string>(".clsync-tmp-\xff"));
  }

  TEST_CASE("plan --json: no field holds invalid UTF-8, names are exact (missed-field net)")
  {
    RebalanceResult r;
    r.command = "repair";
    Move m;
    m.chunk = k_bad_key;
    m.from = {"n1", "/v\xfe"};
    m.to = {"n2", "/v2"};
    r.plan.moves.push_back(m);
    r.plan.before["n1"] = {1, 7};
    r.notes.push_back({k_bad_key, "note \xff"});
    ExecResult e;
    e.tasks.push_back({"t1", m, "failed", "error \xff", 1});
    r.exec = e;
    r.journal = "/state/\xff.ndjson";
    const json doc = strict_round_trip(cli::rebalance_json(r));
    CHECK(get_name(doc["moves"][0], "chunk") == std::optional<std::string>(k_bad_key));
    CHECK(get_name(doc["moves"][0]["from"], "volume") == std::optional<std::string>("/v\xfe"));
    CHECK(get_name(doc["notes"][0], "chunk") == std::optional<std::string>(k_bad_key));
  }
}
