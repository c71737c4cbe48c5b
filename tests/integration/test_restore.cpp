// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Restore (suite `restore`): a repository made from the demo's cluster A (objects packed with
// Node::pack_chunk, snapshot written with the Repository API) restored into the empty cluster B
// by the real clsync binary, on local nodes.
#include "core/cluster/filter.hpp"
#include "core/cluster/inventory.hpp"
#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <set>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;
using clsync::test::k_killed;

namespace {


/// Level1 up to 2020.06.03: 3 dates × 10 hash partitions = 30 chunks.
FilterOptions first_three_days()
{
  FilterOptions f;
  f.dbs = {"Level1"};
  f.where = {"date<=2020.06.03"};
  return f;
}

/// A repository under `dir` holding one snapshot of A's chunks that `f` selects: each object
/// packed from the first replica, stored at Repository::object_path of its content hash.
repo::Snapshot make_repository(DemoCopy& a, const fs::path& dir, const FilterOptions& f)
{
  auto r = repo::Repository::open(repo::parse_repo_location(dir.string()), {}, true);
  repo::Snapshot snap;
  snap.id = repo::new_snapshot_id();
  snap.created = "2026-01-01T00:00:00Z";
  snap.cluster = a.topo->cluster;
  snap.host = "test";
  snap.filters = f;
  ChunkFilter filter(f, *a.topo);
  for (const auto& c : a.inventory().chunks) {
    if (!filter.matches(c)) {
      continue;
    }
    const Replica& rep = c.replicas.front();
    auto node = a.nodes->get(rep.node);
    const std::string hash = node->hash_chunk(rep.volume, c.key).content_hash;
    auto w = r.node().create_file(r.root(), repo::Repository::object_path(hash));
    auto packed = node->pack_chunk(rep.volume, c.key, {}, *w);
    w->commit();
    REQUIRE(packed.digest.content_hash == hash);
    repo::SnapshotChunk sc;
    sc.key = c.key;
    sc.db = c.db;
    sc.table = c.table;
    for (const auto& [level, value] : c.partition) {
      sc.partition.push_back(value);
    }
    sc.manifest = packed.manifest;
    sc.object = hash;
    sc.object_sha256 = packed.object_sha256;
    sc.object_size = packed.object_size;
    snap.chunks.push_back(std::move(sc));
  }
  std::sort(snap.chunks.begin(), snap.chunks.end(),
            [](const auto& x, const auto& y) { return x.key < y.key; });
  r.write_snapshot(snap);
  return snap;
}

/// Cluster B of the demo copy `a` (its volumes are the copy's).
struct ClusterB {
  fs::path yaml;
  std::shared_ptr<Topology> topo;
  std::shared_ptr<NodeSet> nodes;
  explicit ClusterB(DemoCopy& a) : yaml(a.dir / "cluster-b.yaml")
  {
    // DemoCopy rewrote only cluster-a.yaml: point B at the copy's own volumes too.
    std::string text = test::read_file(yaml);
    const auto start = text.find("volumes: [\"");
    REQUIRE(start != std::string::npos);
    const auto path_at = start + 11;
    const auto b_at = text.find("/b/", path_at);
    REQUIRE(b_at != std::string::npos);
    const std::string tmpl = text.substr(path_at, b_at - path_at);
    for (std::size_t p = 0; (p = text.find(tmpl, p)) != std::string::npos;) {
      text.replace(p, tmpl.size(), a.dir.string());
      p += a.dir.string().size();
    }
    reload(text);
  }
  void reload(const std::string& text)
  {
    test::write_file(yaml, text);
    topo = std::make_shared<Topology>(load_topology(yaml));
    nodes = std::make_shared<NodeSet>(*topo);
  }
  Inventory inventory(bool verify = true)
  {
    InventoryOptions o;
    o.verify = verify;
    NullEvents quiet;
    return take_inventory(*topo, *nodes, o, quiet);
  }
};

std::string args_b(DemoCopy& a, const ClusterB& b)
{
  return "-c '" + b.yaml.string() + "' --state-dir '" + (a.dir / "state-b").string() + "' ";
}

nlohmann::json run_json(const std::string& args, int expect, const std::string& env = "")
{
  std::string out;
  const int rc = test::run_clsync(args + " --json", &out, env);
  CHECK_MESSAGE(rc == expect, out);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), out);
  return j;
}

/// No `.clsync-` leftovers (temps, trash, intents, holds; leases are released) under `root`.
std::vector<std::string> leftovers(const fs::path& root)
{
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename().string().rfind(".clsync-", 0) == 0) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

/// Every chunk of `snap` has `want` replicas on distinct nodes of B, each with the object's
/// content hash.
void check_restored(ClusterB& b, const repo::Snapshot& snap, int want)
{
  auto inv = b.inventory(true);
  std::map<std::string, const Chunk*> by_key;
  for (const auto& c : inv.chunks) {
    by_key[c.key] = &c;
  }
  CHECK(inv.chunks.size() == snap.chunks.size());
  for (const auto& sc : snap.chunks) {
    auto it = by_key.find(sc.key);
    REQUIRE_MESSAGE(it != by_key.end(), sc.key);
    std::set<std::string> nodes;
    for (const auto& r : it->second->replicas) {
      CHECK_MESSAGE(r.content_hash == sc.object, (sc.key + " on " + r.node));
      nodes.insert(r.node);
    }
    CHECK_MESSAGE(static_cast<int>(nodes.size()) == want, sc.key);
    CHECK_MESSAGE(static_cast<int>(it->second->replicas.size()) == want, sc.key);
  }
}

} // namespace

TEST_SUITE("restore")
{
  TEST_CASE("restore into an empty cluster, rerun keeps all, --force replaces a changed chunk")
  {
    DemoCopy a("restore-basic");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    REQUIRE(snap.chunks.size() == 30);
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";

    // --dry-run writes nothing.
    const std::string before = test::tree_listing(a.dir / "b");
    auto dry = run_json(base + " --dry-run", 0);
    CHECK(dry["restored"] == 30);
    CHECK(dry["replicas_written"] == 60);
    CHECK(test::tree_listing(a.dir / "b") == before);

    auto first = run_json(base, 0);
    CHECK(first["restored"] == 30);
    CHECK(first["kept"] == 0);
    CHECK(first["failed"] == 0);
    CHECK(first["replicas_written"] == 60);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());

    auto again = run_json(base, 0);
    CHECK(again["kept"] == 30);
    CHECK(again["restored"] == 0);
    CHECK(again["replicas_written"] == 0);

    // One replica of one chunk changes: an error for that chunk only, named.
    auto inv = b.inventory(false);
    const Chunk& victim = inv.chunks.front();
    const Replica& changed = victim.replicas.front();
    fs::path some_file;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(changed.volume) / victim.key)) {
      if (e.is_regular_file()) {
        some_file = e.path();
        break;
      }
    }
    REQUIRE(!some_file.empty());
    test::write_file(some_file, test::read_file(some_file) + "changed");
    auto refused = run_json(base, 3);
    CHECK(refused["failed"] == 1);
    CHECK(refused["kept"] == 29);
    CHECK(refused.dump().find(victim.key) != std::string::npos);
    CHECK(test::read_file(some_file).find("changed") != std::string::npos);

    auto forced = run_json(base + " --force", 0);
    CHECK(forced["replaced"] == 1);
    CHECK(forced["kept"] == 29);
    CHECK(forced["replicas_written"] == 1);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("a restore killed mid-run finishes on a rerun and leaves no temp")
  {
    DemoCopy a("restore-kill");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";
    for (const char* point : {"mid_copy:4", "after_commit:7"}) {
      CAPTURE(point);
      std::string out;
      const int rc = test::run_clsync(base + " --concurrency 2", &out,
                                      std::string("CLSYNC_TEST_CRASH_AT=") + point);
      CHECK(rc == k_killed);
    }
    auto done = run_json(base, 0);
    CHECK(done["failed"] == 0);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("a tampered object fails only its chunk, naming snapshot and object")
  {
    DemoCopy a("restore-tampered");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    const auto& bad = snap.chunks[3];
    const fs::path object = repo_dir / repo::Repository::object_path(bad.object);
    std::string bytes = test::read_file(object);
    REQUIRE(bytes.size() > 100);
    bytes[bytes.size() / 2] ^= 0x5a;
    test::write_file(object, bytes);
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";
    auto r = run_json(base, 3);
    CHECK(r["failed"] == 1);
    CHECK(r["restored"] == 29);
    const std::string text = r.dump();
    CHECK(text.find(bad.object) != std::string::npos);
    CHECK(text.find(snap.id) != std::string::npos);
    auto inv = b.inventory(false);
    CHECK(inv.chunk(bad.key) == nullptr);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("--delete removes the selected chunks the snapshot lacks, never past --max-delete")
  {
    DemoCopy a("restore-delete");
    ClusterB b(a);
    const fs::path full_dir = a.dir / "repo-full";
    const fs::path less_dir = a.dir / "repo-less";
    make_repository(a, full_dir, first_three_days());
    FilterOptions two_days = first_three_days();
    two_days.where = {"date<=2020.06.02"};
    const auto less = make_repository(a, less_dir, two_days);
    REQUIRE(less.chunks.size() == 20);
    const std::string args = args_b(a, b) + "restore --db Level1 --where 'date<=2020.06.03' ";
    run_json(args + "--from '" + full_dir.string() + "'", 0);
    REQUIRE(b.inventory(false).chunks.size() == 30);

    const std::string before = test::tree_listing(a.dir / "b");
    auto refused = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 5", 1);
    CHECK(refused.dump().find("--max-delete") != std::string::npos);
    CHECK(test::tree_listing(a.dir / "b") == before);

    auto dry = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 10 -n", 0);
    CHECK(dry["deleted"] == 10);
    CHECK(test::tree_listing(a.dir / "b") == before);

    auto done = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 10", 0);
    CHECK(done["deleted"] == 10);
    CHECK(done["kept"] == 20);
    auto inv = b.inventory(false);
    CHECK(inv.chunks.size() == 20);
    for (const auto& c : inv.chunks) {
      CHECK_MESSAGE(c.key.find("20200603") == std::string::npos, c.key);
    }
    CHECK(leftovers(a.dir / "b").empty());
  }
}
