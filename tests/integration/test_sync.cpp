// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Online sync (suite `sync`): the demo's cluster A copied into its empty cluster B by
// sync_round (in process) and by the clsync binary, on local nodes and behind loopback sshd.
// What B holds is checked from outside clsync: file bytes, types, modes, owners and mtimes.
#include "core/cluster/filter.hpp"
#include "core/fault.hpp"
#include "core/sync/sync_online.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <utime.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// Level1 up to 2020.06.03: 3 dates × 10 hash partitions = 30 chunks.
FilterOptions first_three_days()
{
  FilterOptions f;
  f.dbs = {"Level1"};
  f.where = {"date<=2020.06.03"};
  return f;
}

/// The demo copy's cluster A and its empty cluster B (pointed at the copy's own volumes).
struct Pair {
  DemoCopy a;
  fs::path b_yaml;
  std::shared_ptr<Topology> b_topo;
  Context b;

  explicit Pair(const std::string& name) : a(name), b_yaml(a.dir / "cluster-b.yaml")
  {
    std::string text = test::read_file(b_yaml);
    const auto start = text.find("volumes: [\"");
    REQUIRE(start != std::string::npos);
    const auto b_at = text.find("/b/", start + 11);
    const std::string tmpl = text.substr(start + 11, b_at - start - 11);
    for (std::size_t p = 0; (p = text.find(tmpl, p)) != std::string::npos;) {
      text.replace(p, tmpl.size(), a.dir.string());
      p += a.dir.string().size();
    }
    reload_b(text);
  }
  void reload_b(const std::string& text)
  {
    test::write_file(b_yaml, text);
    b_topo = std::make_shared<Topology>(load_topology(b_yaml));
    b = Context{};
    b.topology = b_topo;
    b.nodes = std::make_shared<NodeSet>(*b_topo);
    b.events = &a.events;
    b.state_dir = a.dir / "state-b";
    b.stop_requested = &a.stop;
  }
  /// A fresh context of A (the round may reopen its nodes).
  Context& a_ctx()
  {
    a.reload();
    return a.ctx;
  }
  Inventory b_inventory()
  {
    NullEvents quiet;
    return take_inventory(*b_topo, *b.nodes, {}, quiet);
  }
  std::string args() const
  {
    return "--state-dir '" + b.state_dir.string() + "' sync-online --from '" + a.yaml.string() +
           "' --to '" + b_yaml.string() + "' ";
  }
};

/// Every entry under `root` (root included) as "relpath type mode uid gid size mtime sha" where
/// a regular file's bytes are read in full: two equal listings are byte-identical trees.
std::string tree(const fs::path& root)
{
  std::vector<std::string> lines;
  auto add = [&](const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    std::string line = fs::relative(p, root).string() + ' ' + std::to_string(st.st_mode) + ' ' +
                       std::to_string(st.st_uid) + ' ' + std::to_string(st.st_gid) + ' ' +
                       std::to_string(st.st_mtim.tv_sec) + '.' +
                       std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      line += ' ' + std::string(std::istreambuf_iterator<char>(in), {});
    }
    lines.push_back(line);
  };
  add(root);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    add(it->path());
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) {
    out += l + '\n';
  }
  return out;
}

/// Every chunk of A that `f` selects is on `want` distinct nodes of B, each replica a tree
/// identical to one of A's replicas of it; B holds no other selected chunk and no leftover.
void check_synced(Pair& p, const FilterOptions& f, int want = 2)
{
  auto a_inv = p.a.inventory();
  auto b_inv = p.b_inventory();
  ChunkFilter fa(f, *p.a.topo), fb(f, *p.b_topo);
  std::set<std::string> a_keys, b_keys;
  for (const auto& c : b_inv.chunks) {
    if (fb.matches(c)) {
      b_keys.insert(c.key);
    }
  }
  for (const auto& c : a_inv.chunks) {
    if (!fa.matches(c)) {
      continue;
    }
    a_keys.insert(c.key);
    std::set<std::string> a_trees;
    for (const auto& r : c.replicas) {
      a_trees.insert(tree(fs::path(r.volume) / c.key));
    }
    const Chunk* bc = b_inv.chunk(c.key);
    REQUIRE_MESSAGE(bc, c.key);
    std::set<std::string> nodes;
    for (const auto& r : bc->replicas) {
      nodes.insert(r.node);
      CHECK_MESSAGE(a_trees.count(tree(fs::path(r.volume) / c.key)) == 1,
                    (c.key + " on " + r.node));
    }
    CHECK_MESSAGE(static_cast<int>(nodes.size()) == want, c.key);
  }
  CHECK(a_keys == b_keys);
  CHECK(b_inv.leftovers.empty());
}

/// Rewrites the last file (in path order) of `key` on every replica of A: new bytes, and an
/// mtime `age` in the past.
void change_on_a(DemoCopy& a, const std::string& key, std::chrono::seconds age)
{
  const auto t = std::chrono::system_clock::now() - age;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  for (const auto& n : a.topo->nodes) {
    const fs::path dir = fs::path(n.volumes[0]) / key;
    if (!fs::exists(dir)) {
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) {
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    REQUIRE(!files.empty());
    std::ofstream(files.back(), std::ios::app) << "changed on A";
    struct utimbuf u{static_cast<time_t>(secs.count()), static_cast<time_t>(secs.count())};
    REQUIRE(::utime(files.back().c_str(), &u) == 0);
  }
}

sync::SyncOptions options(const FilterOptions& f)
{
  sync::SyncOptions o;
  o.filter = f;
  return o;
}

std::vector<std::string> chunks_written(const sync::RoundResult& r)
{
  std::vector<std::string> out;
  if (r.run && r.run->exec) {
    for (const auto& t : r.run->exec->tasks) {
      if (t.move.kind == MoveKind::write && t.state == "finished") {
        out.push_back(t.move.chunk);
      }
    }
  }
  return out;
}

} // namespace

TEST_SUITE("sync")
{
  TEST_CASE("a first sync copies, a rerun copies nothing, one changed chunk is found and copied")
  {
    Pair p("sync-basic");
    const auto f = first_three_days();
    auto r = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(r.code == ExitCode::ok);
    CHECK(r.copied == 30);
    CHECK(r.failed == 0);
    CHECK(r.lag_before.missing == 30);
    CHECK(r.lag_after.missing == 0);
    CHECK(r.bytes > 0);
    check_synced(p, f);

    auto again = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(again.code == ExitCode::ok);
    CHECK(again.copied == 0);
    CHECK(again.skipped == 30);
    CHECK(again.lag_before.missing + again.lag_before.differing + again.lag_before.extra == 0);
    CHECK(chunks_written(again).empty());

    const std::string key = "Level1/20200602/3/Snapshot";
    change_on_a(p.a, key, std::chrono::seconds(100));
    auto dry = options(f);
    dry.write.dry_run = true;
    auto seen = sync::sync_round(p.a_ctx(), p.b, dry);
    CHECK(seen.lag_before.differing == 1);
    CHECK(seen.lag_before.missing == 0);
    CHECK(seen.lag_before.seconds >= 100);
    CHECK(seen.lag_before.seconds < 100000);
    CHECK(seen.copied == 1);
    CHECK(chunks_written(seen).empty());

    auto one = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(one.code == ExitCode::ok);
    CHECK(chunks_written(one) == std::vector<std::string>{key});
    CHECK(one.lag_after.differing == 0);
    check_synced(p, f);

    // --checksum agrees that nothing differs now.
    auto sums = options(f);
    sums.checksum = true;
    auto checked = sync::sync_round(p.a_ctx(), p.b, sums);
    CHECK(checked.copied == 0);
    CHECK(checked.skipped == 30);
  }

  TEST_CASE("a source chunk changed while it is read is read again; B keeps no torn copy")
  {
    Pair p("sync-torn");
    FilterOptions f;
    f.chunks = {"Level1/20200601/5/Snapshot"};
    bool changed = false;
    set_fault_hook([&](const char* point) {
      if (!changed && std::string(point) == "mid_copy") {
        changed = true;
        change_on_a(p.a, f.chunks[0], std::chrono::seconds(10));
      }
    });
    auto r = sync::sync_round(p.a_ctx(), p.b, options(f));
    set_fault_hook({});
    CHECK(changed);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.run);
    REQUIRE(r.run->exec);
    REQUIRE(r.run->exec->tasks.size() == 1);
    CHECK(r.run->exec->tasks[0].attempts == 2);
    check_synced(p, f);  // the new content, on both replicas
    auto again = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(again.copied == 0);
  }

  TEST_CASE("--delete removes exactly the chunks A lost, never past --max-delete or an emptied "
            "source volume")
  {
    Pair p("sync-delete");
    const auto f = first_three_days();
    REQUIRE(sync::sync_round(p.a_ctx(), p.b, options(f)).code == ExitCode::ok);
    const std::vector<std::string> lost = {"Level1/20200601/0/Snapshot",
                                           "Level1/20200603/9/Snapshot"};
    auto drop_on_a = [&](const std::string& key) {
      for (const auto& n : p.a.topo->nodes) {
        fs::remove_all(fs::path(n.volumes[0]) / key);
      }
    };
    for (const auto& k : lost) {
      drop_on_a(k);
    }
    auto del = options(f);
    del.del = true;
    auto r = sync::sync_round(p.a_ctx(), p.b, del);
    CHECK(r.code == ExitCode::ok);
    CHECK(r.deleted == 2);
    CHECK(r.lag_before.extra == 2);
    CHECK(r.lag_after.extra == 0);
    check_synced(p, f);
    CHECK(p.b_inventory().chunk(lost[0]) == nullptr);

    // 5 more lost, --max-delete 4: refused, nothing removed.
    for (int h = 0; h < 5; ++h) {
      drop_on_a("Level1/20200602/" + std::to_string(h) + "/Snapshot");
    }
    auto capped = del;
    capped.max_delete = "4";
    CHECK_THROWS_WITH_AS(sync::sync_round(p.a_ctx(), p.b, capped),
                         doctest::Contains("more than --max-delete 4"), Error);
    CHECK(p.b_inventory().chunks.size() == 28);

    // An emptied source volume (an unmounted disk): refused even under --max-delete 100%.
    const fs::path vol = p.a.volume("P1-dn1");
    fs::rename(vol, vol.string() + ".away");
    fs::create_directory(vol);
    auto all = del;
    all.max_delete = "100%";
    CHECK_THROWS_WITH_AS(sync::sync_round(p.a_ctx(), p.b, all),
                         doctest::Contains("holds none of the"), Error);
    CHECK(p.b_inventory().chunks.size() == 28);
  }

  TEST_CASE("the binary: --json document, --dry-run writes nothing, --max-delete is refused")
  {
    Pair p("sync-cli");
    const std::string filters = "--db Level1 --where 'date<=2020.06.03' ";
    std::string out;
    REQUIRE(test::run_clsync(p.args() + filters + "--dry-run --json", &out) == 0);
    auto dry = nlohmann::json::parse(out);
    CHECK(dry["lag_before"]["missing"] == 30);
    CHECK(dry["copied"] == 30);
    CHECK(p.b_inventory().chunks.empty());
    CHECK(!fs::exists(p.b.state_dir / "demo-b" / "sync-demo-a.json"));

    out.clear();
    REQUIRE(test::run_clsync(p.args() + filters + "--json", &out) == 0);
    auto j = nlohmann::json::parse(out);
    for (const char* k : {"copied", "skipped", "deleted", "failed", "bytes", "lag_before",
                          "lag_after", "seconds", "mb_per_s"}) {
      CHECK_MESSAGE(j.contains(k), k);
    }
    CHECK(j["copied"] == 30);
    CHECK(j["lag_after"]["missing"] == 0);
    check_synced(p, first_three_days());

    // 20 of the 30 chunks lost on A: --delete refuses past the default 50% (exit 1).
    for (const auto& n : p.a.topo->nodes) {
      for (const char* date : {"20200601", "20200602"}) {
        fs::remove_all(fs::path(n.volumes[0]) / "Level1" / date);
      }
    }
    out.clear();
    CHECK(test::run_clsync(p.args() + filters + "--delete --json", &out) == 1);
    CHECK(nlohmann::json::parse(out)["error"].get<std::string>().find("--max-delete") !=
          std::string::npos);
    CHECK(p.b_inventory().chunks.size() == 30);
  }
}
