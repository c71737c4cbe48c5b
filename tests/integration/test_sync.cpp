// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Online sync (suite `sync`): the demo's cluster A copied into its empty cluster B by
// sync_round (in process) and by the clsync binary, on local nodes and behind loopback sshd.
// What B holds is checked from outside clsync: file bytes, types, modes, owners and mtimes.
#include "core/cluster/filter.hpp"
#include "core/fault.hpp"
#include "core/sync/sync_online.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/integration/restore_fixture.hpp"
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
    std::string line = p.lexically_relative(root).string() + ' ' + std::to_string(st.st_mode) + ' ' +
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
      a_trees.insert(tree(fs::path(std::string(r.volume)) / c.key));
    }
    const Chunk* bc = b_inv.chunk(c.key);
    REQUIRE_MESSAGE(bc, c.key);
    std::set<std::string> nodes;
    for (const auto& r : bc->replicas) {
      nodes.insert(r.node);
      CHECK_MESSAGE(a_trees.count(tree(fs::path(std::string(r.volume)) / c.key)) == 1,
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

/// One demo copy for the whole suite (copying it is most of a case's time): each case selects
/// chunks no other case touches.
Pair& shared()
{
  static Pair p("sync");
  return p;
}

FilterOptions where(const std::string& db, std::vector<std::string> conditions)
{
  FilterOptions f;
  f.dbs = {db};
  f.where = std::move(conditions);
  return f;
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
  TEST_CASE("a source chunk changed while it is read is read again; B keeps no torn copy")
  {
    Pair& p = shared();
    FilterOptions f;
    f.chunks = {"Level1/20200605/5/Snapshot"};
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

  TEST_CASE("a first sync copies, a rerun copies nothing, one changed chunk is found and copied")
  {
    Pair& p = shared();
    const auto f = test::first_three_days();
    auto r = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(r.code == ExitCode::ok);
    CHECK(r.copied == 30);
    CHECK(r.failed == 0);
    CHECK(r.lag_before.missing == 30);
    CHECK(r.lag_after.missing == 0);
    CHECK(r.bytes > 0);
    check_synced(p, f);

    // A round that copies nothing leaves the state file as it was (no rewrite, no fsyncs): a
    // rewrite replaces it by rename, so its inode would change.
    const fs::path state_file = p.b.state_dir / "demo-b" / "sync-demo-a.json";
    struct stat before {};
    REQUIRE(::stat(state_file.c_str(), &before) == 0);
    auto again = sync::sync_round(p.a_ctx(), p.b, options(f));
    CHECK(again.code == ExitCode::ok);
    CHECK(again.copied == 0);
    CHECK(again.skipped == 30);
    CHECK(again.lag_before.missing + again.lag_before.differing + again.lag_before.extra == 0);
    CHECK(chunks_written(again).empty());
    struct stat after {};
    REQUIRE(::stat(state_file.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);

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

  TEST_CASE("--delete removes exactly the chunks A lost, never past --max-delete or an emptied "
            "source volume")
  {
    Pair& p = shared();
    const auto f = where("Level1", {"date>=2020.06.07"});
    REQUIRE(sync::sync_round(p.a_ctx(), p.b, options(f)).code == ExitCode::ok);
    const std::vector<std::string> lost = {"Level1/20200607/0/Snapshot",
                                           "Level1/20200608/9/Snapshot"};
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
      drop_on_a("Level1/20200609/" + std::to_string(h) + "/Snapshot");
    }
    auto capped = del;
    capped.max_delete = "4";
    const auto before_refusal = p.b_inventory().chunks.size();
    CHECK_THROWS_WITH_AS(sync::sync_round(p.a_ctx(), p.b, capped),
                         doctest::Contains("more than --max-delete 4"), Error);
    CHECK(p.b_inventory().chunks.size() == before_refusal);
    auto selected_on_b = [&] {
      ChunkFilter fb(f, *p.b_topo);
      auto inv = p.b_inventory();
      return std::count_if(inv.chunks.begin(), inv.chunks.end(),
                           [&](const Chunk& c) { return fb.matches(c); });
    };
    const auto before = selected_on_b();
    CHECK(before >= 28);
    CHECK(selected_on_b() == before);

    // An emptied source volume (an unmounted disk): refused even under --max-delete 100%.
    const fs::path vol = p.a.volume("P1-dn1");
    fs::rename(vol, vol.string() + ".away");
    fs::create_directory(vol);
    auto all = del;
    all.max_delete = "100%";
    CHECK_THROWS_WITH_AS(sync::sync_round(p.a_ctx(), p.b, all),
                         doctest::Contains("holds none of the"), Error);
    CHECK(selected_on_b() == before);
    fs::remove_all(vol);
    fs::rename(vol.string() + ".away", vol);
  }

  TEST_CASE("--db with --delete: B's chunks of a database A's scan skips are left alone")
  {
    // A round scans only the databases of A its filter can select (ScanSpec::skip_databases).
    // B's chunks of the others must stay out of the comparison, so out of --delete's reach.
    Pair p("sync-other-db");
    REQUIRE(sync::sync_round(p.a_ctx(), p.b, options(where("Level1_TSDB", {"date<=2020.06.02"})))
                .code == ExitCode::ok);
    auto on_b = [&](const std::string& db) {
      auto inv = p.b_inventory();
      return std::count_if(inv.chunks.begin(), inv.chunks.end(),
                           [&](const Chunk& c) { return c.db == db; });
    };
    const auto tsdb_on_b = on_b("Level1_TSDB");
    REQUIRE(tsdb_on_b == 20);
    auto del = options(where("Level1", {"date<=2020.06.01"}));
    del.del = true;
    del.max_delete = "100%";
    const auto r = sync::sync_round(p.a_ctx(), p.b, del);
    CHECK(r.code == ExitCode::ok);
    CHECK(r.deleted == 0);
    CHECK(r.lag_before.extra == 0);
    CHECK(on_b("Level1") == 10);
    CHECK(on_b("Level1_TSDB") == tsdb_on_b);
  }

  TEST_CASE("the binary: --json document, --dry-run writes nothing, --max-delete is refused")
  {
    Pair& p = shared();
    const auto f = where("Level1_TSDB", {"date<=2020.06.03"});
    const std::string filters = "--db Level1_TSDB --where 'date<=2020.06.03' ";
    const fs::path state = p.b.state_dir / "demo-b" / "sync-demo-a.json";
    const std::string state_before = fs::exists(state) ? test::read_file(state) : "";
    auto on_b = [&] {
      ChunkFilter fb(f, *p.b_topo);
      auto inv = p.b_inventory();
      return std::count_if(inv.chunks.begin(), inv.chunks.end(),
                           [&](const Chunk& c) { return fb.matches(c); });
    };
    std::string out;
    REQUIRE(test::run_clsync(p.args() + filters + "--dry-run --json", &out) == 0);
    auto dry = nlohmann::json::parse(out);
    CHECK(dry["lag_before"]["missing"] == 30);
    CHECK(dry["copied"] == 30);
    CHECK(on_b() == 0);
    CHECK((fs::exists(state) ? test::read_file(state) : "") == state_before);

    out.clear();
    REQUIRE(test::run_clsync(p.args() + filters + "--json", &out) == 0);
    auto j = nlohmann::json::parse(out);
    for (const char* k : {"copied", "skipped", "deleted", "failed", "bytes", "lag_before",
                          "lag_after", "seconds", "mb_per_s"}) {
      CHECK_MESSAGE(j.contains(k), k);
    }
    CHECK(j["copied"] == 30);
    CHECK(j["lag_after"]["missing"] == 0);
    check_synced(p, f);

    // 20 of the 30 chunks lost on A: --delete refuses past the default 50% (exit 1).
    for (const auto& n : p.a.topo->nodes) {
      for (const char* date : {"20200601", "20200602"}) {
        fs::remove_all(fs::path(n.volumes[0]) / "Level1_TSDB" / date);
      }
    }
    out.clear();
    CHECK(test::run_clsync(p.args() + filters + "--delete --json", &out) == 1);
    CHECK(nlohmann::json::parse(out)["error"].get<std::string>().find("--max-delete") !=
          std::string::npos);
    CHECK(on_b() == 30);
  }

  TEST_CASE("over sshd: A and B behind sshd; B3's sshd killed mid-run fails only its chunks "
            "(exit 3), the next round completes")
  {
    Pair& p = shared();
    test::SshdHarness sshd(6, "sync-ssh");
    auto ssh_yaml = [&](const Topology& t, int first, const fs::path& file) {
      std::string y = "cluster: " + t.cluster + "\nreplication: 2\nssh:\n  user: root\n" +
                      "  identity: " + sshd.client_key().string() + "\n  known_hosts: " +
                      sshd.known_hosts().string() + "\n  agent_command: " CLSYNC_BINARY "\n" +
                      "  connect_timeout: 5\n  io_timeout: 30\nnodes:\n";
      for (std::size_t i = 0; i < t.nodes.size(); ++i) {
        const auto& h = sshd.host(first + static_cast<int>(i));
        y += "  - name: " + t.nodes[i].name + "\n    host: " + h.address + "\n    port: " +
             std::to_string(h.port) + "\n    volumes: [\"" + t.nodes[i].volumes[0] + "\"]\n";
      }
      y += "databases:\n  Level1:\n    levels: [date, hash]\n"
           "  Level1_TSDB:\n    levels: [date, hash]\n";
      test::write_file(file, y);
    };
    const fs::path a_yaml = p.a.dir / "a-ssh.yaml", b_yaml = p.a.dir / "b-ssh.yaml";
    ssh_yaml(*p.a.topo, 0, a_yaml);
    ssh_yaml(*p.b_topo, 3, b_yaml);
    const auto f = where("Level1_TSDB", {"date>=2020.06.05", "date<=2020.06.06"});
    const std::string cmd = "--state-dir '" + p.b.state_dir.string() + "' sync-online --from '" +
                            a_yaml.string() + "' --to '" + b_yaml.string() +
                            "' --db Level1_TSDB --where 'date>=2020.06.05' --where "
                            "'date<=2020.06.06' --retries 1 --json";
    const fs::path gate = test::scratch_dir("sync-ssh-gate");
    std::string out;
    int rc = -1;
    std::thread run([&] {
      rc = test::run_clsync(cmd, &out, "CLSYNC_TEST_PAUSE_AT=mid_copy:'" + gate.string() + "'");
    });
    for (int i = 0; i < 2400 && !fs::exists(gate / "mid_copy.reached"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const bool paused = fs::exists(gate / "mid_copy.reached");
    sshd.stop(5);  // B3
    test::write_file(gate / "mid_copy.go", "");
    run.join();
    REQUIRE(paused);
    CHECK(rc == 3);
    auto j = nlohmann::json::parse(out, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), out);
    CHECK(j["failed"].get<int>() > 0);
    CHECK(j["copied"].get<int>() > 0);
    for (const auto& e : j["errors"]) {
      CHECK_MESSAGE(e.get<std::string>().find("B3") != std::string::npos, e.get<std::string>());
    }

    sshd.start(5);
    out.clear();
    CHECK(test::run_clsync(cmd, &out) == 0);
    auto k = nlohmann::json::parse(out, nullptr, false);
    REQUIRE_MESSAGE(k.is_object(), out);
    CHECK(k["lag_after"]["missing"] == 0);
    CHECK(k["lag_after"]["differing"] == 0);
    check_synced(p, f);
  }
}
